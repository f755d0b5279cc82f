//! Sync engine benchmark (PostgreSQL): a deterministic chat-app dataset, then in one process
//! and against one server:
//!   1. raw binary COPY pipe, table by table, same parallelism, order and COPY options as the
//!      sync (the data-phase baseline: no transform, no constraints),
//!   2. `pg_dump | psql` of the whole database (the end-to-end baseline),
//!   3. the sync with the seeds' rules (`default_pii`; shrinks message bodies),
//!   4. the sync with size-preserving rules only (hash-shaped tokens/phones/emails).
//!
//! Then the same dataset in MariaDB: the sync vs `mariadb-dump | mariadb` into a fresh
//! database (SYNC_BENCH_MYSQL=0 skips it; SYNC_BENCH_PG=0 skips PostgreSQL).
//!
//! Prints rows/s, MB/s, peak RSS and the ratios: times are medians of SYNC_BENCH_ROUNDS rounds
//! (default 5); each ratio is the median of the rounds' own ratios, with each round's beside
//! it. A round's ratio sets a sync against the mean of each baseline's runs on either side of
//! it: the data phase against the raw pipe's runs just before and just after it, the whole
//! sync against the `pg_dump | psql` runs that end the round before and its own. One warm-up
//! round runs first and is not counted (its dump is the first round's "before"). Every timed
//! run starts on a server at rest (PostgreSQL: checkpointed, no autovacuum; MariaDB: buffer
//! pool flushed; both: files written back), so that none pays for the one before it.
//! Also the CPU-seconds of this process and of the whole machine per run (and for the sync's
//! data phase), and each table's copy time beside the raw pipe's: where the time goes, not
//! only how much. Not a test: nothing is asserted.
//!
//!   cargo bench -p terraform-provider-staging --bench sync   (`make bench-sync`)
//!   SYNC_BENCH_USERS=20000 cargo bench ... (≈100 MB; default 200000: 4.6 M rows, ≈860 MB)
//!   SYNC_BENCH_PARALLELISM=2 (default 2)
//!   SYNC_BENCH_PG_SETTINGS="log_min_messages=log log_min_duration_statement=0 ..." (extra
//!     settings for the benchmark's PostgreSQL server, e.g. to log every statement's time)

use std::process::Command;
use std::time::{Duration, Instant};

use futures::{pin_mut, SinkExt, StreamExt};
use stagecraft_testkit::databases::{MariaDb, Postgres, ADMIN_USER, PG_BIN};
use terraform_provider_staging::sync::{self, PiiPolicy, RuleSet, SyncOptions, Transform};

/// The dataset's tables, biggest first (the order the raw pipe copies them in, as the sync does).
const TABLES: [&str; 4] = ["messages", "events", "sessions", "users"];

/// `gen.sql` from the research notes, in spirit: no random(), so every run is byte-identical.
fn dataset(n: u64) -> String {
    format!(
        r#"
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, phone text,
  first_name text, last_name text, api_token text UNIQUE, password_hash text, avatar_url text,
  is_admin boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL, updated_at timestamptz);
CREATE TABLE messages (id bigint PRIMARY KEY, sender_id bigint NOT NULL REFERENCES users(id),
  recipient_id bigint REFERENCES users(id), body text NOT NULL, media_url text, created_at timestamptz NOT NULL);
CREATE INDEX ON messages (sender_id);
CREATE TABLE sessions (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
  token text NOT NULL UNIQUE, ip inet, user_agent text, expires_at timestamptz);
CREATE TABLE events (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
  kind text NOT NULL, amount numeric(12,2), created_at timestamptz NOT NULL);
INSERT INTO users SELECT i, 'user' || i || '@corp-example.org', '+1 415 555 ' || lpad((i % 10000)::text, 4, '0'),
  'First' || (i % 997), 'Last' || (i % 1009), md5(i::text) || md5((i + 1)::text), '$2b$10$' || md5(i::text),
  CASE WHEN i % 3 = 0 THEN 'https://cdn.example.net/a/' || i || '.png' END, i % 50 = 0,
  timestamptz '2024-01-01' + i * interval '1 second', timestamptz '2024-06-01' + i * interval '1 second'
  FROM generate_series(1, {n}) i;
INSERT INTO messages SELECT i, i % {n} + 1, (i * 7) % {n} + 1,
  repeat('message body ' || md5(i::text) || ' ', 1 + i % 4),
  CASE WHEN i % 4 = 0 THEN 'https://media.example.net/m/' || i || '.jpg' END,
  timestamptz '2024-02-01' + i * interval '1 second'
  FROM generate_series(1, {n} * 10) i;
INSERT INTO sessions SELECT i, i % {n} + 1, md5(i || 'a') || md5(i || 'b'),
  ('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || i % 256)::inet,
  'Mozilla/5.0 agent ' || (i % 100), timestamptz '2025-01-01' + i * interval '1 minute'
  FROM generate_series(1, {n} * 2) i;
INSERT INTO events SELECT i, i % {n} + 1, (ARRAY['login','purchase','logout'])[i % 3 + 1],
  (i % 10000) / 100.0, timestamptz '2024-03-01' + i * interval '1 second'
  FROM generate_series(1, {n} * 10) i;
ANALYZE;
"#
    )
}

