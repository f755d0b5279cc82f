//! MySQL 8 / MariaDB 10.x: the database in the URL is the unit. The source is read on one
//! connection inside one consistent-snapshot, read-only transaction (MySQL cannot share a
//! snapshot between connections without `FLUSH TABLES WITH READ LOCK`, which a SELECT-only role
//! may not run); writes fan out to `parallelism` target connections, each streaming one table
//! with `LOAD DATA LOCAL INFILE` (or multi-row INSERTs where the server forbids it) into a
//! shadow database. On MariaDB 10.7+ each table loads in bulk (unique checks off, indexes
//! built sorted); a duplicate still fails the load, and verification counts duplicates anyway.
//! Each table's checks start on one more connection as soon as it lands, while later tables
//! load. The swap is one `RENAME TABLE` statement moving every live table into the backup
//! database and every shadow table into the live one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Row, SslOpts, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::copyfmt::{hash_bytes, ProbeHasher, ProbeSet};
use super::report::{Check, CheckKind, PhaseTiming, SequenceReport, SyncReport, TableReport};
use super::rules::{RuleSet, TableTransform};
use super::schema::{
    plan_columns, ColumnPlan, ColumnSchema, ForeignKey, SequenceSchema, SourceSchema, TableSchema,
    UniqueConstraint,
};
use super::{
    check_name_len, now_rfc3339, percent_decode, redact_url, scrub, stamp, Engine, PiiPolicy,
    Progress, ServerIdentity, SyncError, SyncOptions, BACKUP_INFIX, SHADOW_SUFFIX,
};

const MAX_IDENT: usize = 64;
const FLUSH_BYTES: usize = 256 * 1024;
/// Largest INSERT statement built (well under the default 16 MB max_allowed_packet).
const MAX_STATEMENT: usize = 4 * 1024 * 1024;

/// Session settings both sides agree on, so values round-trip as text: UTC for TIMESTAMP,
/// utf8mb4, and on the target no strict mode surprises beyond the source's own data and
/// explicit zero ids kept (NO_AUTO_VALUE_ON_ZERO).
const SESSION: &str = "SET NAMES utf8mb4; SET time_zone = '+00:00'; \
    SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'";

fn qi(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn ql(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    escape_sql_into(s.as_bytes(), &mut out);
    out.push('\'');
    out
}

fn escape_sql_into(b: &[u8], out: &mut String) {
    for ch in String::from_utf8_lossy(b).chars() {
        match ch {
            '\0' => out.push_str("\\0"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
}

fn my_err(context: impl Into<String>, e: mysql_async::Error) -> SyncError {
    let message = match &e {
        mysql_async::Error::Server(s) => format!("{} ({}): {}", s.code, s.state, s.message),
        other => other.to_string(),
    };
    SyncError::Database {
        context: context.into(),
        message,
    }
}

/// A load's error, told for what it most likely is, without the values a duplicate-key message
/// quotes (they may be PII).
fn load_err(context: String, e: mysql_async::Error) -> SyncError {
    let mut err = my_err(context, e);
    if let SyncError::Database { message, .. } = &mut err {
        if message.starts_with("1062 ") {
            let key = message
                .rsplit_once(" for key ")
                .map(|(_, k)| k.to_string())
                .unwrap_or_default();
            *message = format!(
                "1062 (23000): a duplicate value in unique key {key} (check the rules of its \
                 columns: a rule must give each row its own value there)"
            );
        } else if message.starts_with("1180 ") && message.contains("during COMMIT") {
            message.push_str(
                " (a bulk load reports a duplicate value in a unique key this way: check the \
                 rules of this table's unique columns)",
            );
        }
    }
    err
}

fn scrubbed(e: SyncError, urls: &[&str]) -> SyncError {
    match e {
        SyncError::Database { context, message } => SyncError::Database {
            context: scrub(&context, urls),
            message: scrub(&message, urls),
        },
        other => other,
    }
}

/// MySQL client `--ssl-mode` values, also accepted in the URL as `ssl-mode` / `ssl_mode` /
/// `sslmode` (case-insensitive), with the root file as `ssl-ca` / `ssl_ca` / `sslrootcert`.
/// mysql_async's own `require_ssl`, `verify_ca`, `verify_identity` and `built_in_roots`
/// parameters work as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MySslMode {
    Disabled,
    /// TLS when the server offers it, else plain (no certificate check).
    Preferred,
    /// TLS, no certificate check.
    Required,
    /// TLS, chain checked against `ssl-ca` (else the webpki roots), host name not checked.
    VerifyCa,
    /// TLS, chain and host name checked.
    VerifyIdentity,
}

struct MyTarget {
    opts: Opts,
    mode: Option<MySslMode>,
}

fn opts_of(url: &str) -> Result<MyTarget, SyncError> {
    let url = match url.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("mariadb") => format!("mysql://{rest}"),
        _ => url.to_string(),
    };
    let mut mode = None;
    let mut ca = None;
    let mut bad = None;
    let stripped = match url.split_once('?') {
        Some((base, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    let v = percent_decode(v);
                    match percent_decode(k).to_ascii_lowercase().as_str() {
                        "ssl-mode" | "ssl_mode" | "sslmode" => {
                            mode = match v.to_ascii_uppercase().replace('-', "_").as_str() {
                                "DISABLED" | "DISABLE" => Some(MySslMode::Disabled),
                                "PREFERRED" | "PREFER" => Some(MySslMode::Preferred),
                                "REQUIRED" | "REQUIRE" => Some(MySslMode::Required),
                                "VERIFY_CA" => Some(MySslMode::VerifyCa),
                                "VERIFY_IDENTITY" | "VERIFY_FULL" => {
                                    Some(MySslMode::VerifyIdentity)
                                }
                                _ => {
                                    bad = Some(v);
                                    None
                                }
                            };
                            false
                        }
                        "ssl-ca" | "ssl_ca" | "sslrootcert" => {
                            ca = Some(v).filter(|p| !p.is_empty());
                            false
                        }
                        _ => true,
                    }
                })
                .collect();
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
        None => url.clone(),
    };
    if let Some(v) = bad {
        return Err(SyncError::UnsupportedUrl(format!(
            "{} (ssl-mode={v:?}: expected DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)",
            redact_url(&url)
        )));
    }
    let opts = Opts::from_url(&stripped).map_err(|e| {
        SyncError::UnsupportedUrl(format!(
            "{} ({})",
            redact_url(&url),
            scrub(&e.to_string(), &[&url])
        ))
    })?;
    let ssl = match mode {
        None => opts.ssl_opts().cloned(),
        Some(MySslMode::Disabled) => None,
        Some(MySslMode::Preferred | MySslMode::Required) => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Some(MySslMode::VerifyCa) => {
            Some(SslOpts::default().with_danger_skip_domain_validation(true))
        }
        Some(MySslMode::VerifyIdentity) => Some(SslOpts::default()),
    };
    let ssl = match (ssl, ca) {
        (Some(s), Some(ca)) => Some(
            s.with_root_certs(vec![std::path::PathBuf::from(ca).into()])
                .with_disable_built_in_roots(true),
        ),
        (s, _) => s,
    };
    let opts = OptsBuilder::from_opts(opts).ssl_opts(ssl).into();
    Ok(MyTarget { opts, mode })
}

async fn connect(url: &str, what: &str) -> Result<(Conn, String), SyncError> {
    let MyTarget { opts, mode } = opts_of(url)?;
    let db = opts
        .db_name()
        .map(str::to_string)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            SyncError::UnsupportedUrl(format!(
                "{} (the URL must name a database)",
                redact_url(url)
            ))
        })?;
    let plain = (mode == Some(MySslMode::Preferred))
        .then(|| OptsBuilder::from_opts(opts.clone()).ssl_opts(None::<SslOpts>));
    let conn =
        match Conn::new(opts).await {
            // PREFERRED: the server has no TLS, so plain it is.
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if plain.is_some() => Conn::new(plain.unwrap_or_default()).await,
            other => other,
        };
    let mut c = conn.map_err(|e| {
        let mut err = my_err(format!("connecting to the {what} {}", redact_url(url)), e);
        if let (SyncError::Database { message, .. }, Some(m)) = (&mut err, mode) {
            message.push_str(&format!(" (ssl-mode {m:?})"));
        }
        err
    })?;
    c.query_drop(SESSION)
        .await
        .map_err(|e| my_err("setting up the session", e))?;
    Ok((c, db))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(f) => Some(f.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

async fn rows(c: &mut Conn, sql: &str, what: &str) -> Result<Vec<Vec<Option<String>>>, SyncError> {
    let r: Vec<Row> = c.query(sql).await.map_err(|e| my_err(what, e))?;
    Ok(r.into_iter()
        .map(|r| r.unwrap().iter().map(text).collect())
        .collect())
}

async fn exec(c: &mut Conn, sql: &str, what: &str) -> Result<(), SyncError> {
    c.query_drop(sql).await.map_err(|e| my_err(what, e))
}

// ---------------------------------------------------------------------------------------------
// Identity and snapshot

async fn identity(c: &mut Conn) -> Result<ServerIdentity, SyncError> {
    // MySQL has @@server_uuid; MariaDB has @@server_uid instead.
    let server = match c
        .query_first::<Option<String>, _>("SELECT @@server_uuid")
        .await
    {
        Ok(Some(Some(u))) if !u.is_empty() => u,
        _ => c
            .query_first::<Option<String>, _>("SELECT @@server_uid")
            .await
            .map_err(|e| my_err("reading the server identity", e))?
            .flatten()
            .ok_or_else(|| SyncError::Database {
                context: "reading the server identity".into(),
                message: "neither @@server_uuid nor @@server_uid is available".into(),
            })?,
    };
    let database: Option<String> = c
        .query_first("SELECT DATABASE()")
        .await
        .map_err(|e| my_err("reading the current database", e))?
        .flatten();
    Ok(ServerIdentity {
        server,
        database: database.unwrap_or_default(),
    })
}

pub(crate) async fn identity_of(url: &str) -> Result<ServerIdentity, SyncError> {
    let (mut c, _) = connect(url, "server")
        .await
        .map_err(|e| scrubbed(e, &[url]))?;
    identity(&mut c).await
}

async fn open_snapshot(url: &str) -> Result<(Conn, String), SyncError> {
    let (mut c, db) = connect(url, "source").await?;
    exec(
        &mut c,
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
         SET SESSION TRANSACTION READ ONLY; \
         START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        "opening the read-only source snapshot",
    )
    .await?;
    Ok((c, db))
}

// ---------------------------------------------------------------------------------------------
// Catalog

#[derive(Clone, Debug)]
struct MyCol {
    name: String,
    column_type: String,
    data_type: String,
    nullable: bool,
    default: Option<String>,
    generated: Option<String>,
    auto_increment: bool,
    max_len: Option<usize>,
}

impl MyCol {
    /// Values that are bytes, not text: hex literals on INSERT, never charset-converted.
    fn binaryish(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit"
        ) || self.is_spatial()
    }
    fn is_spatial(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "geometry"
                | "point"
                | "linestring"
                | "polygon"
                | "multipoint"
                | "multilinestring"
                | "multipolygon"
                | "geometrycollection"
        )
    }
}

