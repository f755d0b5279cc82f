//! The sanitized copy engine behind `staging_sanitized_db_sync`: copies a production
//! PostgreSQL or MySQL/MariaDB database into staging, rewriting PII on the way. No Terraform
//! in here; the resource drives it.
//!
//! - [`inspect`]: read-only look at the source: tables, columns, keys, sequences, and the plan
//!   (what happens to each column), with columns that look like PII and have no rule.
//! - [`run`]: consistent read-only snapshot of the source → schema replicated into a shadow
//!   schema/database on the target → data streamed and transformed in Rust, tables in parallel →
//!   constraints, sequences → verification on the shadow → one atomic swap; the previous target
//!   data is kept as a backup.
//! - [`restore_backup`]: swaps a backup back in.
//!
//! Safety properties, and where they are enforced:
//! - The source is only read: read-only session and transaction (`pg::open_snapshot`,
//!   `mysql::open_snapshot`); a role with SELECT only is enough.
//! - Source ≠ target by server identity, not host name ([`ServerIdentity`]).
//! - The live target data is only touched by the swap, which is one transaction (PostgreSQL
//!   schema renames) or one statement (MySQL `RENAME TABLE`); a run that fails or is killed
//!   before it leaves the target as it was, at worst with a stale shadow the next run drops.
//! - Credentials never appear in errors or reports ([`redact_url`]).

pub mod report;
pub mod rules;
pub mod schema;

mod copyfmt;
mod mysql;
mod pg;
mod tls;

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use report::{Check, CheckKind, SyncReport, TableReport, Verification};
pub use rules::{HashKey, Preset, Rule, RuleSet, Transform};
pub use schema::{ColumnPlan, PiiFinding, SourceSchema, TableSchema};

/// Database engine, from the URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// `postgres://` / `postgresql://`
    Postgres,
    /// `mysql://` / `mariadb://` (MySQL 8 and MariaDB 10.x)
    Mysql,
}

impl Engine {
    pub fn from_url(url: &str) -> Result<Engine, SyncError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("postgres") | Some("postgresql") => Ok(Engine::Postgres),
            Some("mysql") | Some("mariadb") => Ok(Engine::Mysql),
            _ => Err(SyncError::UnsupportedUrl(redact_url(url))),
        }
    }
}

/// What to do when a column looks like PII and has no rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiPolicy {
    /// Refuse to run ([`SyncError::UnsanitizedPii`]).
    #[default]
    Error,
    /// Copy the column unchanged and list it in the report's warnings.
    Warn,
}

/// Progress events, for callers that show progress (and for tests that interrupt a run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The source snapshot is open and the shadow is about to be created.
    Started { tables: usize },
    /// One table's data is committed in the shadow.
    TableLoaded { table: String, rows: u64 },
    /// Constraints, sequences and verification are done; the swap is next.
    Verified,
    /// The swap committed.
    Swapped { backup: Option<String> },
}

/// Knobs for [`run`] and [`inspect`]. `Default` is what the resource uses unless told.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// PostgreSQL schema to sync (the same name on both sides). Default `public`. Ignored for
    /// MySQL, where the database in each URL is the unit.
    pub schema: Option<String>,
    /// Only these tables get data (all when `None`); the others are created empty.
    pub tables: Option<Vec<String>>,
    /// These tables are created empty.
    pub exclude_tables: Vec<String>,
    /// Tables copied at once (each uses one source and one target connection). Default 2.
    pub parallelism: usize,
    /// Backups kept on the target after a successful run (older ones are dropped). Default 1;
    /// 0 drops the previous data right after verification.
    pub backup_retention: usize,
    pub unsanitized_pii: PiiPolicy,
    /// Rows sampled per text column for value-based PII detection. Default 200.
    pub pii_sample_rows: usize,
    /// Source values remembered per sanitized column for the leak probe; beyond this the probe
    /// checks a uniform sample of that size. Default 1,000,000 (8 bytes each).
    pub leak_probe_limit: usize,
    /// MySQL: rows per multi-row INSERT when `LOAD DATA LOCAL` is not available. Default 1000.
    pub mysql_batch_rows: usize,
    /// MySQL: stream with `LOAD DATA LOCAL INFILE` when the server allows it. Default true.
    pub mysql_load_data: bool,
    /// Longest wait for the locks the swap needs (readers holding table locks). Default 30 s.
    pub swap_lock_timeout: Duration,
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            schema: None,
            tables: None,
            exclude_tables: Vec::new(),
            parallelism: 2,
            backup_retention: 1,
            unsanitized_pii: PiiPolicy::Error,
            pii_sample_rows: 200,
            leak_probe_limit: 1_000_000,
            mysql_batch_rows: 1000,
            mysql_load_data: true,
            swap_lock_timeout: Duration::from_secs(30),
            progress: None,
        }
    }
}

