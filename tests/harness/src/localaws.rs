//! Local AWS for tests: a fresh moto + stagecraft emulator pair per [`LocalAws`].
//!
//! ```no_run
//! use stagecraft_testkit::localaws::LocalAws;
//! let aws = LocalAws::start()?;
//! // Point an SDK or terraform at it:
//! let env = aws.env(); // AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...
//! aws.inject_fault(&serde_json::json!({
//!     "service": "apprunner", "operation": "CreateService",
//!     "action": "error", "code": "InternalServiceErrorException", "status": 500, "count": 1
//! }))?;
//! let calls = aws.calls()?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! `start` runs `localaws/setup.sh` once per process (the script itself takes a file lock, so
//! concurrent test processes are fine), then starts `localaws/run_moto.py` and
//! `localaws/emulator.py` from the venv, each in its own process group, on ports they bind
//! themselves (no port race), with their logs in a temp dir. Both are started with
//! `--exit-with-parent`, so they also go away if the test process dies without running `Drop`.
//! `Drop` terminates both process groups and waits for them.

use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a server may take to print `READY <port>` (moto imports a lot on a cold cache).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `Drop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One request the emulator saw (served by it or forwarded to moto), from `GET /_emulator/calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// SigV4 signing name from the credential scope (`apprunner`, `ecs`, `secretsmanager`, `rds`,
    /// `sts`, `monitoring` for CloudWatch, …), or `unknown` for unsigned calls.
    pub service: String,
    /// From `X-Amz-Target`, the `Action` parameter, or the rpc-v2-cbor path; `None` for REST
    /// protocols (S3).
    pub operation: Option<String>,
    /// HTTP status sent back; `None` while in flight or when no response was sent (a `hang`).
    pub status: Option<u16>,
    /// The fault action applied to this call (`error`, `hang`, `delay`), if any.
    #[serde(default)]
    pub fault: Option<String>,
    /// Served by the emulator itself (App Runner, ECS Express) rather than forwarded to moto.
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    /// Seconds from request to response; `None` while in flight.
    #[serde(default)]
    pub duration: Option<f64>,
}

/// The repository root (`tests/harness/../..`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The venv `localaws/setup.sh` creates: `$STAGECRAFT_VENV` (relative to the repo root when
/// relative) or `<repo>/target/localaws-venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("STAGECRAFT_VENV").filter(|v| !v.is_empty()) {
        Some(v) => repo_root().join(PathBuf::from(v)),
        None => repo_root().join("target/localaws-venv"),
    }
}

/// Runs `localaws/setup.sh` once per process; returns the venv's python.
pub fn ensure_setup() -> Result<PathBuf> {
    static SETUP: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    SETUP
        .get_or_init(|| run_setup().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("{e}"))
}