#[derive(Clone, Debug)]
struct MyTable {
    name: String,
    rows: i64,
    auto_increment: Option<i64>,
    create: String,
    cols: Vec<MyCol>,
    /// index name → columns; `PRIMARY` is the key.
    unique: BTreeMap<String, Vec<String>>,
    fks: Vec<ForeignKey>,
    fk_ref_schema: HashMap<String, String>,
}

#[derive(Clone, Debug, Default)]
struct MyCatalog {
    charset: String,
    collation: String,
    tables: Vec<MyTable>,
    warnings: Vec<String>,
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

async fn read_catalog(c: &mut Conn, db: &str) -> Result<MyCatalog, SyncError> {
    let d = ql(db);
    let mut cat = MyCatalog::default();
    if let Some(r) = rows(
        c,
        &format!(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME = {d}"
        ),
        "reading the source database",
    )
    .await?
    .into_iter()
    .next()
    {
        cat.charset = s(&r[0]);
        cat.collation = s(&r[1]);
    }
    let mut by_name: BTreeMap<String, MyTable> = BTreeMap::new();
    for r in rows(
        c,
        &format!(
            "SELECT TABLE_NAME, TABLE_ROWS, AUTO_INCREMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = {d} AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME"
        ),
        "listing source tables",
    )
    .await?
    {
        let name = s(&r[0]);
        by_name.insert(
            name.clone(),
            MyTable {
                name,
                rows: r[1].as_deref().and_then(|x| x.parse().ok()).unwrap_or(-1),
                auto_increment: r[2].as_deref().and_then(|x| x.parse().ok()),
                create: String::new(),
                cols: Vec::new(),
                unique: BTreeMap::new(),
                fks: Vec::new(),
                fk_ref_schema: HashMap::new(),
            },
        );
    }
    for r in rows(
        c,
        &format!(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, \
               EXTRA, GENERATION_EXPRESSION, CHARACTER_MAXIMUM_LENGTH \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {d} \
             ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ),
        "reading source columns",
    )
    .await?
    {
        let Some(t) = by_name.get_mut(&s(&r[0])) else {
            continue;
        };
        let extra = s(&r[6]).to_ascii_uppercase();
        // MySQL 8 marks expression defaults DEFAULT_GENERATED: those are not generated columns.
        let generated = extra.contains("VIRTUAL")
            || extra.contains("STORED GENERATED")
            || extra.contains("PERSISTENT");
        let data_type = s(&r[3]).to_ascii_lowercase();
        let textual = data_type.contains("char") || data_type.contains("text");
        t.cols.push(MyCol {
            name: s(&r[1]),
            column_type: s(&r[2]),
            data_type,
            nullable: r[4].as_deref() == Some("YES"),
            default: r[5].clone(),
            generated: generated.then(|| s(&r[7])),
            auto_increment: extra.contains("AUTO_INCREMENT"),
            max_len: if textual {
                r[8].as_deref().and_then(|x| x.parse().ok())
            } else {
                None
            },
        });
    }
    for r in rows(
        c,
        &format!(
            "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = {d} AND NON_UNIQUE = 0 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        ),
        "reading source keys",
    )
    .await?
    {
        if let Some(t) = by_name.get_mut(&s(&r[0])) {
            t.unique.entry(s(&r[1])).or_default().push(s(&r[2]));
        }
    }
    for r in rows(
        c,
        &format!(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, \
               REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = {d} AND REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
        ),
        "reading source foreign keys",
    )
    .await?
    {
        let Some(t) = by_name.get_mut(&s(&r[0])) else {
            continue;
        };
        let name = s(&r[1]);
        let ref_schema = s(&r[3]);
        let ref_table = if ref_schema == db {
            s(&r[4])
        } else {
            format!("{ref_schema}.{}", s(&r[4]))
        };
        t.fk_ref_schema.insert(name.clone(), ref_schema);
        match t.fks.iter_mut().find(|f| f.name == name) {
            Some(f) => {
                f.columns.push(s(&r[2]));
                f.ref_columns.push(s(&r[5]));
            }
            None => t.fks.push(ForeignKey {
                name,
                columns: vec![s(&r[2])],
                ref_table,
                ref_columns: vec![s(&r[5])],
            }),
        }
    }
    for t in by_name.values_mut() {
        let r = rows(
            c,
            &format!("SHOW CREATE TABLE {}.{}", qi(db), qi(&t.name)),
            "reading table definitions",
        )
        .await?;
        t.create = r.first().map(|r| s(&r[1])).unwrap_or_default();
    }
    for r in rows(
        c,
        &format!(
            "SELECT CONCAT('view ', TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {d} \
             UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS \
               WHERE TRIGGER_SCHEMA = {d} \
             UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES \
               WHERE ROUTINE_SCHEMA = {d}"
        ),
        "listing unsupported source objects",
    )
    .await?
    {
        cat.warnings.push(format!(
            "{} is not replicated (target views keep resolving to the live tables by name)",
            s(&r[0])
        ));
    }
    cat.tables = by_name.into_values().collect();
    Ok(cat)
}

fn to_source_schema(cat: &MyCatalog, db: &str, opts: &SyncOptions) -> SourceSchema {
    SourceSchema {
        engine: Engine::Mysql,
        database: db.to_string(),
        schema: db.to_string(),
        tables: cat
            .tables
            .iter()
            .map(|t| TableSchema {
                name: t.name.clone(),
                columns: t
                    .cols
                    .iter()
                    .map(|c| ColumnSchema {
                        name: c.name.clone(),
                        data_type: c.column_type.clone(),
                        nullable: c.nullable,
                        default: c.default.clone(),
                        generated: c.generated.clone(),
                        auto_increment: c.auto_increment,
                        max_length: c.max_len,
                        plan: ColumnPlan::Keep,
                    })
                    .collect(),
                primary_key: t.unique.get("PRIMARY").cloned().unwrap_or_default(),
                foreign_keys: t.fks.clone(),
                uniques: t
                    .unique
                    .iter()
                    .filter(|(k, _)| k.as_str() != "PRIMARY")
                    .map(|(k, v)| UniqueConstraint {
                        name: k.clone(),
                        columns: v.clone(),
                    })
                    .collect(),
                estimated_rows: Some(t.rows),
                excluded: opts.is_excluded(&t.name),
            })
            .collect(),
        sequences: cat
            .tables
            .iter()
            .filter_map(|t| {
                let c = t.cols.iter().find(|c| c.auto_increment)?;
                Some(SequenceSchema {
                    name: format!("{}.{}", t.name, c.name),
                    owned_by: Some(format!("{}.{}", t.name, c.name)),
                    last_value: t.auto_increment.map(|v| v - 1),
                })
            })
            .collect(),
        unsanitized_pii: Vec::new(),
        warnings: cat.warnings.clone(),
    }
}

async fn inspect_on(
    c: &mut Conn,
    db: &str,
    rules: &RuleSet,
    opts: &SyncOptions,
) -> Result<(MyCatalog, SourceSchema), SyncError> {
    let cat = read_catalog(c, db).await?;
    let mut ss = to_source_schema(&cat, db, opts);
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    plan_columns(&mut ss.clone(), rules, &mut |t, col| {
        wanted
            .entry(t.to_string())
            .or_default()
            .push(col.to_string());
        Vec::new()
    });
    let mut samples: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (t, cols) in &wanted {
        if opts.pii_sample_rows == 0 {
            break;
        }
        let sel: Vec<String> = cols.iter().map(|c| qi(c)).collect();
        let r = rows(
            c,
            &format!(
                "SELECT {} FROM {}.{} LIMIT {}",
                sel.join(", "),
                qi(db),
                qi(t),
                opts.pii_sample_rows
            ),
            &format!("sampling {t}"),
        )
        .await?;
        for row in r {
            for (col, v) in cols.iter().zip(row) {
                if let Some(v) = v {
                    samples.entry((t.clone(), col.clone())).or_default().push(v);
                }
            }
        }
    }
    plan_columns(&mut ss, rules, &mut |t, col| {
        samples
            .remove(&(t.to_string(), col.to_string()))
            .unwrap_or_default()
    });
    Ok((cat, ss))
}

pub(crate) async fn inspect(
    url: &str,
    rules: &RuleSet,
    opts: &SyncOptions,
) -> Result<SourceSchema, SyncError> {
    let r = async {
        let (mut c, db) = open_snapshot(url).await?;
        let r = inspect_on(&mut c, &db, rules, opts).await;
        let _ = c.query_drop("ROLLBACK").await;
        let _ = c.disconnect().await;
        r.map(|x| x.1)
    }
    .await;
    r.map_err(|e| scrubbed(e, &[url]))
}

// ---------------------------------------------------------------------------------------------
// Run

/// Aborts spawned writer tasks if the run is dropped (a killed run must not keep loading).
struct AbortOnDrop(Vec<JoinHandle<Result<WriterDone, SyncError>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Where a writer reports its table committed, and how many leak probes the table has.
struct Landing {
    queue: Arc<CheckQueue>,
    probes: usize,
}

struct WriterDone {
    conn: Conn,
    table: usize,
    stored: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    LoadData,
    Insert,
}

struct TablePlan {
    cols: Vec<MyCol>,
    tt: TableTransform,
    method: Method,
}

pub(crate) async fn run(
    source_url: &str,
    target_url: &str,
    rules: &RuleSet,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    run_inner(source_url, target_url, rules, opts)
        .await
        .map_err(|e| scrubbed(e, &[source_url, target_url]))
}

fn phase(report: &mut SyncReport, name: &str, since: Instant) {
    report.phases.push(PhaseTiming {
        name: name.to_string(),
        ms: since.elapsed().as_millis() as u64,
    });
}

async fn run_inner(
    source_url: &str,
    target_url: &str,
    rules: &RuleSet,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let t0 = Instant::now();
    let mut report = SyncReport {
        engine: Some(Engine::Mysql),
        source: redact_url(source_url),
        target: redact_url(target_url),
        started_at: now_rfc3339(),
        ..Default::default()
    };
    let (mut src, src_db) = open_snapshot(source_url).await?;
    let (mut tgt, live) = connect(target_url, "target").await?;
    let sid = identity(&mut src).await?;
    let tid = identity(&mut tgt).await?;
    if sid == tid {
        return Err(SyncError::SameDatabase(format!(
            "server {}, database {}",
            sid.server, sid.database
        )));
    }
    let shadow = format!("{live}{SHADOW_SUFFIX}");
    check_name_len(&shadow, MAX_IDENT)?;
    check_name_len(&format!("{live}{BACKUP_INFIX}{}_99", stamp()), MAX_IDENT)?;
    let lock_name = format!("stagecraft-sync:{live}");
    let got: Option<Option<i64>> = tgt
        .query_first(format!("SELECT GET_LOCK({}, 0)", ql(&lock_name)))
        .await
        .map_err(|e| my_err("taking the target sync lock", e))?;
    if got.flatten() != Some(1) {
        return Err(SyncError::Busy(lock_name));
    }

    let ts = Instant::now();
    let (cat, ss) = inspect_on(&mut src, &src_db, rules, opts).await?;
    if !ss.unsanitized_pii.is_empty() {
        match opts.unsanitized_pii {
            PiiPolicy::Error => return Err(SyncError::UnsanitizedPii(ss.unsanitized_pii)),
            PiiPolicy::Warn => report.warnings.extend(
                ss.unsanitized_pii
                    .iter()
                    .map(|f| format!("copied unsanitized: {f}")),
            ),
        }
    }
    report.warnings.extend(ss.warnings.iter().cloned());
    report.columns_sanitized = ss.sanitized_columns();
    let load_data_ok = opts.mysql_load_data
        && matches!(
            tgt.query_first::<Option<String>, _>("SELECT @@local_infile").await,
            Ok(Some(Some(ref v))) if v == "1" || v.eq_ignore_ascii_case("ON")
        );
    let mut plans = Vec::new();
    for (t, st) in cat.tables.iter().zip(&ss.tables) {
        let pairs: Vec<(&MyCol, &ColumnSchema)> = t
            .cols
            .iter()
            .zip(&st.columns)
            .filter(|(c, _)| c.generated.is_none())
            .collect();
        let spec: Vec<_> = pairs
            .iter()
            .map(|(c, sc)| (c.name.clone(), sc.plan.transform(), c.max_len))
            .collect();
        let tt = TableTransform::compile(&t.name, &spec, &st.primary_key, &rules.hash_key)?;
        let cols: Vec<MyCol> = pairs.iter().map(|(c, _)| (*c).clone()).collect();
        // BIT and spatial values cannot be written as LOAD DATA text; INSERT takes them as
        // hex literals.
        let special = cols.iter().any(|c| c.data_type == "bit" || c.is_spatial());
        plans.push(TablePlan {
            cols,
            tt,
            method: if load_data_ok && !special {
                Method::LoadData
            } else {
                Method::Insert
            },
        });
    }
    phase(&mut report, "plan", ts);

    // Shadow database.
    let ts = Instant::now();
    let stale: Option<String> = tgt
        .query_first(format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            ql(&shadow)
        ))
        .await
        .map_err(|e| my_err("looking for a stale shadow", e))?;
    if stale.is_some() {
        exec(
            &mut tgt,
            &format!("DROP DATABASE {}", qi(&shadow)),
            "dropping a stale shadow database",
        )
        .await?;
        report.stale_shadows_dropped.push(shadow.clone());
    }
    let result = load_verify_swap(
        &mut src,
        &src_db,
        target_url,
        &mut tgt,
        &live,
        &shadow,
        &cat,
        &ss,
        &plans,
        opts,
        &mut report,
        ts,
    )
    .await;
    if let Err(e) = result {
        let _ = tgt
            .query_drop(format!("DROP DATABASE IF EXISTS {}", qi(&shadow)))
            .await;
        return Err(e);
    }
    let _ = src.disconnect().await;
    let _ = tgt.disconnect().await;
    report.finished_at = now_rfc3339();
    report.duration_ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn load_verify_swap(
    src: &mut Conn,
    src_db: &str,
    target_url: &str,
    tgt: &mut Conn,
    live: &str,
    shadow: &str,
    cat: &MyCatalog,
    ss: &SourceSchema,
    plans: &[TablePlan],
    opts: &SyncOptions,
    report: &mut SyncReport,
    schema_started: Instant,
) -> Result<(), SyncError> {
    let mut ddl = format!(
        "CREATE DATABASE {}{}{}; USE {}; SET foreign_key_checks = 0;",
        qi(shadow),
        if cat.charset.is_empty() {
            String::new()
        } else {
            format!(" CHARACTER SET {}", cat.charset)
        },
        if cat.collation.is_empty() {
            String::new()
        } else {
            format!(" COLLATE {}", cat.collation)
        },
        qi(shadow)
    );
    for t in &cat.tables {
        ddl.push_str(&t.create);
        ddl.push(';');
    }
    exec(tgt, &ddl, "creating the shadow database").await?;
    exec(
        tgt,
        &format!("USE {}", qi(live)),
        "switching back to the live database",
    )
    .await?;
    phase(report, "schema", schema_started);
    opts.emit(Progress::Started {
        tables: cat.tables.len(),
    });

    // Data: one reader (the snapshot), `parallelism` writers; a table's data checks start as
    // soon as it lands, on one more connection, while later tables still load.
    let ts = Instant::now();
    let nwriters = opts.parallelism.max(1);
    let mut idle: Vec<Conn> = Vec::new();
    for _ in 0..=nwriters {
        let (mut w, _) = connect(target_url, "target").await?;
        let version: Option<String> = w
            .query_first("SELECT VERSION()")
            .await
            .map_err(|e| my_err("reading the target's version", e))?;
        let mut prep = format!("USE {}; SET foreign_key_checks = 0;", qi(shadow));
        if bulk_loads(version.as_deref().unwrap_or_default()) {
            prep.push_str(" SET unique_checks = 0;");
        }
        exec(&mut w, &prep, "preparing a target connection").await?;
        idle.push(w);
    }
    let mut checker = idle.pop().expect("one connection more than the writers");
    let hasher = ProbeHasher::default();
    let probes: Vec<OnceLock<Vec<ProbeSet>>> =
        (0..cat.tables.len()).map(|_| OnceLock::new()).collect();
    let uniques: Vec<usize> = ss.tables.iter().map(|t| t.uniques.len()).collect();
    let queue = Arc::new(CheckQueue::new(&uniques, foreign_key_refs(cat, ss)));
    let ctx = CheckContext {
        shadow,
        cat,
        ss,
        plans,
        probes: &probes,
        hasher: &hasher,
    };
    let mut results: Vec<Option<TableReport>> = vec![None; cat.tables.len()];
    let mut stored: Vec<u64> = vec![0; cat.tables.len()];
    let mut last_landed = ts;
    let loading = async {
        let mut running = AbortOnDrop(Vec::new());
        let mut order: Vec<usize> = (0..cat.tables.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(cat.tables[i].rows));
        let mut landed = |done: WriterDone, stored: &mut Vec<u64>| {
            stored[done.table] = done.stored;
            opts.emit(Progress::TableLoaded {
                table: cat.tables[done.table].name.clone(),
                rows: done.stored,
            });
            last_landed = Instant::now();
            done.conn
        };
        for &i in &order {
            let t = &cat.tables[i];
            let plan = &plans[i];
            let excluded = ss.tables[i].excluded;
            // Wait for a free writer.
            while idle.is_empty() {
                let done = wait_any(&mut running).await?;
                idle.push(landed(done, &mut stored));
            }
            let conn = idle.pop().expect("a writer is idle");
            let started = Instant::now();
            let (tx, rx) = mpsc::channel::<Bytes>(8);
            let collist: Vec<String> = plan.cols.iter().map(|c| qi(&c.name)).collect();
            let writer = tokio::spawn(write_table(
                conn,
                i,
                shadow.to_string(),
                t.name.clone(),
                collist.clone(),
                if excluded { None } else { Some(plan.method) },
                rx,
                Landing {
                    queue: queue.clone(),
                    probes: if excluded || plan.cols.is_empty() {
                        0
                    } else {
                        plan.tt.actions.iter().flatten().count()
                    },
                },
            ));
            running.0.push(writer);
            let mut tr = TableReport {
                name: t.name.clone(),
                columns_sanitized: plan
                    .cols
                    .iter()
                    .zip(&plan.tt.actions)
                    .filter(|(_, a)| a.is_some())
                    .map(|(c, _)| c.name.clone())
                    .collect(),
                method: match (excluded, plan.method) {
                    (true, _) => "schema_only",
                    (false, Method::LoadData) => "load_data",
                    (false, Method::Insert) => "insert",
                }
                .into(),
                ..Default::default()
            };
            let mut table_probes = Vec::new();
            if !excluded && !plan.cols.is_empty() {
                let (rows_read, bin, bout, p) =
                    read_table(src, src_db, t, plan, opts, &hasher, &tx, &collist).await?;
                tr.rows = rows_read;
                tr.bytes_read = bin;
                tr.bytes_written = bout;
                table_probes = p;
            }
            // Set before the channel closes: the writer lands the table (and queues its leak
            // probes) only after it has taken the last chunk.
            let _ = probes[i].set(table_probes);
            drop(tx);
            tr.duration_ms = started.elapsed().as_millis() as u64;
            results[i] = Some(tr);
        }
        // Every table has been read: the snapshot is released now, not with the run. On the
        // source, InnoDB keeps every row version the snapshot might see (purge waits, undo
        // grows) for as long as it is open; the loads, checks and swap to come do not read it.
        // Best effort: the data is read, and a connection that is gone holds nothing.
        let _ = src.query_drop("ROLLBACK").await;
        while !running.0.is_empty() {
            let done = wait_any(&mut running).await?;
            idle.push(landed(done, &mut stored));
        }
        // Every table has landed: the writers' connections join the checker.
        queue.close();
        futures::future::try_join_all(idle.iter_mut().map(|c| queue.work(c, &ctx))).await?;
        Ok::<_, SyncError>(idle)
    };
    let (writers, ()) = futures::future::try_join(loading, queue.work(&mut checker, &ctx)).await?;
    let results: Vec<TableReport> = results
        .into_iter()
        .map(|r| r.expect("every table ran"))
        .collect();
    for (i, r) in results.iter().enumerate() {
        if !ss.tables[i].excluded && stored[i] != r.rows {
            return Err(SyncError::Database {
                context: format!("loading {}", r.name),
                message: format!("read {} rows but the target stored {}", r.rows, stored[i]),
            });
        }
        report.rows_copied += r.rows;
        report.bytes_read += r.bytes_read;
        report.bytes_written += r.bytes_written;
    }
    report.tables = results.clone();
    report.phases.push(PhaseTiming {
        name: "data".into(),
        ms: last_landed.duration_since(ts).as_millis() as u64,
    });
    // The checks still running when the last table landed.
    phase(report, "verify", last_landed);
    for c in writers.into_iter().chain([checker]) {
        let _ = c.disconnect().await;
    }

    // AUTO_INCREMENT past the copied ids (and never below the source's counter).
    let ts = Instant::now();
    for t in &cat.tables {
        let Some(c) = t.cols.iter().find(|c| c.auto_increment) else {
            continue;
        };
        let max: Option<Option<i64>> = tgt
            .query_first(format!(
                "SELECT CAST(MAX({}) AS SIGNED) FROM {}.{}",
                qi(&c.name),
                qi(shadow),
                qi(&t.name)
            ))
            .await
            .map_err(|e| my_err(format!("reading the max id of {}", t.name), e))?;
        let next = max.flatten().unwrap_or(0) + 1;
        let next = next.max(t.auto_increment.unwrap_or(1));
        exec(
            tgt,
            &format!(
                "ALTER TABLE {}.{} AUTO_INCREMENT = {next}",
                qi(shadow),
                qi(&t.name)
            ),
            "setting AUTO_INCREMENT",
        )
        .await?;
        report.sequences.push(SequenceReport {
            name: format!("{}.{}", t.name, c.name),
            value: next - 1,
        });
    }
    let outcomes = std::mem::take(&mut *queue.done.lock().expect("check results"));
    record_checks(tgt, shadow, cat, &results, outcomes, report).await?;
    phase(report, "sequences", ts);
    if !report.verification.passed {
        return Err(SyncError::Verification(Box::new(report.clone())));
    }
    opts.emit(Progress::Verified);

    // Swap: one RENAME TABLE statement, atomic for readers.
    let ts = Instant::now();
    let live_tables: Vec<String> = rows(
        tgt,
        &format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
             AND TABLE_TYPE = 'BASE TABLE'",
            ql(live)
        ),
        "listing live tables",
    )
    .await?
    .into_iter()
    .filter_map(|r| r[0].clone())
    .collect();
    let backup = if live_tables.is_empty() {
        None
    } else {
        Some(new_backup_name(tgt, live).await?)
    };
    let mut renames = Vec::new();
    if let Some(b) = &backup {
        exec(
            tgt,
            &format!("CREATE DATABASE {}", qi(b)),
            "creating the backup database",
        )
        .await?;
        for t in &live_tables {
            renames.push(format!("{}.{} TO {}.{}", qi(live), qi(t), qi(b), qi(t)));
        }
    }
    for t in &cat.tables {
        renames.push(format!(
            "{}.{} TO {}.{}",
            qi(shadow),
            qi(&t.name),
            qi(live),
            qi(&t.name)
        ));
    }
    let swap = format!(
        "SET SESSION lock_wait_timeout = {}; RENAME TABLE {}",
        opts.swap_lock_timeout.as_secs().max(1),
        renames.join(", ")
    );
    if let Err(e) = tgt.query_drop(&swap).await {
        if let Some(b) = &backup {
            let _ = tgt
                .query_drop(format!("DROP DATABASE IF EXISTS {}", qi(b)))
                .await;
        }
        return Err(my_err("swapping the new data in", e));
    }
    report.backup = backup.clone();
    opts.emit(Progress::Swapped {
        backup: backup.clone(),
    });
    // The swap's outcome, from the catalog: each table is now in the live database and none
    // is left in the shadow one. (Not a row count: that is a full scan, and staging's own
    // writers may already be at work on the new tables.)
    let placed = rows(
        tgt,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA IN ({}, {})",
            ql(live),
            ql(shadow)
        ),
        "listing the swapped tables",
    )
    .await?;
    for t in &cat.tables {
        let is_in = |db: &str| {
            placed
                .iter()
                .any(|r| r[0].as_deref() == Some(db) && r[1].as_deref() == Some(&t.name))
        };
        let ok = is_in(live) && !is_in(shadow);
        report.verification.push(
            CheckKind::Swap,
            &t.name,
            "",
            ok,
            if ok {
                format!("{live}.{} is the verified table", t.name)
            } else {
                format!("{live}.{} is not the verified table", t.name)
            },
        );
    }
    let _ = tgt
        .query_drop(format!("DROP DATABASE IF EXISTS {}", qi(shadow)))
        .await;
    phase(report, "swap", ts);

    let backups = list_backups_on(tgt, live).await?;
    let excess = backups.len().saturating_sub(opts.backup_retention);
    for b in backups.iter().take(excess) {
        exec(
            tgt,
            &format!("DROP DATABASE {}", qi(b)),
            "dropping an old backup",
        )
        .await?;
        report.backups_dropped.push(b.clone());
        if report.backup.as_deref() == Some(b.as_str()) {
            report.backup = None;
        }
    }
    if !report.verification.passed {
        return Err(SyncError::Verification(Box::new(report.clone())));
    }
    Ok(())
}

async fn wait_any(running: &mut AbortOnDrop) -> Result<WriterDone, SyncError> {
    let handles = std::mem::take(&mut running.0);
    let (res, _idx, rest) = futures::future::select_all(handles).await;
    running.0 = rest;
    match res {
        Ok(r) => r,
        Err(e) => Err(SyncError::Database {
            context: "a target writer".into(),
            message: e.to_string(),
        }),
    }
}

/// Stream one table from the snapshot, transform, and hand encoded chunks to its writer.
#[allow(clippy::too_many_arguments)]
async fn read_table(
    src: &mut Conn,
    db: &str,
    t: &MyTable,
    plan: &TablePlan,
    opts: &SyncOptions,
    hasher: &ProbeHasher,
    tx: &mpsc::Sender<Bytes>,
    collist: &[String],
) -> Result<(u64, u64, u64, Vec<ProbeSet>), SyncError> {
    let ctx = |w: &str| format!("{w} {}", t.name);
    let sql = format!(
        "SELECT {} FROM {}.{}",
        collist.join(", "),
        qi(db),
        qi(&t.name)
    );
    let mut probes: Vec<ProbeSet> = plan
        .tt
        .actions
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_some())
        .map(|(i, _)| ProbeSet::new(i, opts.leak_probe_limit))
        .collect();
    let n = plan.cols.len();
    let mut results: Vec<Option<Option<String>>> = vec![None; n];
    let mut out = BytesMut::with_capacity(FLUSH_BYTES + 64 * 1024);
    let (mut rows_read, mut bin, mut bout) = (0u64, 0u64, 0u64);
    let mut batch_rows = 0usize;
    let mut result = src
        .query_iter(sql)
        .await
        .map_err(|e| my_err(ctx("reading"), e))?;
    let mut stream = result
        .stream::<Row>()
        .await
        .map_err(|e| my_err(ctx("reading"), e))?
        .ok_or_else(|| SyncError::Database {
            context: ctx("reading"),
            message: "no result set".into(),
        })?;
    let mut pending_err: Option<SyncError> = None;
    while let Some(row) = stream.next().await {
        let row = row.map_err(|e| my_err(ctx("reading"), e))?;
        let vals = row.unwrap_raw();
        rows_read += 1;
        let field = |i: usize| -> Option<&[u8]> {
            match vals.get(i) {
                Some(Some(Value::Bytes(b))) => Some(&b[..]),
                _ => None,
            }
        };
        for i in 0..n {
            if let Some(b) = field(i) {
                bin += b.len() as u64;
            }
        }
        for p in &mut probes {
            if let Some(b) = field(p.column) {
                p.add(hash_bytes(hasher, b));
            }
        }
        if !plan.tt.is_identity() {
            let mut textf = |i: usize| field(i).map(|b| String::from_utf8_lossy(b).into_owned());
            let is_null = |i: usize| field(i).is_none();
            plan.tt.eval(rows_read, &mut textf, &is_null, &mut results);
        }
        let value = |i: usize| -> Option<&[u8]> {
            match (&plan.tt.actions[i], &results[i]) {
                (Some(_), Some(Some(v))) => Some(v.as_bytes()),
                (Some(_), _) => None,
                (None, _) => field(i),
            }
        };
        match plan.method {
            Method::LoadData => {
                for i in 0..n {
                    if i > 0 {
                        out.put_u8(b'\t');
                    }
                    match value(i) {
                        None => out.put_slice(b"\\N"),
                        Some(v) => load_escape(v, &mut out),
                    }
                }
                out.put_u8(b'\n');
            }
            Method::Insert => {
                if batch_rows > 0 {
                    out.put_u8(b',');
                }
                out.put_u8(b'(');
                let mut lit = String::new();
                for i in 0..n {
                    if i > 0 {
                        lit.push(',');
                    }
                    match value(i) {
                        None => lit.push_str("NULL"),
                        Some(v) if plan.cols[i].binaryish() && plan.tt.actions[i].is_none() => {
                            lit.push_str("X'");
                            for b in v {
                                lit.push_str(&format!("{b:02x}"));
                            }
                            lit.push('\'');
                        }
                        Some(v) => {
                            lit.push('\'');
                            escape_sql_into(v, &mut lit);
                            lit.push('\'');
                        }
                    }
                }
                out.put_slice(lit.as_bytes());
                out.put_u8(b')');
                batch_rows += 1;
            }
        }
        let flush = match plan.method {
            Method::LoadData => out.len() >= FLUSH_BYTES,
            Method::Insert => {
                batch_rows >= opts.mysql_batch_rows.max(1) || out.len() >= MAX_STATEMENT
            }
        };
        if flush {
            bout += out.len() as u64;
            batch_rows = 0;
            if tx.send(out.split().freeze()).await.is_err() {
                // The writer failed; its error is reported when it is joined.
                pending_err = Some(SyncError::Database {
                    context: ctx("writing"),
                    message: "the target writer stopped".into(),
                });
                break;
            }
        }
    }
    drop(stream);
    drop(result);
    if let Some(e) = pending_err {
        return Err(e);
    }
    if !out.is_empty() {
        bout += out.len() as u64;
        let _ = tx.send(out.split().freeze()).await;
    }
    for p in &mut probes {
        p.seal();
    }
    Ok((rows_read, bin, bout, probes))
}