impl SyncOptions {
    pub(crate) fn pg_schema(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    pub(crate) fn is_excluded(&self, table: &str) -> bool {
        self.exclude_tables.iter().any(|t| t == table)
            || self
                .tables
                .as_ref()
                .is_some_and(|only| !only.iter().any(|t| t == table))
    }

    pub(crate) fn emit(&self, p: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(p);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("invalid sync rules: {0}")]
    InvalidRules(String),
    #[error("unsupported connection URL {0}: expected postgres://, postgresql://, mysql:// or mariadb://")]
    UnsupportedUrl(String),
    #[error("source is {source_engine:?} but target is {target_engine:?}")]
    EngineMismatch {
        source_engine: Engine,
        target_engine: Engine,
    },
    #[error("refusing to sync: the target is the source database ({0}); a sync never writes to its source")]
    SameDatabase(String),
    #[error("{} column(s) look like PII and have no rule: {}", .0.len(), .0.iter().map(|f| format!("{}.{} ({})", f.table, f.column, f.reason)).collect::<Vec<_>>().join(", "))]
    UnsanitizedPii(Vec<PiiFinding>),
    #[error("{context}: {message}")]
    Database { context: String, message: String },
    #[error("verification failed, target left unchanged: {}", .0.verification.failures().iter().map(|c| format!("{:?} {} {}: {}", c.kind, c.table, c.subject, c.detail)).collect::<Vec<_>>().join("; "))]
    Verification(Box<SyncReport>),
    #[error("another sync is running against this target (lock {0} is held)")]
    Busy(String),
    #[error("backup {0:?} not found on the target")]
    BackupNotFound(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// The identity two connections are compared by: the same `server` and `database` means the
/// same data, whatever host name, port or proxy was used to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIdentity {
    /// PostgreSQL: `pg_control_system().system_identifier`; MySQL: `@@server_uuid` (MariaDB:
    /// `@@server_uid`).
    pub server: String,
    pub database: String,
}

/// Replace the password of a connection URL (and any `password=` parameter) with `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            let host = &authority[at + 1..];
            let user = userinfo.split_once(':').map(|(u, _)| u).unwrap_or(userinfo);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            out = format!("{scheme}://{masked}@{host}{tail}");
        }
    }
    // key=value parameters (URL query or libpq keyword form)
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let (head, after) = rest.split_at(i + "password=".len());
        result.push_str(head);
        result.push_str("***");
        let end = after.find(['&', ' ', ';']).unwrap_or(after.len());
        rest = &after[end..];
    }
    result.push_str(rest);
    result
}