fn run_setup() -> Result<PathBuf> {
    let root = repo_root();
    let venv = venv_dir();
    let out = Command::new("bash")
        .arg(root.join("localaws/setup.sh"))
        .env("STAGECRAFT_VENV", &venv)
        .stdin(Stdio::null())
        .output()
        .context("running localaws/setup.sh")?;
    if !out.status.success() {
        bail!(
            "localaws/setup.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let python = venv.join("bin/python");
    if !python.exists() {
        bail!(
            "localaws/setup.sh succeeded but {} does not exist",
            python.display()
        );
    }
    Ok(python)
}

/// A running moto + emulator pair, private to its owner. Dropping it stops both.
pub struct LocalAws {
    // Declared before `dir` so the processes stop before their log directory goes away.
    emulator: Option<Child>,
    moto: Option<Child>,
    emulator_port: u16,
    moto_port: u16,
    endpoint_url: String,
    moto_url: String,
    agent: ureq::Agent,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for LocalAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAws")
            .field("endpoint_url", &self.endpoint_url)
            .field("moto_url", &self.moto_url)
            .field("log_dir", &self.dir.path())
            .finish()
    }
}

impl LocalAws {
    /// Sets up the venv (once per process), starts a fresh moto and emulator on free loopback
    /// ports and waits until the emulator answers and reaches moto.
    pub fn start() -> Result<LocalAws> {
        let python = ensure_setup()?;
        let root = repo_root();
        let dir = tempfile::Builder::new()
            .prefix("stagecraft-localaws-")
            .tempdir()
            .context("creating the local AWS log dir")?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut aws = LocalAws {
            emulator: None,
            moto: None,
            emulator_port: 0,
            moto_port: 0,
            endpoint_url: String::new(),
            moto_url: String::new(),
            agent,
            dir,
        };
        // On any error below, dropping `aws` stops what was started.
        let (moto, moto_port) = aws.spawn(
            "moto",
            Command::new(&python)
                .arg(root.join("localaws/run_moto.py"))
                .args(["--host", "127.0.0.1", "--port", "0", "--exit-with-parent"]),
        )?;
        aws.moto = Some(moto);
        aws.moto_port = moto_port;
        aws.moto_url = format!("http://127.0.0.1:{moto_port}");

        let moto_url = aws.moto_url.clone();
        let (emulator, port) = aws.spawn(
            "emulator",
            Command::new(&python)
                .arg(root.join("localaws/emulator.py"))
                .args(["--host", "127.0.0.1", "--port", "0", "--exit-with-parent"])
                .args(["--moto-url", &moto_url]),
        )?;
        aws.emulator = Some(emulator);
        aws.emulator_port = port;
        aws.endpoint_url = format!("http://127.0.0.1:{port}");

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match aws.health() {
                Ok(h) if h["moto"] == "up" => break,
                Ok(h) if Instant::now() > deadline => {
                    bail!("emulator says moto is not up: {h}\n{}", aws.logs())
                }
                Err(e) if Instant::now() > deadline => {
                    bail!("emulator health check failed: {e:#}\n{}", aws.logs())
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Ok(aws)
    }

    /// Starts one server in its own process group, stdout/stderr to files in the log dir, and
    /// waits for its `READY <port>` line.
    fn spawn(&self, name: &str, cmd: &mut Command) -> Result<(Child, u16)> {
        let out_path = self.dir.path().join(format!("{name}.out"));
        let log_path = self.dir.path().join(format!("{name}.log"));
        let out = fs::File::create(&out_path)?;
        let log = fs::File::create(&log_path)?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let text = fs::read_to_string(&out_path).unwrap_or_default();
            if let Some(port) = text.lines().find_map(|l| {
                l.strip_prefix("READY ")
                    .and_then(|p| p.trim().parse::<u16>().ok())
            }) {
                return Ok((child, port));
            }
            let failure = match child.try_wait() {
                Ok(Some(status)) => Some(format!("{name} exited during startup ({status})")),
                Ok(None) if Instant::now() > deadline => {
                    Some(format!("{name} not ready after {STARTUP_TIMEOUT:?}"))
                }
                Ok(None) => None,
                Err(e) => Some(format!("waiting for {name}: {e}")),
            };
            if let Some(failure) = failure {
                stop_child(&mut child);
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                bail!("{failure}; {}:\n{}", log_path.display(), tail(&log, 60));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:<emulator port>`: the one endpoint for every AWS service.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// `http://127.0.0.1:<moto port>`: moto itself, bypassing the emulator (and its faults and
    /// call log).
    pub fn moto_url(&self) -> &str {
        &self.moto_url
    }

    pub fn emulator_port(&self) -> u16 {
        self.emulator_port
    }

    pub fn moto_port(&self) -> u16 {
        self.moto_port
    }

    /// Environment for SDKs, terraform and the provider: `AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID=testing`, `AWS_SECRET_ACCESS_KEY=testing`, `AWS_REGION=us-east-1`,
    /// `AWS_DEFAULT_REGION=us-east-1`, `AWS_EC2_METADATA_DISABLED=true`, `STAGECRAFT_MOTO_URL`.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint_url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("STAGECRAFT_MOTO_URL", self.moto_url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Where `moto.log` and `emulator.log` (their stderr, with access logs) are written.
    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of both logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["moto", "emulator"] {
            let path = self.dir.path().join(format!("{name}.log"));
            let text = fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!(
                "--- {} (tail)\n{}\n",
                path.display(),
                tail(&text, 40)
            ));
        }
        out
    }

    /// `GET /_emulator/health`: `{"status": "ok", "moto": "up"|"down", "moto_url", "services"}`.
    pub fn health(&self) -> Result<Value> {
        self.control("GET", "health", None)
    }

    /// `POST /_emulator/faults`. Fields: `service` (signing name or `*`), `operation` (or `*`),
    /// `action` (`error` | `hang` | `delay`, and for App Runner's asynchronous operations `fail` | `stall`), `code`, `message`, `status`, `seconds`, `count`
    /// (null = forever). Returns the stored fault, with its `id`.
    pub fn inject_fault(&self, fault: &Value) -> Result<Value> {
        self.control("POST", "faults", Some(fault))
    }

    /// `GET /_emulator/faults`: the active faults (used-up ones are gone, except `stall` faults,
    /// which stay listed until deleted because deleting one releases its operation).
    pub fn faults(&self) -> Result<Vec<Value>> {
        Ok(serde_json::from_value(
            self.control("GET", "faults", None)?,
        )?)
    }

    /// `DELETE /_emulator/faults/<id>`.
    pub fn remove_fault(&self, id: u64) -> Result<()> {
        self.control("DELETE", &format!("faults/{id}"), None)
            .map(drop)
    }

    /// `DELETE /_emulator/faults`.
    pub fn clear_faults(&self) -> Result<()> {
        self.control("DELETE", "faults", None).map(drop)
    }

    /// `GET /_emulator/calls`: every call since start (or the last clear), oldest first.
    pub fn calls(&self) -> Result<Vec<Call>> {
        Ok(serde_json::from_value(self.control("GET", "calls", None)?)?)
    }

    /// `DELETE /_emulator/calls`.
    pub fn clear_calls(&self) -> Result<()> {
        self.control("DELETE", "calls", None).map(drop)
    }

    /// `POST /_emulator/reset`: clears faults, the call log, the emulator's state and moto's.
    pub fn reset(&self) -> Result<()> {
        self.control("POST", "reset", None).map(drop)
    }

    /// An SDK configuration that talks to this local AWS (us-east-1, test credentials), for
    /// tests that create or inspect AWS objects directly.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint_url())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "localaws",
            ))
            .load()
            .await
    }

    /// Any other control endpoint, e.g. `("POST", "config", {"apprunner_delay": 0.1})` or
    /// `("GET", "apprunner/services", None)`.
    pub fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}/_emulator/{path}", self.endpoint_url);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(serde_json::to_vec(body)?),
            ("POST", None) => self.agent.post(&url).send_empty(),
            _ => bail!("unsupported control method {method}"),
        };
        let mut resp = result.with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        if !(200..300).contains(&status) {
            bail!("{method} {url}: HTTP {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url}: not JSON: {text}"))
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "local AWS at {} (logs in {}):\n{}",
                self.endpoint_url,
                self.dir.path().display(),
                self.logs()
            );
        }
        for child in [self.emulator.as_mut(), self.moto.as_mut()]
            .into_iter()
            .flatten()
        {
            stop_child(child);
        }
    }
}

/// SIGTERM to the child's process group, SIGKILL after `STOP_TIMEOUT`, then reap it. The group
/// is signalled only while its leader is unreaped, so its id cannot belong to anyone else.
fn stop_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_is_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}