/// LOAD DATA's default escaping (FIELDS ESCAPED BY '\\').
fn load_escape(v: &[u8], out: &mut BytesMut) {
    for &b in v {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\t' => out.put_slice(b"\\t"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            0 => out.put_slice(b"\\0"),
            _ => out.put_u8(b),
        }
    }
}

/// One table's writer: `LOAD DATA LOCAL INFILE` fed from the channel, or the INSERT batches
/// the channel carries, in one transaction. `method == None`: schema only, nothing to load.
#[allow(clippy::too_many_arguments)]
async fn write_table(
    mut conn: Conn,
    table: usize,
    shadow: String,
    name: String,
    collist: Vec<String>,
    method: Option<Method>,
    mut rx: mpsc::Receiver<Bytes>,
    landing: Landing,
) -> Result<WriterDone, SyncError> {
    let ctx = |w: &str| format!("{w} {name}");
    let target = format!("{}.{}", qi(&shadow), qi(&name));
    let mut stored = 0u64;
    match method {
        None => while rx.recv().await.is_some() {},
        Some(Method::LoadData) => {
            // The handler future must be Sync; a mutex around the receiver makes it so.
            let slot = std::sync::Mutex::new(Some(rx));
            conn.set_infile_handler(async move {
                let rx = slot
                    .lock()
                    .map_err(|_| mysql_async::Error::Other("poisoned".into()))?
                    .take()
                    .ok_or_else(|| mysql_async::Error::Other("infile requested twice".into()))?;
                Ok(futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv()
                        .await
                        .map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
                })
                .boxed())
            });
            exec(&mut conn, "START TRANSACTION", &ctx("loading")).await?;
            // CHARACTER SET binary: the bytes are already utf8mb4 text or raw blob bytes.
            let sql = format!(
                "LOAD DATA LOCAL INFILE 'stagecraft-stream' INTO TABLE {target} CHARACTER SET binary \
                 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
                collist.join(", ")
            );
            conn.query_drop(&sql)
                .await
                .map_err(|e| load_err(ctx("loading"), e))?;
            stored = conn.affected_rows();
            let warnings = conn.get_warnings();
            if warnings > 0 {
                // Codes only: warning texts quote values (which may be PII).
                let codes: Vec<Row> = conn
                    .query("SHOW WARNINGS LIMIT 5")
                    .await
                    .map_err(|e| my_err(ctx("reading warnings of"), e))?;
                let codes: Vec<String> = codes
                    .into_iter()
                    .map(|r| {
                        let v = r.unwrap();
                        v.get(1).and_then(text).unwrap_or_default()
                    })
                    .collect();
                return Err(SyncError::Database {
                    context: ctx("loading"),
                    message: format!(
                        "the server reported {warnings} warnings (codes {}){}",
                        codes.join(", "),
                        if codes.iter().any(|c| c == "1062") {
                            "; 1062 is a duplicate value in a unique key: check the rules of \
                             this table's unique columns"
                        } else {
                            ""
                        }
                    ),
                });
            }
            conn.query_drop("COMMIT")
                .await
                .map_err(|e| load_err(ctx("committing"), e))?;
        }
        Some(Method::Insert) => {
            exec(&mut conn, "START TRANSACTION", &ctx("loading")).await?;
            let head = format!("INSERT INTO {target} ({}) VALUES ", collist.join(", "));
            while let Some(values) = rx.recv().await {
                let mut sql = String::with_capacity(head.len() + values.len());
                sql.push_str(&head);
                sql.push_str(&String::from_utf8_lossy(&values));
                conn.query_drop(&sql)
                    .await
                    .map_err(|e| load_err(ctx("inserting into"), e))?;
                stored += conn.affected_rows();
            }
            conn.query_drop("COMMIT")
                .await
                .map_err(|e| load_err(ctx("committing"), e))?;
        }
    }
    // Committed: its checks can start.
    landing.queue.landed(table, landing.probes);
    Ok(WriterDone {
        conn,
        table,
        stored,
    })
}