/// Remove secrets a driver might echo back (passwords from the URLs) from a message.
pub(crate) fn scrub(message: &str, urls: &[&str]) -> String {
    let mut m = message.to_string();
    for url in urls {
        if let Some(pw) = password_of(url) {
            if pw.len() >= 3 {
                m = m.replace(&pw, "***");
            }
        }
    }
    m
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let pw = authority[..at].split_once(':')?.1;
    Some(percent_decode(pw))
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// `YYYYMMDDTHHMMSS` (UTC) for backup names; sorts chronologically.
pub(crate) fn stamp() -> String {
    let s = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    s.chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect()
}

/// Look at the source (read-only) and plan every column. Connects with the source role only.
pub async fn inspect(
    source_url: &str,
    rules: &RuleSet,
    options: &SyncOptions,
) -> Result<SourceSchema, SyncError> {
    rules.validate()?;
    match Engine::from_url(source_url)? {
        Engine::Postgres => pg::inspect(source_url, rules, options).await,
        Engine::Mysql => mysql::inspect(source_url, rules, options).await,
    }
}

/// The server identity behind a URL (what [`run`] compares).
pub async fn server_identity(url: &str) -> Result<ServerIdentity, SyncError> {
    match Engine::from_url(url)? {
        Engine::Postgres => pg::identity_of(url).await,
        Engine::Mysql => mysql::identity_of(url).await,
    }
}

/// Copy `source_url` into `target_url`, sanitized by `rules`. On success the target holds the
/// new data and the report names the backup of what it held before. On any error the live
/// target data is unchanged.
pub async fn run(
    source_url: &str,
    target_url: &str,
    rules: &RuleSet,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    rules.validate()?;
    let se = Engine::from_url(source_url)?;
    let te = Engine::from_url(target_url)?;
    if se != te {
        return Err(SyncError::EngineMismatch {
            source_engine: se,
            target_engine: te,
        });
    }
    match se {
        Engine::Postgres => pg::run(source_url, target_url, rules, options).await,
        Engine::Mysql => mysql::run(source_url, target_url, rules, options).await,
    }
}

/// Put a backup (the `backup` of an earlier [`SyncReport`]) back in place of the live data, in
/// one atomic swap. The data it replaces becomes a backup itself; its name is returned.
pub async fn restore_backup(
    target_url: &str,
    backup: &str,
    options: &SyncOptions,
) -> Result<String, SyncError> {
    match Engine::from_url(target_url)? {
        Engine::Postgres => pg::restore_backup(target_url, backup, options).await,
        Engine::Mysql => mysql::restore_backup(target_url, backup, options).await,
    }
}

/// Backups present on the target, oldest first.
pub async fn list_backups(
    target_url: &str,
    options: &SyncOptions,
) -> Result<Vec<String>, SyncError> {
    match Engine::from_url(target_url)? {
        Engine::Postgres => pg::list_backups(target_url, options).await,
        Engine::Mysql => mysql::list_backups(target_url).await,
    }
}

/// Shadow and backup names derive from the live name; both engines cap identifiers at 64
/// (MySQL) / 63 (PostgreSQL) bytes.
pub(crate) const SHADOW_SUFFIX: &str = "__sds_new";
pub(crate) const BACKUP_INFIX: &str = "__sds_bak_";

pub(crate) fn check_name_len(name: &str, max: usize) -> Result<(), SyncError> {
    if name.len() > max {
        return Err(SyncError::Unsupported(format!(
            "the derived name {name:?} is longer than {max} bytes; use a shorter schema/database name"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://app:s3cr3t@db.example.com:5432/prod?sslmode=require"),
            "postgres://app:***@db.example.com:5432/prod?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@localhost/db"),
            "mysql://root@localhost/db"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=abc&x=1"),
            "postgres://u@h/db?password=***&x=1"
        );
        assert_eq!(
            redact_url("postgres://u:p%40ss@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            scrub("auth failed for p@ss", &["postgres://u:p%40ss@h/db"]),
            "auth failed for ***"
        );
        assert_eq!(
            Engine::from_url("postgresql://x").unwrap(),
            Engine::Postgres
        );
        assert_eq!(Engine::from_url("mariadb://x").unwrap(), Engine::Mysql);
        assert!(Engine::from_url("sqlite://x").is_err());
        assert_eq!(stamp().len(), 15);
    }
}