/// How many times each measurement is taken (`SYNC_BENCH_ROUNDS`, default 5); the figures are
/// medians, and the rounds interleave the sync and its baselines so that drift on a shared
/// machine hits both alike. Five, not three: with three, one slow round (this machine's speed
/// drifts by up to 40% within minutes) moved a median ratio by as much as the distance to its
/// goal.
fn rounds() -> usize {
    std::env::var("SYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median of per-round ratios, then each round's in the order they ran (a drift shows as
/// a trend, one disturbed round as an outlier): each round runs the sync next to its
/// baselines, so drift on a shared machine (it is large here) hits both sides of a ratio.
fn paired(ratios: Vec<f64>) -> String {
    let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let m = median(ratios);
    if each.len() == 1 {
        format!("{m:.2}")
    } else {
        format!("{m:.2} (rounds {})", each.join(" "))
    }
}

/// The data phase of a run, in seconds.
fn data_s(r: &sync::SyncReport) -> f64 {
    r.phases
        .iter()
        .find(|p| p.name == "data")
        .map(|p| p.ms)
        .unwrap_or(0) as f64
        / 1000.0
}

/// The run with the median whole duration (for its phase breakdown).
fn median_run(runs: &[sync::SyncReport]) -> &sync::SyncReport {
    let mut by: Vec<&sync::SyncReport> = runs.iter().collect();
    by.sort_by_key(|r| r.duration_ms);
    by[by.len() / 2]
}

fn phases(r: &sync::SyncReport) -> String {
    r.phases
        .iter()
        .map(|p| format!("{} {:.2}s", p.name, p.ms as f64 / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU seconds used so far: (this process, user + system, all threads; the whole machine, busy
/// time of every core from /proc/stat). Differences of these show whose work a run was.
fn cpu_s() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let own = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    };
    let machine = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<f64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
            (f.len() >= 8).then(|| (f.iter().take(8).sum::<f64>() - f[3] - f[4]) / 100.0)
        })
        .unwrap_or(f64::NAN);
    (own, machine)
}

fn cpu_since(start: (f64, f64)) -> (f64, f64) {
    let now = cpu_s();
    (now.0 - start.0, now.1 - start.1)
}

/// One rule set's syncs, with the CPU (this process, machine) of each one's data phase and of
/// the whole run.
struct SyncRuns {
    name: &'static str,
    rules: RuleSet,
    reports: Vec<sync::SyncReport>,
    /// Per round, the mean of the raw pipe's runs just before and just after this sync: drift
    /// of the machine's speed within a round hits the baseline as it hits the sync.
    raw_around: Vec<f64>,
    /// Per round, the mean of the `pg_dump | psql` runs that end the round before (for the
    /// first, the warm-up round) and this one, for the same reason.
    dump_around: Vec<f64>,
    cpu_data: Vec<(f64, f64)>,
    cpu_whole: Vec<(f64, f64)>,
}

/// A sync, with the CPU it used up to the landing of its last table (its data phase) and in
/// all.
fn measured_sync(
    rt: &tokio::runtime::Runtime,
    pg: &Postgres,
    urls: (&str, &str),
    rules: &RuleSet,
    opts: &SyncOptions,
) -> (sync::SyncReport, (f64, f64), (f64, f64)) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = SyncOptions {
        progress: Some(tx),
        ..opts.clone()
    };
    quiesce(pg);
    let start = cpu_s();
    let watcher = rt.spawn(async move {
        let (mut landed, mut at) = (0, None);
        while let Some(p) = rx.recv().await {
            if let sync::Progress::TableLoaded { .. } = p {
                landed += 1;
                if landed == TABLES.len() {
                    at = Some(cpu_since(start));
                }
            }
        }
        at
    });
    let report = rt
        .block_on(sync::run(urls.0, urls.1, rules, &opts))
        .unwrap();
    let whole = cpu_since(start);
    drop(opts);
    let data = rt.block_on(watcher).unwrap().unwrap_or(whole);
    (report, data, whole)
}

/// A `Vm…:` line of /proc/self/status, in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// Restarts the peak above (Linux: writing 5 to clear_refs resets VmHWM to the current RSS),
/// so that each sync's peak is its own and not that of a baseline run before it in the same
/// process. The allocator first hands back what earlier runs freed: otherwise the reset starts
/// from their leftovers. Returns the RSS the sync starts from.
fn reset_peak_rss() -> f64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_mb("VmRSS:")
}