/// One unit of the verification. Jobs are this fine (not a table each) so that the biggest
/// table's scans are shared among the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckJob {
    /// Table, probe.
    Probe(usize, usize),
    /// Table, foreign key.
    ForeignKey(usize, usize),
    /// A table without probes: counted on its own.
    Count(usize),
    /// Table, unique key (other than the primary key).
    Unique(usize, usize),
}

/// A table's finished jobs, gathered back by position.
#[derive(Default)]
struct Collected {
    count: Option<i64>,
    fks: BTreeMap<usize, Check>,
    uniques: BTreeMap<usize, Check>,
    probes: BTreeMap<usize, Check>,
}

enum Outcome {
    Probe {
        check: Check,
        rows: u64,
    },
    Count(Option<i64>),
    /// A foreign key's or a unique key's check.
    Key(Check),
}

/// What every check reads.
struct CheckContext<'a> {
    shadow: &'a str,
    cat: &'a MyCatalog,
    ss: &'a SourceSchema,
    plans: &'a [TablePlan],
    /// Each table's leak-probe sets, set when its read ends (before it can land).
    probes: &'a [OnceLock<Vec<ProbeSet>>],
    hasher: &'a ProbeHasher,
}

/// The data checks, queued as their tables land and taken by whichever connection is free:
/// the checker beside the load, and the writers too once every table has landed.
struct CheckQueue {
    state: std::sync::Mutex<QueueState>,
    more: tokio::sync::Notify,
    done: std::sync::Mutex<Vec<(CheckJob, Outcome)>>,
}

