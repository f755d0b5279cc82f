//! Real, throwaway database servers for the sync tests: PostgreSQL 15 and MariaDB 10.11 on
//! loopback, each in its own temp dir, killed (with their whole process group) on `Drop`.
//!
//! ```no_run
//! use stagecraft_testkit::databases::{MariaDb, Postgres};
//! let pg = Postgres::start()?;
//! pg.create_database("prod")?;
//! pg.psql("prod", "CREATE TABLE t (id int)")?;
//! pg.grant_readonly("prod", "public")?;
//! let admin = pg.admin_url("prod");   // postgres://admin:...@127.0.0.1:PORT/prod
//! let reader = pg.readonly_url("prod"); // SELECT only
//! let my = MariaDb::start()?;
//! my.sql("CREATE DATABASE prod")?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Both servers refuse to run as root, so under root PostgreSQL runs as `nobody` (its temp dir is
//! chowned to it) and MariaDB runs with `--user=root` (mariadbd's explicit opt-in). Each child
//! gets `PR_SET_PDEATHSIG = SIGKILL`, so a test process that dies without running `Drop` takes
//! its servers with it. MariaDB is installed on first use by `scripts/install-mariadb.sh` when
//! `mariadbd` is missing; its system tables are created once per version under `target/` and
//! copied into each instance (mariadb-install-db takes ~4 s, a copy a fraction of that).

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Passwords are fixed: these servers live on loopback for one test.
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-pw-7d1c";
pub const READER_USER: &str = "reader";
pub const READER_PASSWORD: &str = "reader-pw-93aa";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Run as `uid:gid` (when given), in a new process group, and die with the parent.
fn child_setup(cmd: &mut Command, ids: Option<(u32, u32)>) {
    cmd.process_group(0);
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

fn stop_group(child: &mut Child, first: i32) {
    let pid = child.id() as i32;
    // SAFETY: signalling our own child's process group.
    unsafe {
        libc::kill(-pid, first);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // Backends/helpers of the group may still be exiting; make sure none stay.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let _ = child.wait();
}

fn wait_tcp(port: u16, child: &mut Child, log: &Path) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(st) = child.try_wait()? {
            bail!(
                "server exited during startup ({st}); log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "server did not listen on {port} within {STARTUP_TIMEOUT:?}; log:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn output_ok(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL 15 server on 127.0.0.1 with an admin (superuser) and a reader (login only; use
/// [`Postgres::grant_readonly`] to give it SELECT on a schema).
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Postgres {
    pub fn start() -> Result<Postgres> {
        Self::start_with(&[])
    }

    /// `settings`: extra `name=value` server settings.
    pub fn start_with(settings: &[&str]) -> Result<Postgres> {
        Self::start_inner(settings, None)
    }

    /// A server with `ssl=on`, serving `cert_pem` (the server certificate, followed by any
    /// intermediates) with the private key `key_pem`. Both are written into the server's temp
    /// dir, mode 0600 and owned by the server's user (PostgreSQL refuses a key others can read).
    /// Plain connections are still accepted (pg_hba `host` lines match both).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Result<Postgres> {
        Self::start_inner(&[], Some((cert_pem, key_pem)))
    }

    fn start_inner(settings: &[&str], tls: Option<(&str, &str)>) -> Result<Postgres> {
        let bin = Path::new(PG_BIN);
        if !bin.join("postgres").exists() {
            bail!("PostgreSQL 15 is not installed ({PG_BIN}/postgres missing): apt-get install -y postgresql-15");
        }
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-pg-")
            .tempdir()?;
        let ids = is_root().then_some((65534u32, 65534u32)); // nobody:nogroup
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        fs::write(&pwfile, ADMIN_PASSWORD)?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                ADMIN_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-N", "-E", "UTF8", "--locale=C.UTF-8"]);
        child_setup(&mut initdb, ids);
        output_ok(initdb, "initdb")?;
        let _ = fs::remove_file(&pwfile);
        let mut tls_settings = Vec::new();
        if let Some((cert, key)) = tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = dir.path().join(name);
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                f.write_all(pem.as_bytes())?;
                if let Some((uid, gid)) = ids {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
                }
            }
            tls_settings.push("ssl=on".to_string());
            tls_settings.push(format!(
                "ssl_cert_file={}",
                dir.path().join("server.crt").display()
            ));
            tls_settings.push(format!(
                "ssl_key_file={}",
                dir.path().join("server.key").display()
            ));
        }

        // A port can be taken between probing and binding; retry a few times.
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let log = dir.path().join("postgres.log");
            let logf = fs::File::create(&log)?;
            if let Some((uid, gid)) = ids {
                std::os::unix::fs::chown(&log, Some(uid), Some(gid))?;
            }
            let mut cmd = Command::new(bin.join("postgres"));
            cmd.arg("-D").arg(&data).arg("-p").arg(port.to_string());
            for s in [
                "listen_addresses=127.0.0.1".to_string(),
                format!("unix_socket_directories={}", dir.path().display()),
                // Throwaway data: durability off keeps the tests fast.
                "fsync=off".into(),
                "synchronous_commit=off".into(),
                "full_page_writes=off".into(),
                "max_connections=60".into(),
                "shared_buffers=128MB".into(),
                "max_wal_size=2GB".into(),
                "log_min_messages=warning".into(),
            ]
            .iter()
            .chain(
                settings
                    .iter()
                    .map(|s| s.to_string())
                    .chain(tls_settings.iter().cloned())
                    .collect::<Vec<_>>()
                    .iter(),
            ) {
                cmd.arg("-c").arg(s);
            }
            cmd.stdin(Stdio::null())
                .stdout(logf.try_clone()?)
                .stderr(logf);
            child_setup(&mut cmd, ids);
            let mut child = cmd.spawn().context("starting postgres")?;
            match wait_tcp(port, &mut child, &log) {
                Ok(()) => {
                    let pg = Postgres { dir, port, child };
                    pg.wait_ready()?;
                    pg.psql(
                        "postgres",
                        &format!("CREATE ROLE {READER_USER} LOGIN PASSWORD '{READER_PASSWORD}'"),
                    )?;
                    return Ok(pg);
                }
                Err(e) => {
                    stop_group(&mut child, libc::SIGKILL);
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("postgres did not start")))
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.psql("postgres", "SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, user: &str, password: &str, host: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@{host}:{}/{db}", self.port)
    }

    pub fn admin_url(&self, db: &str) -> String {
        self.url(ADMIN_USER, ADMIN_PASSWORD, "127.0.0.1", db)
    }

    pub fn readonly_url(&self, db: &str) -> String {
        self.url(READER_USER, READER_PASSWORD, "127.0.0.1", db)
    }

    /// Run SQL as the admin over the socket with `psql`; returns unaligned, tuples-only output
    /// (`|`-separated columns, one row per line).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new(Path::new(PG_BIN).join("psql"));
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", ADMIN_USER, "-d", db, "-c", sql]);
        output_ok(cmd, "psql")
    }

    /// Run a SQL script (many statements) as the admin.
    pub fn psql_script(&self, db: &str, script: &str) -> Result<String> {
        let path = self
            .dir
            .path()
            .join(format!("script-{}.sql", rand_suffix()));
        fs::write(&path, script)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        let mut cmd = Command::new(Path::new(PG_BIN).join("psql"));
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", ADMIN_USER, "-d", db, "-f"])
            .arg(&path);
        let r = output_ok(cmd, "psql script");
        let _ = fs::remove_file(&path);
        r
    }

    pub fn create_database(&self, name: &str) -> Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(())
    }

    /// SELECT on everything in `schema` of `db` (tables, views, sequences) for the reader, and
    /// nothing else.
    pub fn grant_readonly(&self, db: &str, schema: &str) -> Result<()> {
        self.psql(
            db,
            &format!(
                "GRANT CONNECT ON DATABASE \"{db}\" TO {READER_USER}; \
                 GRANT USAGE ON SCHEMA \"{schema}\" TO {READER_USER}; \
                 GRANT SELECT ON ALL TABLES IN SCHEMA \"{schema}\" TO {READER_USER}; \
                 GRANT SELECT ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO {READER_USER};"
            ),
        )?;
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; the data is thrown away anyway.
        stop_group(&mut self.child, libc::SIGQUIT);
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------------------------
// MariaDB

fn mariadbd() -> Option<PathBuf> {
    [
        "/usr/sbin/mariadbd",
        "/usr/bin/mariadbd",
        "/usr/sbin/mysqld",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn ensure_mariadb_installed() -> Result<PathBuf> {
    if let Some(p) = mariadbd() {
        return Ok(p);
    }
    let script = crate::localaws::repo_root().join("scripts/install-mariadb.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    output_ok(cmd, "scripts/install-mariadb.sh")?;
    mariadbd().ok_or_else(|| anyhow!("mariadbd still missing after scripts/install-mariadb.sh"))
}

/// The system tables, created once per MariaDB version and reused (copied) by every instance.
fn mariadb_template(server: &Path) -> Result<PathBuf> {
    let version = output_ok(
        {
            let mut c = Command::new(server);
            c.arg("--version");
            c
        },
        "mariadbd --version",
    )?;
    let tag: String = version
        .split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = crate::localaws::repo_root().join("target/harness-db");
    fs::create_dir_all(&base)?;
    let template = base.join(format!("mariadb-{tag}"));
    let lock_path = base.join(format!("mariadb-{tag}.lock"));
    let lock = fs::File::create(&lock_path)?;
    // SAFETY: flock on a file we own; released when `lock` closes.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::flock(lock.as_raw_fd(), libc::LOCK_EX);
    }
    if template.join("mysql").is_dir() {
        return Ok(template);
    }
    let tmp = base.join(format!("mariadb-{tag}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let mut cmd = Command::new("mariadb-install-db");
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", tmp.display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ]);
    if is_root() {
        cmd.arg("--user=root");
    }
    output_ok(cmd, "mariadb-install-db")?;
    fs::rename(&tmp, &template)?;
    drop(lock);
    Ok(template)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}

/// A MariaDB 10.11 server on 127.0.0.1. Users (with passwords; grant tables are on):
/// `admin` (ALL on *.* with GRANT OPTION) and `reader` (no privileges until
/// [`MariaDb::grant_readonly`]).
pub struct MariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl MariaDb {
    pub fn start() -> Result<MariaDb> {
        Self::start_inner(None)
    }

    /// A server with TLS: `cert_pem` (server certificate, then any intermediates) and its key
    /// `key_pem`, written into the server's temp dir with mode 0600. Plain connections are
    /// still accepted unless the test sets `require_secure_transport`.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Result<MariaDb> {
        Self::start_inner(Some((cert_pem, key_pem)))
    }

    fn start_inner(tls: Option<(&str, &str)>) -> Result<MariaDb> {
        let server = ensure_mariadb_installed()?;
        let template = mariadb_template(&server)?;
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-mariadb-")
            .tempdir()?;
        let data = dir.path().join("data");
        copy_dir(&template, &data)?;
        let mut tls_args = Vec::new();
        if let Some((cert, key)) = tls {
            for (name, pem, flag) in [
                ("server-cert.pem", cert, "--ssl-cert"),
                ("server-key.pem", key, "--ssl-key"),
            ] {
                let path = dir.path().join(name);
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                f.write_all(pem.as_bytes())?;
                tls_args.push(format!("{flag}={}", path.display()));
            }
        }
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let log = dir.path().join("mariadb.log");
            let mut cmd = Command::new(&server);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!(
                    "--socket={}",
                    dir.path().join("mysqld.sock").display()
                ))
                .arg(format!(
                    "--pid-file={}",
                    dir.path().join("mysqld.pid").display()
                ))
                .arg(format!("--log-error={}", log.display()))
                .args([
                    "--skip-log-bin",
                    "--skip-name-resolve",
                    "--local-infile=1",
                    "--innodb-buffer-pool-size=256M",
                    "--innodb-log-file-size=256M",
                    "--innodb-flush-log-at-trx-commit=0",
                    "--innodb-doublewrite=0",
                    "--max-allowed-packet=64M",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                    "--max-connections=100",
                ])
                .args(&tls_args);
            if is_root() {
                cmd.arg("--user=root");
            }
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            child_setup(&mut cmd, None);
            let mut child = cmd.spawn().context("starting mariadbd")?;
            match wait_tcp(port, &mut child, &log) {
                Ok(()) => {
                    let m = MariaDb { dir, port, child };
                    m.wait_ready()?;
                    let users = [ADMIN_USER, READER_USER]
                        .iter()
                        .zip([ADMIN_PASSWORD, READER_PASSWORD])
                        .flat_map(|(u, p)| {
                            ["%", "localhost"]
                                .map(|h| format!("CREATE USER '{u}'@'{h}' IDENTIFIED BY '{p}';"))
                        })
                        .collect::<String>();
                    m.sql(&format!(
                        "{users} GRANT ALL ON *.* TO '{ADMIN_USER}'@'%' WITH GRANT OPTION; \
                         GRANT ALL ON *.* TO '{ADMIN_USER}'@'localhost' WITH GRANT OPTION;"
                    ))?;
                    return Ok(m);
                }
                Err(e) => {
                    stop_group(&mut child, libc::SIGKILL);
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("mariadbd did not start")))
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.sql("SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub fn url(&self, user: &str, password: &str, host: &str, db: &str) -> String {
        // prefer_socket=false: the tests mean the host they name (mysql_async would otherwise
        // switch a 127.0.0.1 connection over to the server's socket).
        format!(
            "mysql://{user}:{password}@{host}:{}/{db}?prefer_socket=false",
            self.port
        )
    }

    pub fn admin_url(&self, db: &str) -> String {
        self.url(ADMIN_USER, ADMIN_PASSWORD, "127.0.0.1", db)
    }

    pub fn readonly_url(&self, db: &str) -> String {
        self.url(READER_USER, READER_PASSWORD, "127.0.0.1", db)
    }

    /// Run SQL as root over the socket with the `mariadb` client; tab-separated rows without
    /// headers.
    pub fn sql(&self, sql: &str) -> Result<String> {
        self.sql_in("", sql)
    }

    pub fn sql_in(&self, db: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new("mariadb");
        cmd.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args([
                "-uroot",
                "--batch",
                "--skip-column-names",
                "--default-character-set=utf8mb4",
            ]);
        if !db.is_empty() {
            cmd.arg(db);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running the mariadb client")?;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(sql.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "mariadb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// SELECT (and SHOW VIEW) on `db` for the reader, nothing else.
    pub fn grant_readonly(&self, db: &str) -> Result<()> {
        self.sql(&format!(
            "GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{READER_USER}'@'%'; \
             GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{READER_USER}'@'localhost';"
        ))?;
        Ok(())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        stop_group(&mut self.child, libc::SIGKILL);
    }
}