/// Makes the kernel write every dirty file page to disk now (sync(2)), rather than while the
/// next run is being timed.
fn write_back() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Brings the server to rest before a measured run, so that no run pays for the one before
/// it: a checkpoint writes out what the last run left dirty in shared buffers, and `sync`
/// makes the kernel write back the files and WAL it wrote (about 2 GB per run here), which
/// would otherwise go to disk while the next run is being timed. Autovacuum is off on this
/// server for the same reason (see `main`).
fn quiesce(pg: &Postgres) {
    pg.psql("postgres", "CHECKPOINT").unwrap();
    write_back();
}

/// Before the counted rounds, one round of everything that is run but not counted: the first
/// run of each kind paid for what later ones found ready (the target's first schema and
/// catalog caches, memory the allocator and the kernel had to hand out for the first time);
/// in MariaDB, the first round's ratio was off by 0.1 from the others'.
const WARM_UP: &str = "one warm-up round first, not counted";

/// [`quiesce`] for MariaDB: InnoDB writes back what the last run left dirty in its buffer pool
/// (the page cleaner would otherwise do it during the next run), then the kernel its files.
fn quiesce_mysql(my: &MariaDb) {
    my.sql("SET GLOBAL innodb_max_dirty_pages_pct = 0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dirty: u64 = my
            .sql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            .unwrap()
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // A few pages stay dirty on a server at rest (statistics, purge): 100 is 1.6 MB.
        if dirty < 100 {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("warning: MariaDB still had {dirty} dirty pages after 60 s; timing anyway");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    my.sql("SET GLOBAL innodb_max_dirty_pages_pct = DEFAULT")
        .unwrap();
    write_back();
}

fn drop_db(pg: &Postgres, db: &str) {
    pg.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    )
    .unwrap();
}

fn reset_db(pg: &Postgres, db: &str) {
    drop_db(pg, db);
    pg.create_database(db).unwrap();
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// Raw binary COPY of every table into bare tables, done the way the sync loads: tables in
/// parallel, biggest first, each COPY ... FREEZE in the transaction that empties its table
/// (so that the ratio measures the transform, not a cheaper kind of COPY).
/// The raw pipe's time, and each table's (name, seconds) as it went.
async fn raw_copy(pg: &Postgres, parallelism: usize) -> (Duration, Vec<(String, f64)>) {
    reset_db(pg, "rawcopy");
    let schema = Command::new(format!("{PG_BIN}/pg_dump"))
        .args(["-s", "-x", "-O", "--section=pre-data", "-h"])
        .arg(pg.socket_dir())
        .args(["-p", &pg.port().to_string(), "-U", ADMIN_USER, "prod"])
        .output()
        .unwrap();
    pg.psql_script("rawcopy", &String::from_utf8_lossy(&schema.stdout))
        .unwrap();
    quiesce(pg);
    let t0 = Instant::now();
    let by_size = std::collections::VecDeque::from(TABLES);
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(by_size));
    let per_table = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..parallelism {
        let queue = queue.clone();
        let per_table = per_table.clone();
        let (su, tu) = (pg.admin_url("prod"), pg.admin_url("rawcopy"));
        tasks.push(tokio::spawn(async move {
            let (src, tgt) = (client(&su).await, client(&tu).await);
            loop {
                let Some(t) = queue.lock().await.pop_front() else {
                    break;
                };
                let started = Instant::now();
                tgt.batch_execute(&format!("BEGIN; TRUNCATE {t}"))
                    .await
                    .unwrap();
                let sink = tgt
                    .copy_in::<_, bytes::Bytes>(&format!(
                        "COPY {t} FROM STDIN (FORMAT binary, FREEZE)"
                    ))
                    .await
                    .unwrap();
                let stream = src
                    .copy_out(&format!("COPY {t} TO STDOUT (FORMAT binary)"))
                    .await
                    .unwrap();
                pin_mut!(sink);
                pin_mut!(stream);
                while let Some(chunk) = stream.next().await {
                    sink.feed(chunk.unwrap()).await.unwrap();
                }
                sink.finish().await.unwrap();
                tgt.batch_execute("COMMIT").await.unwrap();
                let took = started.elapsed().as_secs_f64();
                per_table.lock().unwrap().push((t.to_string(), took));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = t0.elapsed();
    drop_db(pg, "rawcopy");
    let per_table = std::mem::take(&mut *per_table.lock().unwrap());
    (took, per_table)
}

/// The raw pipe's runs: seconds, per-table seconds and CPU (this process, machine) of each.
#[derive(Default)]
struct RawRuns {
    took: Vec<f64>,
    tables: Vec<Vec<(String, f64)>>,
    cpu: Vec<(f64, f64)>,
}

impl RawRuns {
    /// One more run; returns its seconds.
    fn run(&mut self, rt: &tokio::runtime::Runtime, pg: &Postgres, parallelism: usize) -> f64 {
        let c = cpu_s();
        let (took, tables) = rt.block_on(raw_copy(pg, parallelism));
        self.took.push(took.as_secs_f64());
        self.tables.push(tables);
        self.cpu.push(cpu_since(c));
        took.as_secs_f64()
    }
}

/// A baseline that runs once per round, after the round's syncs: each round's syncs are set
/// against the mean of the run that ended the round before and the one that ends their own.
#[derive(Default)]
struct Bracket {
    last: Option<f64>,
}

impl Bracket {
    /// The baseline's next run took `secs`; returns the mean for the round it ends (`None` for
    /// the first run: nothing came before it).
    fn next(&mut self, secs: f64) -> Option<f64> {
        let around = self.last.map(|before| (before + secs) / 2.0);
        self.last = Some(secs);
        around
    }
}

/// "name s, ..." of the tables in `names` order, each a median over the runs.
fn per_table(names: &[&str], runs: &[Vec<(String, f64)>]) -> String {
    names
        .iter()
        .map(|n| {
            let v = runs
                .iter()
                .filter_map(|r| r.iter().find(|(t, _)| t == n).map(|(_, s)| *s))
                .collect();
            format!("{n} {:.2}s", median(v))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn dump_restore(pg: &Postgres) -> Duration {
    reset_db(pg, "dumped");
    quiesce(pg);
    let t0 = Instant::now();
    let sh = format!(
        "{b}/pg_dump -h {d} -p {p} -U {u} prod | {b}/psql -X -q -h {d} -p {p} -U {u} dumped >/dev/null",
        b = PG_BIN,
        d = pg.socket_dir().display(),
        p = pg.port(),
        u = ADMIN_USER
    );
    let st = Command::new("bash")
        .args(["-o", "pipefail", "-c", &sh])
        .status()
        .unwrap();
    assert!(st.success());
    let took = t0.elapsed();
    drop_db(pg, "dumped");
    took
}

fn size_preserving_rules() -> RuleSet {
    // Outputs as long as the inputs (hash keeps shape/length; emails become fixed-length
    // u_<16 hex>@example.com, close to the source's length), nothing NULLed or shortened.
    let mut r = RuleSet::new().with_hash_key(b"bench-key".to_vec());
    for (t, c) in [
        ("users", "email"),
        ("users", "phone"),
        ("users", "api_token"),
        ("users", "password_hash"),
        ("sessions", "token"),
    ] {
        r = r.with_rule(t, c, Transform::Hash);
    }
    for (t, c) in [
        ("users", "first_name"),
        ("users", "last_name"),
        ("users", "avatar_url"),
        ("messages", "body"),
        ("messages", "media_url"),
        ("sessions", "ip"),
    ] {
        r = r.with_rule(t, c, Transform::Keep);
    }
    r
}

/// The PostgreSQL dataset's shape in MariaDB (sequence engine instead of generate_series).
fn mysql_dataset(n: u64) -> String {
    format!(
        r#"
CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, phone VARCHAR(32),
  first_name VARCHAR(64), last_name VARCHAR(64), api_token CHAR(64) UNIQUE, password_hash VARCHAR(64),
  avatar_url VARCHAR(255), is_admin BOOLEAN NOT NULL DEFAULT false, created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6)) ENGINE=InnoDB;
CREATE TABLE messages (id BIGINT PRIMARY KEY, sender_id BIGINT NOT NULL, recipient_id BIGINT,
  body TEXT NOT NULL, media_url VARCHAR(255), created_at DATETIME(6) NOT NULL, KEY (sender_id),
  FOREIGN KEY (sender_id) REFERENCES users(id), FOREIGN KEY (recipient_id) REFERENCES users(id)) ENGINE=InnoDB;
CREATE TABLE sessions (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, token CHAR(64) NOT NULL UNIQUE,
  ip VARCHAR(45), user_agent VARCHAR(255), expires_at DATETIME(6),
  FOREIGN KEY (user_id) REFERENCES users(id)) ENGINE=InnoDB;
CREATE TABLE events (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, kind VARCHAR(16) NOT NULL,
  amount DECIMAL(12,2), created_at DATETIME(6) NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users(id)) ENGINE=InnoDB;
INSERT INTO users SELECT seq, CONCAT('user', seq, '@corp-example.org'),
  CONCAT('+1 415 555 ', LPAD(seq % 10000, 4, '0')), CONCAT('First', seq % 997), CONCAT('Last', seq % 1009),
  CONCAT(MD5(seq), MD5(seq + 1)), CONCAT('$2b$10$', MD5(seq)),
  IF(seq % 3 = 0, CONCAT('https://cdn.example.net/a/', seq, '.png'), NULL), seq % 50 = 0,
  TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, TIMESTAMP '2024-06-01 00:00:00' + INTERVAL seq SECOND
  FROM seq_1_to_{n};
INSERT INTO messages SELECT seq, seq % {n} + 1, (seq * 7) % {n} + 1,
  REPEAT(CONCAT('message body ', MD5(seq), ' '), 1 + seq % 4),
  IF(seq % 4 = 0, CONCAT('https://media.example.net/m/', seq, '.jpg'), NULL),
  TIMESTAMP '2024-02-01 00:00:00' + INTERVAL seq SECOND
  FROM seq_1_to_{m};
INSERT INTO sessions SELECT seq, seq % {n} + 1, CONCAT(MD5(CONCAT(seq, 'a')), MD5(CONCAT(seq, 'b'))),
  CONCAT('10.', (seq DIV 65536) % 256, '.', (seq DIV 256) % 256, '.', seq % 256),
  CONCAT('Mozilla/5.0 agent ', seq % 100), TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq MINUTE
  FROM seq_1_to_{s};
INSERT INTO events SELECT seq, seq % {n} + 1, ELT(seq % 3 + 1, 'login', 'purchase', 'logout'),
  (seq % 10000) / 100.0, TIMESTAMP '2024-03-01 00:00:00' + INTERVAL seq SECOND
  FROM seq_1_to_{m};
ANALYZE TABLE users, messages, sessions, events;
"#,
        m = n * 10,
        s = n * 2
    )
}

/// Sync vs `mariadb-dump | mariadb` into a fresh database, same server, same run.
fn mysql_bench(rt: &tokio::runtime::Runtime, users: u64, parallelism: usize) {
    let my = MariaDb::start().unwrap();
    my.sql("CREATE DATABASE prod; CREATE DATABASE staging;")
        .unwrap();
    let t = Instant::now();
    my.sql_in("prod", &mysql_dataset(users)).unwrap();
    println!(
        "mysql dataset: {users} users, {} rows (generated in {:.1} s)",
        users * 23,
        t.elapsed().as_secs_f64()
    );
    let opts = SyncOptions {
        parallelism,
        unsanitized_pii: PiiPolicy::Warn,
        ..SyncOptions::default()
    };
    let pii = RuleSet::default_pii().with_hash_key(b"bench-key".to_vec());
    let sock = my.socket();
    let (mut runs, mut dumps) = (vec![], vec![]);
    let (mut dump_around, mut bracket) = (vec![], Bracket::default());
    let (mut rss, mut start_rss): (f64, f64) = (0.0, 0.0);
    for round in 0..=rounds() {
        start_rss = start_rss.max(reset_peak_rss());
        quiesce_mysql(&my);
        runs.push(
            rt.block_on(sync::run(
                &my.admin_url("prod"),
                &my.admin_url("staging"),
                &pii,
                &opts,
            ))
            .unwrap(),
        );
        rss = rss.max(peak_rss_mb());
        my.sql("DROP DATABASE IF EXISTS dumped; CREATE DATABASE dumped;")
            .unwrap();
        quiesce_mysql(&my);
        let t0 = Instant::now();
        let sh = format!(
            "mariadb-dump --no-defaults --socket={s} -uroot --single-transaction prod | \
             mariadb --no-defaults --socket={s} -uroot dumped",
            s = sock.display()
        );
        let st = Command::new("bash")
            .args(["-o", "pipefail", "-c", &sh])
            .status()
            .unwrap();
        assert!(st.success());
        let dump = t0.elapsed().as_secs_f64();
        dumps.push(dump);
        dump_around.extend(bracket.next(dump));
        my.sql("DROP DATABASE dumped").unwrap();
        if round == 0 {
            // The warm-up round (see `WARM_UP`): run, not counted.
            runs.clear();
            dumps.clear();
        }
    }
    let dump = median(dumps.clone());
    let whole = median(runs.iter().map(|r| r.duration_ms as f64 / 1000.0).collect());
    let data = median(runs.iter().map(data_s).collect());
    println!(
        "mariadb-dump | mariadb:          {dump:7.2} s (median of {}; {WARM_UP})",
        runs.len()
    );
    let ratios = runs
        .iter()
        .zip(&dump_around)
        .map(|(r, d)| r.duration_ms as f64 / 1000.0 / d)
        .collect();
    println!(
        "mysql sync default_pii data {data:6.2} s ({:>9.0} rows/s, {:6.1} MB/s read), whole {whole:6.2} s; whole sync / mariadb-dump|mariadb: {} (goal <= 0.67)",
        runs[0].rows_copied as f64 / data,
        runs[0].bytes_read as f64 / 1e6 / data,
        paired(ratios)
    );
    println!(
        "    peak RSS of this process during the syncs: {rss:.1} MB (goal <= 64 MB; {start_rss:.1} MB resident at the start)"
    );
    println!("    phases (median run): {}", phases(median_run(&runs)));
}

fn main() {
    let users: u64 = std::env::var("SYNC_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let parallelism: usize = std::env::var("SYNC_BENCH_PARALLELISM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("SYNC_BENCH_PG").as_deref() != Ok("0") {
        // Autovacuum off: on this one server it would vacuum and analyze, a minute later, what
        // the previous run loaded (a restored `pg_dump` is 855 MB of unfrozen rows), in the
        // middle of whichever run comes next. Each run's own work is what is measured: the sync
        // analyzes its tables itself, and the source is vacuumed below. SYNC_BENCH_PG_SETTINGS
        // adds settings for looking into a run (logging each statement's time, say).
        let extra = std::env::var("SYNC_BENCH_PG_SETTINGS").unwrap_or_default();
        let mut settings = vec!["autovacuum=off"];
        settings.extend(extra.split_whitespace());
        let pg = Postgres::start_with(&settings).unwrap();
        pg.create_database("prod").unwrap();
        pg.create_database("staging").unwrap();
        let t = Instant::now();
        pg.psql_script("prod", &dataset(users)).unwrap();
        // Hint bits set and pages frozen now, as autovacuum has long done on a production
        // database: otherwise the first round's reads pay for it and autovacuum runs beside it.
        pg.psql("prod", "VACUUM (FREEZE, ANALYZE)").unwrap();
        let rows: u64 = users * 23;
        let size_mb: f64 = pg
            .psql("prod", "SELECT pg_database_size('prod')")
            .unwrap()
            .trim()
            .parse::<f64>()
            .unwrap()
            / 1e6;
        println!(
            "dataset: {users} users, {rows} rows, database {size_mb:.0} MB (generated in {:.1} s), parallelism {parallelism}",
            t.elapsed().as_secs_f64()
        );

        let opts = SyncOptions {
            parallelism,
            unsanitized_pii: PiiPolicy::Warn,
            ..SyncOptions::default()
        };
        let src = pg.admin_url("prod");
        let tgt = pg.admin_url("staging");
        let pii = RuleSet::default_pii().with_hash_key(b"bench-key".to_vec());
        let mut syncs = [
            ("default_pii", pii),
            ("size-preserving", size_preserving_rules()),
        ]
        .map(|(name, rules)| SyncRuns {
            name,
            rules,
            reports: vec![],
            raw_around: vec![],
            dump_around: vec![],
            cpu_data: vec![],
            cpu_whole: vec![],
        });
        let (mut raws, mut dumps) = (RawRuns::default(), vec![]);
        let mut bracket = Bracket::default();
        let mut cpu_dump = vec![];
        let (mut rss_sync, mut start_rss): (f64, f64) = (0.0, 0.0);
        for round in 0..=rounds() {
            // raw, sync, raw, sync, raw: each sync between two runs of its baseline.
            let mut before = raws.run(&rt, &pg, parallelism);
            for s in &mut syncs {
                start_rss = start_rss.max(reset_peak_rss());
                let (r, data, whole) = measured_sync(&rt, &pg, (&src, &tgt), &s.rules, &opts);
                s.reports.push(r);
                s.cpu_data.push(data);
                s.cpu_whole.push(whole);
                rss_sync = rss_sync.max(peak_rss_mb());
                let after = raws.run(&rt, &pg, parallelism);
                s.raw_around.push((before + after) / 2.0);
                before = after;
            }
            let c = cpu_s();
            let dump = dump_restore(&pg).as_secs_f64();
            cpu_dump.push(cpu_since(c));
            dumps.push(dump);
            if let Some(around) = bracket.next(dump) {
                for s in &mut syncs {
                    s.dump_around.push(around);
                }
            }
            if round == 0 {
                // The warm-up round (see `WARM_UP`): run, not counted.
                raws = RawRuns::default();
                dumps.clear();
                cpu_dump.clear();
                for s in &mut syncs {
                    s.reports.clear();
                    s.raw_around.clear();
                    s.dump_around.clear();
                    s.cpu_data.clear();
                    s.cpu_whole.clear();
                }
            }
        }
        let (cpu_raw, raw_tables, raws) = (raws.cpu, raws.tables, raws.took);
        let cpu_of = |runs: &[(f64, f64)]| {
            format!(
                "{:.1} CPU-s in this process, {:.1} CPU-s on the machine",
                median(runs.iter().map(|c| c.0).collect()),
                median(runs.iter().map(|c| c.1).collect())
            )
        };
        let (raw, dump) = (median(raws.clone()), median(dumps.clone()));
        let mb = |r: &sync::SyncReport| r.bytes_read as f64 / 1e6;
        println!(
            "medians of {} rounds ({} runs of the raw pipe: one before, between and after the syncs of each round; pg_dump | psql ends each round; {WARM_UP})",
            dumps.len(),
            raws.len()
        );
        println!(
            "raw binary COPY pipe:            {raw:7.2} s  {:>10.0} rows/s",
            rows as f64 / raw
        );
        println!("pg_dump | psql:                  {dump:7.2} s");
        println!(
            "    CPU: raw COPY pipe {}; pg_dump | psql {}",
            cpu_of(&cpu_raw),
            cpu_of(&cpu_dump)
        );
        println!(
            "    raw COPY per table: {}",
            per_table(&TABLES, &raw_tables)
        );
        for s in &syncs {
            let (name, runs) = (s.name, &s.reports);
            let d = median(runs.iter().map(data_s).collect());
            let whole = median(runs.iter().map(|r| r.duration_ms as f64 / 1000.0).collect());
            let r = &runs[0];
            println!(
                "sync {name:16} data {d:6.2} s ({:>9.0} rows/s, {:6.1} MB/s read, {:.0} MB in, {:.0} MB out), whole {whole:6.2} s",
                r.rows_copied as f64 / d,
                mb(r) / d,
                mb(r),
                r.bytes_written as f64 / 1e6
            );
            let data_ratios = runs
                .iter()
                .zip(&s.raw_around)
                .map(|(r, raw)| raw / data_s(r));
            let whole_ratios = runs
                .iter()
                .zip(&s.dump_around)
                .map(|(r, dump)| r.duration_ms as f64 / 1000.0 / dump);
            println!(
                "    data phase vs raw COPY: throughput ratio {} (goal >= 0.9); whole sync / pg_dump|psql: {} (goal <= 0.75)",
                paired(data_ratios.collect()),
                paired(whole_ratios.collect())
            );
            println!("    phases (median run): {}", phases(median_run(runs)));
            let tables: Vec<Vec<(String, f64)>> = runs
                .iter()
                .map(|r| {
                    r.tables
                        .iter()
                        .map(|t| (t.name.clone(), t.duration_ms as f64 / 1000.0))
                        .collect()
                })
                .collect();
            println!("    copy per table: {}", per_table(&TABLES, &tables));
            println!(
                "    CPU: data phase {}; whole sync {}",
                cpu_of(&s.cpu_data),
                cpu_of(&s.cpu_whole)
            );
        }
        println!(
            "peak RSS of this process during the syncs: {rss_sync:.1} MB (goal <= 64 MB; {start_rss:.1} MB resident at the start)"
        );
        drop(pg);
    }
    if std::env::var("SYNC_BENCH_MYSQL").as_deref() != Ok("0") {
        if std::env::var("SYNC_BENCH_PG").as_deref() != Ok("0") {
            // In a process of its own: what the PostgreSQL runs left resident (even after
            // malloc_trim, about 20 MB) would count toward the MySQL sync's peak RSS.
            let st = Command::new(std::env::current_exe().unwrap())
                .args(std::env::args_os().skip(1))
                .env("SYNC_BENCH_PG", "0")
                .status()
                .unwrap();
            assert!(st.success(), "the MySQL benchmark failed");
        } else {
            mysql_bench(&rt, users, parallelism);
        }
    }
}