struct QueueState {
    jobs: VecDeque<CheckJob>,
    /// No table lands any more: an empty queue means the work is done.
    closed: bool,
    landed: Vec<bool>,
    /// Per table: its own checks (count or probes, unique keys), queued when it lands.
    own: Vec<Vec<CheckJob>>,
    /// Every foreign key (table, key) and the synced table it references, if it is one;
    /// queued once both tables have landed.
    fks: Vec<(usize, usize, Option<usize>)>,
}

impl CheckQueue {
    /// `uniques`: how many unique keys each table has (besides its primary key); `fks`: every
    /// foreign key as (table, key, the synced table it references).
    fn new(uniques: &[usize], fks: Vec<(usize, usize, Option<usize>)>) -> Self {
        let own = uniques
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|u| CheckJob::Unique(i, u)).collect())
            .collect();
        CheckQueue {
            state: std::sync::Mutex::new(QueueState {
                jobs: VecDeque::new(),
                closed: false,
                landed: vec![false; uniques.len()],
                own,
                fks,
            }),
            more: tokio::sync::Notify::new(),
            done: Default::default(),
        }
    }

    /// Table `i` is committed (`probes`: how many leak probes it has).
    fn landed(&self, i: usize, probes: usize) {
        {
            let mut st = self.state.lock().expect("check queue");
            st.landed[i] = true;
            if probes == 0 {
                st.jobs.push_back(CheckJob::Count(i));
            }
            st.jobs.extend((0..probes).map(|k| CheckJob::Probe(i, k)));
            let own = std::mem::take(&mut st.own[i]);
            st.jobs.extend(own);
            // Each key is queued when the second of its two tables lands, so exactly once.
            let ready: Vec<CheckJob> = st
                .fks
                .iter()
                .filter(|(t, _, r)| {
                    (*t == i || *r == Some(i)) && st.landed[*t] && r.is_none_or(|r| st.landed[r])
                })
                .map(|&(t, f, _)| CheckJob::ForeignKey(t, f))
                .collect();
            st.jobs.extend(ready);
        }
        self.more.notify_waiters();
    }

    fn close(&self) {
        self.state.lock().expect("check queue").closed = true;
        self.more.notify_waiters();
    }

    /// Runs queued checks on `conn` until the queue is closed and empty.
    async fn work(&self, conn: &mut Conn, ctx: &CheckContext<'_>) -> Result<(), SyncError> {
        loop {
            // Created before the queue is looked at, so a wake-up in between is not lost.
            let woken = self.more.notified();
            let next = {
                let mut st = self.state.lock().expect("check queue");
                match st.jobs.pop_front() {
                    Some(job) => Some(job),
                    None if st.closed => return Ok(()),
                    None => None,
                }
            };
            match next {
                Some(job) => {
                    let outcome = run_check(conn, job, ctx).await?;
                    self.done
                        .lock()
                        .expect("check results")
                        .push((job, outcome));
                }
                None => woken.await,
            }
        }
    }
}

/// Every foreign key of the synced tables as (table, key, the synced table it references;
/// `None` for a table in another database, which is there before anything lands).
fn foreign_key_refs(cat: &MyCatalog, ss: &SourceSchema) -> Vec<(usize, usize, Option<usize>)> {
    let mut fks = Vec::new();
    for (i, t) in cat.tables.iter().enumerate() {
        for (f, fk) in ss.tables[i].foreign_keys.iter().enumerate() {
            let external = t
                .fk_ref_schema
                .get(&fk.name)
                .is_some_and(|d| d != &ss.database);
            let ref_table = fk.ref_table.rsplit('.').next().unwrap_or(&fk.ref_table);
            let refers = (!external)
                .then(|| cat.tables.iter().position(|x| x.name == ref_table))
                .flatten();
            fks.push((i, f, refers));
        }
    }
    fks
}

/// MariaDB 10.7 and later load an empty table in bulk (rows sorted, each index built page by
/// page, no undo per row) when a transaction's first insert into it runs with unique and
/// foreign-key checks off; a duplicate key still fails that load. MySQL would instead skip
/// some duplicate checks, so there unique_checks stays on.
fn bulk_loads(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let mut number = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    (number(), number()) >= (10, 7)
}

/// Leak probe: no value of a sanitized source column may appear in the target column. Also
/// returns the rows scanned, NULLs included, which is the table's row count.
async fn probe_column(
    conn: &mut Conn,
    shadow: &str,
    t: &MyTable,
    plan: &TablePlan,
    p: &ProbeSet,
    hasher: &ProbeHasher,
) -> Result<(Check, u64), SyncError> {
    let col = &plan.cols[p.column].name;
    let constant = plan.tt.actions[p.column]
        .as_ref()
        .is_some_and(|a| a.is_constant());
    if constant {
        if let Some(found) = probe_constant(conn, shadow, t, col, p, hasher).await? {
            return Ok(found);
        }
    }
    let what = || format!("probing {}.{col}", t.name);
    let (mut hits, mut scanned, mut rows) = (0u64, 0u64, 0u64);
    let mut result = conn
        .query_iter(format!(
            "SELECT {} FROM {}.{}",
            qi(col),
            qi(shadow),
            qi(&t.name)
        ))
        .await
        .map_err(|e| my_err(what(), e))?;
    if let Some(mut stream) = result
        .stream::<Row>()
        .await
        .map_err(|e| my_err(what(), e))?
    {
        while let Some(row) = stream.next().await {
            let row = row.map_err(|e| my_err(what(), e))?;
            rows += 1;
            if let Some(Some(Value::Bytes(b))) = row.unwrap_raw().first() {
                scanned += 1;
                if p.contains(hash_bytes(hasher, b)) {
                    hits += 1;
                }
            }
        }
    }
    drop(result);
    Ok((p.check(&t.name, col, hits, scanned), rows))
}

/// The leak probe of a column whose rule gives every row the same value, in one aggregate
/// pass: when the smallest and largest values are the same bytes, every non-NULL value is that
/// value, which is looked up once and counts for all of them. `None` when the column holds
/// more than one value after all (then it is streamed like any other).
async fn probe_constant(
    conn: &mut Conn,
    shadow: &str,
    t: &MyTable,
    col: &str,
    p: &ProbeSet,
    hasher: &ProbeHasher,
) -> Result<Option<(Check, u64)>, SyncError> {
    let c = qi(col);
    type Aggregate = (u64, u64, Option<bool>, Option<Vec<u8>>);
    let found: Option<Aggregate> = conn
        .query_first(format!(
            "SELECT COUNT(*), COUNT({c}), MIN(CAST({c} AS BINARY)) = MAX(CAST({c} AS BINARY)), \
             MIN({c}) FROM {}.{}",
            qi(shadow),
            qi(&t.name)
        ))
        .await
        .map_err(|e| my_err(format!("probing {}.{col}", t.name), e))?;
    let Some((rows, non_null, same, value)) = found else {
        return Ok(None);
    };
    let hits = match (non_null, same, value) {
        (0, _, _) => 0,
        (n, Some(true), Some(v)) => {
            if p.contains(hash_bytes(hasher, &v)) {
                n
            } else {
                0
            }
        }
        _ => return Ok(None),
    };
    Ok(Some((p.check(&t.name, col, hits, non_null), rows)))
}

/// The load ran with foreign_key_checks = 0, so every key is checked here: no orphan rows, and
/// the constraint is present.
async fn check_foreign_key(
    conn: &mut Conn,
    shadow: &str,
    t: &MyTable,
    fk: &super::schema::ForeignKey,
    source_db: &str,
) -> Result<Check, SyncError> {
    let ref_db = match t.fk_ref_schema.get(&fk.name) {
        Some(d) if d != source_db => d.clone(),
        _ => shadow.to_string(),
    };
    let ref_table = fk.ref_table.rsplit('.').next().unwrap_or(&fk.ref_table);
    let not_null: Vec<String> = fk
        .columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", qi(c)))
        .collect();
    let join: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(a, b)| format!("p.{} = c.{}", qi(b), qi(a)))
        .collect();
    // Distinct key values, not rows: InnoDB keeps an index on every foreign key's columns, so
    // the DISTINCT is a loose index scan and each value is looked up once (a tenth of the
    // lookups for a table with ten rows per parent).
    let keys: Vec<String> = fk.columns.iter().map(|c| qi(c)).collect();
    let orphans: Option<i64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM (SELECT DISTINCT {} FROM {}.{} c WHERE {}) c \
             WHERE NOT EXISTS (SELECT 1 FROM {}.{} p WHERE {})",
            keys.join(", "),
            qi(shadow),
            qi(&t.name),
            not_null.join(" AND "),
            qi(&ref_db),
            qi(ref_table),
            join.join(" AND ")
        ))
        .await
        .map_err(|e| my_err(format!("checking foreign key {}", fk.name), e))?;
    let present: Option<i64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = {} AND CONSTRAINT_NAME = {} AND TABLE_NAME = {}",
            ql(shadow),
            ql(&fk.name),
            ql(&t.name)
        ))
        .await
        .map_err(|e| my_err("reading constraints", e))?;
    Ok(Check::new(
        CheckKind::ForeignKey,
        &t.name,
        &fk.name,
        orphans == Some(0) && present == Some(1),
        format!(
            "{} orphan key values; constraint present: {}",
            orphans.unwrap_or(-1),
            present == Some(1)
        ),
    ))
}

async fn run_check(
    conn: &mut Conn,
    job: CheckJob,
    ctx: &CheckContext<'_>,
) -> Result<Outcome, SyncError> {
    let CheckContext {
        shadow,
        cat,
        ss,
        plans,
        probes,
        hasher,
    } = ctx;
    Ok(match job {
        CheckJob::Probe(i, k) => {
            let set = &probes[i]
                .get()
                .expect("probes are set before a table lands")[k];
            let (check, rows) =
                probe_column(conn, shadow, &cat.tables[i], &plans[i], set, hasher).await?;
            Outcome::Probe { check, rows }
        }
        CheckJob::ForeignKey(i, f) => Outcome::Key(
            check_foreign_key(
                conn,
                shadow,
                &cat.tables[i],
                &ss.tables[i].foreign_keys[f],
                &ss.database,
            )
            .await?,
        ),
        CheckJob::Count(i) => {
            let t = &cat.tables[i];
            Outcome::Count(
                conn.query_first(format!(
                    "SELECT COUNT(*) FROM {}.{}",
                    qi(shadow),
                    qi(&t.name)
                ))
                .await
                .map_err(|e| my_err(format!("counting {}", t.name), e))?,
            )
        }
        CheckJob::Unique(i, u) => Outcome::Key(
            check_unique(conn, shadow, &cat.tables[i].name, &ss.tables[i].uniques[u]).await?,
        ),
    })
}

/// A unique key holds: its index is there, and no two rows share a non-NULL key (counted, not
/// taken on trust: the bulk load runs with unique_checks = 0).
async fn check_unique(
    conn: &mut Conn,
    shadow: &str,
    table: &str,
    u: &UniqueConstraint,
) -> Result<Check, SyncError> {
    let cols: Option<String> = conn
        .query_first(format!(
            "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} AND INDEX_NAME = {} AND NON_UNIQUE = 0",
            ql(shadow),
            ql(table),
            ql(&u.name)
        ))
        .await
        .map_err(|e| my_err("reading indexes", e))?
        .flatten();
    let present = cols.as_deref() == Some(u.columns.join(",").as_str());
    let keys: Vec<String> = u.columns.iter().map(|c| qi(c)).collect();
    let not_null: Vec<String> = keys.iter().map(|c| format!("{c} IS NOT NULL")).collect();
    // Grouped along the unique index itself: an ordered index scan, no temporary table.
    let duplicated: Option<i64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {}.{} FORCE INDEX ({}) WHERE {} GROUP BY {} \
             HAVING COUNT(*) > 1) d",
            qi(shadow),
            qi(table),
            qi(&u.name),
            not_null.join(" AND "),
            keys.join(", ")
        ))
        .await
        .map_err(|e| my_err(format!("checking unique key {} of {table}", u.name), e))?;
    Ok(Check::new(
        CheckKind::Unique,
        table,
        &u.name,
        present && duplicated == Some(0),
        match (present, duplicated) {
            (false, _) => "unique index missing".into(),
            (true, Some(0)) => "unique index present; no duplicate keys".into(),
            (true, n) => format!("{} duplicated key values", n.unwrap_or(-1)),
        },
    ))
}

/// The checks' outcomes into the report, in table order, with the sequence checks.
async fn record_checks(
    tgt: &mut Conn,
    shadow: &str,
    cat: &MyCatalog,
    results: &[TableReport],
    outcomes: Vec<(CheckJob, Outcome)>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let mut tables: Vec<Collected> = (0..cat.tables.len()).map(|_| Default::default()).collect();
    for (job, outcome) in outcomes {
        match (job, outcome) {
            (CheckJob::Probe(i, k), Outcome::Probe { check, rows }) => {
                if k == 0 {
                    tables[i].count = Some(rows as i64);
                }
                tables[i].probes.insert(k, check);
            }
            (CheckJob::ForeignKey(i, f), Outcome::Key(check)) => {
                tables[i].fks.insert(f, check);
            }
            (CheckJob::Unique(i, u), Outcome::Key(check)) => {
                tables[i].uniques.insert(u, check);
            }
            (CheckJob::Count(i), Outcome::Count(n)) => tables[i].count = n,
            _ => unreachable!("each job has its own kind of outcome"),
        }
    }
    let v = &mut report.verification;
    v.passed = true;
    for ((t, r), c) in cat.tables.iter().zip(results).zip(&tables) {
        v.push(
            CheckKind::RowCount,
            &t.name,
            "",
            c.count == Some(r.rows as i64),
            format!("source {} rows, target {}", r.rows, c.count.unwrap_or(-1)),
        );
    }
    for c in &mut tables {
        for check in std::mem::take(&mut c.fks).into_values() {
            v.record(check);
        }
        for check in std::mem::take(&mut c.uniques).into_values() {
            v.record(check);
        }
    }
    for sq in &report.sequences {
        let (t, c) = sq.name.split_once('.').expect("table.column");
        let row = rows(
            tgt,
            &format!(
                "SELECT AUTO_INCREMENT, (SELECT CAST(COALESCE(MAX({}), 0) AS SIGNED) FROM {}.{}) \
                 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                qi(c),
                qi(shadow),
                qi(t),
                ql(shadow),
                ql(t)
            ),
            "checking AUTO_INCREMENT",
        )
        .await?;
        let (next, max) = row
            .first()
            .map(|r| {
                (
                    r[0].as_deref().and_then(|x| x.parse::<i64>().ok()),
                    r[1].as_deref().and_then(|x| x.parse::<i64>().ok()),
                )
            })
            .unwrap_or((None, None));
        let ok = matches!((next, max), (Some(n), Some(m)) if n > m);
        v.push(
            CheckKind::Sequence,
            t,
            c,
            ok,
            format!(
                "AUTO_INCREMENT {} over max id {}",
                next.unwrap_or(-1),
                max.unwrap_or(-1)
            ),
        );
    }
    for check in tables.into_iter().flat_map(|c| c.probes.into_values()) {
        v.record(check);
    }
    Ok(())
}

async fn list_backups_on(c: &mut Conn, live: &str) -> Result<Vec<String>, SyncError> {
    let prefix = format!("{live}{BACKUP_INFIX}");
    let mut v: Vec<String> = rows(
        c,
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA",
        "listing backups",
    )
    .await?
    .into_iter()
    .filter_map(|r| r[0].clone())
    .filter(|n| n.starts_with(&prefix))
    .collect();
    v.sort();
    Ok(v)
}

async fn new_backup_name(c: &mut Conn, live: &str) -> Result<String, SyncError> {
    let existing = list_backups_on(c, live).await?;
    let base = format!("{live}{BACKUP_INFIX}{}", stamp());
    let mut name = base.clone();
    let mut n = 1;
    while existing.contains(&name) {
        n += 1;
        name = format!("{base}_{n}");
    }
    check_name_len(&name, MAX_IDENT)?;
    Ok(name)
}

pub(crate) async fn list_backups(url: &str) -> Result<Vec<String>, SyncError> {
    let r = async {
        let (mut c, live) = connect(url, "target").await?;
        list_backups_on(&mut c, &live).await
    }
    .await;
    r.map_err(|e| scrubbed(e, &[url]))
}

pub(crate) async fn restore_backup(
    url: &str,
    backup: &str,
    opts: &SyncOptions,
) -> Result<String, SyncError> {
    let r = async {
        let (mut c, live) = connect(url, "target").await?;
        let backups = list_backups_on(&mut c, &live).await?;
        if !backups.iter().any(|b| b == backup) {
            return Err(SyncError::BackupNotFound(backup.to_string()));
        }
        let lock_name = format!("stagecraft-sync:{live}");
        let got: Option<Option<i64>> = c
            .query_first(format!("SELECT GET_LOCK({}, 0)", ql(&lock_name)))
            .await
            .map_err(|e| my_err("taking the target sync lock", e))?;
        if got.flatten() != Some(1) {
            return Err(SyncError::Busy(lock_name));
        }
        let list = |db: &str| {
            format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
                 AND TABLE_TYPE = 'BASE TABLE'",
                ql(db)
            )
        };
        let live_tables: Vec<String> = rows(&mut c, &list(&live), "listing live tables")
            .await?
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect();
        let bak_tables: Vec<String> = rows(&mut c, &list(backup), "listing backup tables")
            .await?
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect();
        // What is live now becomes a backup itself, so the restore can be undone.
        let displaced = new_backup_name(&mut c, &live).await?;
        exec(
            &mut c,
            &format!("CREATE DATABASE {}", qi(&displaced)),
            "creating a backup database",
        )
        .await?;
        let mut renames: Vec<String> = live_tables
            .iter()
            .map(|t| format!("{}.{} TO {}.{}", qi(&live), qi(t), qi(&displaced), qi(t)))
            .collect();
        renames.extend(
            bak_tables
                .iter()
                .map(|t| format!("{}.{} TO {}.{}", qi(backup), qi(t), qi(&live), qi(t))),
        );
        if let Err(e) = c
            .query_drop(format!(
                "SET SESSION lock_wait_timeout = {}; RENAME TABLE {}",
                opts.swap_lock_timeout.as_secs().max(1),
                renames.join(", ")
            ))
            .await
        {
            let _ = c
                .query_drop(format!("DROP DATABASE IF EXISTS {}", qi(&displaced)))
                .await;
            return Err(my_err("swapping the backup in", e));
        }
        let _ = c
            .query_drop(format!("DROP DATABASE IF EXISTS {}", qi(backup)))
            .await;
        Ok(displaced)
    }
    .await;
    r.map_err(|e| scrubbed(e, &[url]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_loads_only_on_mariadb_10_7_and_later() {
        for (version, bulk) in [
            ("10.11.19-MariaDB-0+deb12u1", true),
            ("10.7.1-MariaDB", true),
            ("11.4.2-MariaDB-log", true),
            ("10.6.16-MariaDB-0ubuntu0.22.04.1", false),
            ("10.3.39-MariaDB", false),
            ("8.0.36", false),
            ("8.4.0-commercial", false),
            ("", false),
        ] {
            assert_eq!(bulk_loads(version), bulk, "{version}");
        }
    }

    fn take(q: &CheckQueue) -> Vec<CheckJob> {
        q.state.lock().unwrap().jobs.drain(..).collect()
    }

    #[test]
    fn checks_are_queued_as_their_tables_land() {
        use CheckJob::*;
        // 0 users (one unique key); 1 messages -> users twice; 2 events -> a table in another
        // database; 3 categories -> itself; 4 attachments (two unique keys) -> messages.
        let q = CheckQueue::new(
            &[1, 0, 0, 0, 2],
            vec![
                (1, 0, Some(0)),
                (1, 1, Some(0)),
                (2, 0, None),
                (3, 0, Some(3)),
                (4, 0, Some(1)),
            ],
        );
        q.landed(1, 2);
        assert_eq!(
            take(&q),
            vec![Probe(1, 0), Probe(1, 1)],
            "users not landed yet"
        );
        q.landed(0, 0);
        assert_eq!(
            take(&q),
            vec![Count(0), Unique(0, 0), ForeignKey(1, 0), ForeignKey(1, 1)]
        );
        q.landed(2, 1);
        assert_eq!(take(&q), vec![Probe(2, 0), ForeignKey(2, 0)]);
        q.landed(3, 0);
        assert_eq!(
            take(&q),
            vec![Count(3), ForeignKey(3, 0)],
            "a self-reference, once"
        );
        q.landed(4, 0);
        assert_eq!(
            take(&q),
            vec![Count(4), Unique(4, 0), Unique(4, 1), ForeignKey(4, 0)]
        );
    }
}
