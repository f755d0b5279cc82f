//! PostgreSQL: catalog reading, schema replication into a shadow schema, parallel binary COPY
//! with the transform in between, constraints, sequences, verification and the schema swap.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use futures::{pin_mut, SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::copyfmt::{
    hash_bytes, BinType, ColumnScanner, Format, ProbeHasher, ProbeSet, Transcoder,
};
use super::report::{Check, CheckKind, PhaseTiming, SequenceReport, SyncReport, TableReport};
use super::rules::{RuleSet, TableTransform};
use super::schema::{
    plan_columns, ColumnPlan, ColumnSchema, ForeignKey, SequenceSchema, SourceSchema, TableSchema,
    UniqueConstraint,
};
use super::{
    check_name_len, now_rfc3339, redact_url, scrub, stamp, Engine, PiiPolicy, Progress,
    ServerIdentity, SyncError, SyncOptions, BACKUP_INFIX, SHADOW_SUFFIX,
};

/// Output buffered per table before it is handed to the target connection.
const FLUSH_BYTES: usize = 256 * 1024;

/// Session settings of the target connections that load, index and check the shadow tables.
/// - `synchronous_commit = off`: a crash before the swap loses nothing worth keeping (the
///   shadow is dropped and the sync fails), so no commit waits for its WAL flush.
/// - No parallel workers for index builds and queries: `parallelism` is how many backends the
///   sync keeps busy on the target, and every one of them already has work; helpers beside
///   them only compete for the same cores (measured: a parallel build of the benchmark's
///   biggest index took 20-40% more CPU-seconds than a serial one).
/// - `maintenance_work_mem` raised to 256 MB (never lowered): an index of a few million rows
///   sorts in memory instead of spilling to temporary files, as PostgreSQL's guide to
///   populating a database advises. It is an upper bound per connection, used only by a sort that
///   needs it.
///
/// The parallel settings are set through `pg_settings`, so a server that lacks one (parallel
/// index builds came in PostgreSQL 11) is not refused over a tuning.
const WORKER_SETTINGS: &str = "SET synchronous_commit = off; \
    SELECT set_config(name, '0', false) FROM pg_settings \
    WHERE name IN ('max_parallel_maintenance_workers', 'max_parallel_workers_per_gather'); \
    SELECT set_config('maintenance_work_mem', '256MB', false) \
    WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 256 * 1024 * 1024;";

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_IDENT: usize = 63;

pub(crate) fn qi(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn ql(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn db_err(context: impl Into<String>, e: tokio_postgres::Error) -> SyncError {
    let message = match e.as_db_error() {
        Some(d) => {
            let mut m = format!("{}: {}", d.severity(), d.message());
            if let Some(detail) = d.detail() {
                m.push_str(&format!(" ({detail})"));
            }
            m
        }
        None => {
            // tokio-postgres keeps the cause (e.g. the TLS verifier's verdict) out of Display.
            let mut m = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !m.contains(&text) {
                    m.push_str(&format!(": {text}"));
                }
                cause = c.source();
            }
            m
        }
    };
    SyncError::Database {
        context: context.into(),
        message,
    }
}

/// Connect and drive the connection on its own task; dropping the client closes it, which
/// aborts whatever the server was doing for it (an unfinished COPY is rolled back).
/// TLS follows the URL's `sslmode` / `sslrootcert` ([`super::tls`]).
async fn connect(url: &str, what: &str) -> Result<Client, SyncError> {
    let target = super::tls::pg_config(url)?;
    let tls = super::tls::MakeRustls::new(super::tls::client_config(
        target.mode,
        target.rootcert.as_deref(),
    )?);
    let (client, conn) = target.config.connect(tls).await.map_err(|e| {
        let mut err = db_err(format!("connecting to the {what} {}", redact_url(url)), e);
        if let SyncError::Database { message, .. } = &mut err {
            if message.contains("certificate") || message.contains("TLS") {
                message.push_str(&format!(
                    " (sslmode={}{})",
                    match target.mode {
                        super::tls::SslMode::Disable => "disable",
                        super::tls::SslMode::Prefer => "prefer",
                        super::tls::SslMode::Require => "require",
                        super::tls::SslMode::VerifyCa => "verify-ca",
                        super::tls::SslMode::VerifyFull => "verify-full",
                    },
                    match &target.rootcert {
                        Some(p) => format!(", certificate checked against sslrootcert {p}"),
                        None if matches!(
                            target.mode,
                            super::tls::SslMode::VerifyCa | super::tls::SslMode::VerifyFull
                        ) =>
                        {
                            ", certificate checked against the webpki root CAs".to_string()
                        }
                        None => String::new(),
                    }
                ));
            }
        }
        err
    })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn exec(c: &Client, sql: &str, what: &str) -> Result<(), SyncError> {
    c.batch_execute(sql).await.map_err(|e| db_err(what, e))
}

/// Text rows of a simple query (values as PostgreSQL prints them).
async fn text_rows(
    c: &Client,
    sql: &str,
    what: &str,
) -> Result<Vec<Vec<Option<String>>>, SyncError> {
    let msgs = c.simple_query(sql).await.map_err(|e| db_err(what, e))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Identity and the read-only snapshot

pub(crate) async fn identity(c: &Client) -> Result<ServerIdentity, SyncError> {
    let row = c
        .query_one(
            "SELECT system_identifier::text, current_database()::text FROM pg_control_system()",
            &[],
        )
        .await
        .map_err(|e| db_err("reading the server identity", e))?;
    Ok(ServerIdentity {
        server: row.get(0),
        database: row.get(1),
    })
}

pub(crate) async fn identity_of(url: &str) -> Result<ServerIdentity, SyncError> {
    let c = connect(url, "server").await?;
    identity(&c).await
}

/// The source session: read-only by default for every transaction it opens, and one
/// REPEATABLE READ READ ONLY transaction whose snapshot the workers import, so every table is
/// read at the same instant.
async fn open_snapshot(url: &str, schema: &str) -> Result<(Client, String), SyncError> {
    let c = connect(url, "source").await?;
    exec(
        &c,
        &format!(
            "SET default_transaction_read_only = on; SET statement_timeout = 0; \
             SET idle_in_transaction_session_timeout = 0; SET search_path = {}, pg_catalog; \
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
            qi(schema)
        ),
        "opening the read-only source snapshot",
    )
    .await?;
    let snap: String = c
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| db_err("exporting the source snapshot", e))?
        .get(0);
    Ok((c, snap))
}

async fn join_snapshot(url: &str, schema: &str, snapshot: &str) -> Result<Client, SyncError> {
    let c = connect(url, "source").await?;
    exec(
        &c,
        &format!(
            "SET default_transaction_read_only = on; SET statement_timeout = 0; \
             SET idle_in_transaction_session_timeout = 0; SET search_path = {}, pg_catalog; \
             BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {};",
            qi(schema),
            ql(snapshot)
        ),
        "joining the source snapshot",
    )
    .await?;
    Ok(c)
}

// ---------------------------------------------------------------------------------------------
// Catalog

#[derive(Clone, Debug)]
struct PgCol {
    name: String,
    type_sql: String,
    typname: String,
    typtype: String,
    type_oid: i64,
    elem_oid: i64,
    notnull: bool,
    default: Option<String>,
    generated: bool,
    identity: Option<char>,
    collation: Option<String>,
    max_len: Option<usize>,
}

#[derive(Clone, Debug)]
struct PgCon {
    name: String,
    contype: char,
    def: String,
    columns: Vec<String>,
    ref_table: Option<String>,
    ref_schema: Option<String>,
    ref_columns: Vec<String>,
}

impl PgCon {
    /// A foreign key or check added NOT VALID and never validated on the source.
    fn not_valid(&self) -> bool {
        self.def.trim_end().ends_with("NOT VALID")
    }
}

#[derive(Clone, Debug)]
struct PgIndex {
    name: String,
    /// From ` USING ` on.
    tail: String,
    unique: bool,
    columns: Vec<String>,
    plain: bool,
}

#[derive(Clone, Debug)]
struct PgTable {
    name: String,
    reltuples: i64,
    partitioned: bool,
    cols: Vec<PgCol>,
    cons: Vec<PgCon>,
    indexes: Vec<PgIndex>,
}

#[derive(Clone, Debug)]
struct PgSeq {
    name: String,
    type_sql: String,
    start: i64,
    inc: i64,
    min: i64,
    max: i64,
    cache: i64,
    cycle: bool,
    owned_by: Option<(String, String)>,
    identity: bool,
    last_value: Option<i64>,
}

#[derive(Clone, Debug, Default)]
struct PgCatalog {
    tables: Vec<PgTable>,
    seqs: Vec<PgSeq>,
    enums: Vec<(String, Vec<String>)>,
    views: Vec<(String, String)>,
    warnings: Vec<String>,
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn i(v: &Option<String>) -> i64 {
    v.as_deref().and_then(|x| x.parse().ok()).unwrap_or(0)
}

/// `{a,b,"c d"}` → `["a", "b", "c d"]` (text form of a name[]/text[]).
fn pg_array(v: &Option<String>) -> Vec<String> {
    let Some(v) = v.as_deref() else {
        return Vec::new();
    };
    let inner = v.trim_start_matches('{').trim_end_matches('}');
    if inner.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Reads everything the replication needs. Runs on a session whose search_path is the
/// schema, so the definitions come back unqualified and re-resolve inside the shadow schema.
async fn read_catalog(c: &Client, schema: &str) -> Result<PgCatalog, SyncError> {
    let ns = ql(schema);
    let mut cat = PgCatalog::default();
    let mut by_name: BTreeMap<String, PgTable> = BTreeMap::new();
    for r in text_rows(
        c,
        &format!(
            "SELECT c.relname, c.reltuples::int8, c.relkind::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {ns} AND c.relkind IN ('r','p') AND NOT c.relispartition \
             ORDER BY c.relname"
        ),
        "listing source tables",
    )
    .await?
    {
        let name = s(&r[0]);
        by_name.insert(
            name.clone(),
            PgTable {
                name,
                reltuples: i(&r[1]),
                partitioned: r[2].as_deref() == Some("p"),
                cols: Vec::new(),
                cons: Vec::new(),
                indexes: Vec::new(),
            },
        );
    }
    for r in text_rows(
        c,
        &format!(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
               pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text, a.attidentity::text, \
               t.typname, t.typtype::text, a.atttypid::int8, t.typelem::int8, \
               CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
                 THEN (SELECT quote_ident(co.collname) FROM pg_collation co WHERE co.oid = a.attcollation) END, \
               CASE WHEN t.typname IN ('varchar','bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = {ns} AND c.relkind IN ('r','p') AND a.attnum > 0 \
               AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
        ),
        "reading source columns",
    )
    .await?
    {
        let Some(t) = by_name.get_mut(&s(&r[0])) else {
            continue;
        };
        let generated = r[5].as_deref() == Some("s");
        t.cols.push(PgCol {
            name: s(&r[1]),
            type_sql: s(&r[2]),
            notnull: r[3].as_deref() == Some("t"),
            // For generated columns this is the generation expression.
            default: r[4].clone(),
            generated,
            identity: r[6].as_deref().and_then(|x| x.chars().next()),
            typname: s(&r[7]),
            typtype: s(&r[8]),
            type_oid: i(&r[9]),
            elem_oid: i(&r[10]),
            collation: r[11].clone(),
            max_len: r[12].as_deref().and_then(|x| x.parse().ok()),
        });
    }
    for r in text_rows(
        c,
        &format!(
            "SELECT c.relname, con.conname, con.contype::text, pg_get_constraintdef(con.oid), \
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), \
               fc.relname, fn.nspname, \
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) \
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
             LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
             WHERE n.nspname = {ns} AND con.contype IN ('p','u','f','c','x') \
             ORDER BY c.relname, con.conname"
        ),
        "reading source constraints",
    )
    .await?
    {
        let Some(t) = by_name.get_mut(&s(&r[0])) else {
            continue;
        };
        t.cons.push(PgCon {
            name: s(&r[1]),
            contype: r[2].as_deref().and_then(|x| x.chars().next()).unwrap_or('?'),
            def: s(&r[3]),
            columns: pg_array(&r[4]),
            ref_table: r[5].clone(),
            ref_schema: r[6].clone(),
            ref_columns: pg_array(&r[7]),
        });
    }
    for r in text_rows(
        c,
        &format!(
            "SELECT c.relname, ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique, \
               ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n \
                     WHERE k.o <= i.indnkeyatts ORDER BY k.o), \
               i.indexprs IS NULL AND i.indpred IS NULL \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {ns} AND c.relkind = 'r' AND NOT EXISTS ( \
               SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid \
                 AND con.conrelid = i.indrelid AND con.contype IN ('p','u','x')) \
             ORDER BY c.relname, ic.relname"
        ),
        "reading source indexes",
    )
    .await?
    {
        let Some(t) = by_name.get_mut(&s(&r[0])) else {
            continue;
        };
        let def = s(&r[2]);
        let Some(pos) = def.find(" USING ") else {
            cat.warnings.push(format!(
                "index {} has an unexpected definition; skipped",
                s(&r[1])
            ));
            continue;
        };
        t.indexes.push(PgIndex {
            name: s(&r[1]),
            tail: def[pos..].to_string(),
            unique: r[3].as_deref() == Some("t"),
            columns: pg_array(&r[4]),
            plain: r[5].as_deref() == Some("t"),
        });
    }
    for r in text_rows(
        c,
        &format!(
            "SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
               s.seqmin, s.seqmax, s.seqcache, s.seqcycle, d.deptype::text, tc.relname, \
               ta.attname, ps.last_value \
             FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid \
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a','i') \
             LEFT JOIN pg_class tc ON tc.oid = d.refobjid \
             LEFT JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid \
             LEFT JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = c.relname \
             WHERE n.nspname = {ns} ORDER BY c.relname"
        ),
        "reading source sequences",
    )
    .await?
    {
        let owned_by = match (&r[9], &r[10]) {
            (Some(t), Some(c)) => Some((t.clone(), c.clone())),
            _ => None,
        };
        cat.seqs.push(PgSeq {
            name: s(&r[0]),
            type_sql: s(&r[1]),
            start: i(&r[2]),
            inc: i(&r[3]),
            min: i(&r[4]),
            max: i(&r[5]),
            cache: i(&r[6]).max(1),
            cycle: r[7].as_deref() == Some("t"),
            identity: r[8].as_deref() == Some("i"),
            owned_by,
            last_value: r[11].as_deref().and_then(|x| x.parse().ok()),
        });
    }
    for r in text_rows(
        c,
        &format!(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) \
             FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid \
             JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = {ns} GROUP BY t.typname ORDER BY t.typname"
        ),
        "reading source enum types",
    )
    .await?
    {
        cat.enums.push((s(&r[0]), pg_array(&r[1])));
    }
    for r in text_rows(
        c,
        &format!(
            "SELECT c.relname, pg_get_viewdef(c.oid, true) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {ns} AND c.relkind = 'v' ORDER BY c.oid"
        ),
        "reading source views",
    )
    .await?
    {
        cat.views.push((s(&r[0]), s(&r[1])));
    }
    // Objects this engine does not replicate: say so instead of silently dropping them.
    for r in text_rows(
        c,
        &format!(
            "SELECT 'type ' || t.typname || ' (' || CASE t.typtype WHEN 'd' THEN 'domain' \
               WHEN 'r' THEN 'range' WHEN 'm' THEN 'multirange' WHEN 'c' THEN 'composite' \
               ELSE 'base' END || ')' \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = {ns} AND t.typtype IN ('d','r','b','c') \
               AND NOT (t.typtype = 'b' AND t.typcategory = 'A') \
               AND NOT (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = t.typrelid AND r.relkind <> 'c')) \
             UNION ALL SELECT 'materialized view ' || c.relname FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {ns} AND c.relkind = 'm' \
             UNION ALL SELECT 'function ' || p.proname FROM pg_proc p \
               JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = {ns} \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
             UNION ALL SELECT 'trigger ' || tg.tgname || ' on ' || c.relname FROM pg_trigger tg \
               JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = {ns} AND NOT tg.tgisinternal \
             UNION ALL SELECT 'extension ' || e.extname || ' (its objects live in the schema)' \
               FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = {ns}"
        ),
        "listing unsupported source objects",
    )
    .await?
    {
        cat.warnings.push(format!(
            "{} is not replicated to the target",
            s(&r[0])
        ));
    }
    for t in by_name.values() {
        if t.partitioned {
            cat.warnings.push(format!(
                "table {} is partitioned; partitioned tables are not supported yet",
                t.name
            ));
        }
    }
    cat.tables = by_name.into_values().collect();
    Ok(cat)
}

/// Types whose binary COPY form carries server-specific OIDs (arrays and composites of
/// user-defined types) or whose binary form we do not want to trust across servers
/// (extension types): such tables go through text COPY.
fn binary_portable(col: &PgCol) -> bool {
    const FIRST_NORMAL_OID: i64 = 16384;
    let user_type = col.type_oid >= FIRST_NORMAL_OID && col.typtype != "e";
    let user_elem = col.elem_oid >= FIRST_NORMAL_OID;
    !(user_type || user_elem || col.typtype == "c" || col.typtype == "d")
}

fn to_source_schema(
    cat: &PgCatalog,
    database: &str,
    schema: &str,
    opts: &SyncOptions,
) -> SourceSchema {
    let tables = cat
        .tables
        .iter()
        .map(|t| {
            let pk = t
                .cons
                .iter()
                .find(|c| c.contype == 'p')
                .map(|c| c.columns.clone())
                .unwrap_or_default();
            let mut uniques: Vec<UniqueConstraint> = t
                .cons
                .iter()
                .filter(|c| c.contype == 'u')
                .map(|c| UniqueConstraint {
                    name: c.name.clone(),
                    columns: c.columns.clone(),
                })
                .collect();
            uniques.extend(
                t.indexes
                    .iter()
                    .filter(|i| i.unique)
                    .map(|i| UniqueConstraint {
                        name: i.name.clone(),
                        columns: if i.plain {
                            i.columns.clone()
                        } else {
                            Vec::new()
                        },
                    }),
            );
            TableSchema {
                name: t.name.clone(),
                columns: t
                    .cols
                    .iter()
                    .map(|c| ColumnSchema {
                        name: c.name.clone(),
                        data_type: c.type_sql.clone(),
                        nullable: !c.notnull,
                        default: if c.generated { None } else { c.default.clone() },
                        generated: if c.generated { c.default.clone() } else { None },
                        auto_increment: c.identity.is_some_and(|x| x == 'a' || x == 'd')
                            || c.default
                                .as_deref()
                                .is_some_and(|d| d.starts_with("nextval(")),
                        max_length: c.max_len,
                        plan: ColumnPlan::Keep,
                    })
                    .collect(),
                primary_key: pk,
                foreign_keys: t
                    .cons
                    .iter()
                    .filter(|c| c.contype == 'f')
                    .map(|c| ForeignKey {
                        name: c.name.clone(),
                        columns: c.columns.clone(),
                        ref_table: match &c.ref_schema {
                            Some(rs) if rs != schema => {
                                format!("{rs}.{}", c.ref_table.clone().unwrap_or_default())
                            }
                            _ => c.ref_table.clone().unwrap_or_default(),
                        },
                        ref_columns: c.ref_columns.clone(),
                    })
                    .collect(),
                uniques,
                estimated_rows: Some(t.reltuples),
                excluded: opts.is_excluded(&t.name),
            }
        })
        .collect();
    SourceSchema {
        engine: Engine::Postgres,
        database: database.to_string(),
        schema: schema.to_string(),
        tables,
        sequences: cat
            .seqs
            .iter()
            .map(|q| SequenceSchema {
                name: q.name.clone(),
                owned_by: q.owned_by.as_ref().map(|(t, c)| format!("{t}.{c}")),
                last_value: q.last_value,
            })
            .collect(),
        unsanitized_pii: Vec::new(),
        warnings: cat.warnings.clone(),
    }
}

/// Text samples of the unruled textual columns, one query per table.
async fn sample_values(
    c: &Client,
    schema: &str,
    table: &str,
    columns: &[String],
    n: usize,
) -> Result<HashMap<String, Vec<String>>, SyncError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if columns.is_empty() || n == 0 {
        return Ok(out);
    }
    let sel: Vec<String> = columns.iter().map(|c| format!("{}::text", qi(c))).collect();
    let rows = text_rows(
        c,
        &format!(
            "SELECT {} FROM {}.{} LIMIT {n}",
            sel.join(", "),
            qi(schema),
            qi(table)
        ),
        &format!("sampling {table}"),
    )
    .await?;
    for r in rows {
        for (k, v) in columns.iter().zip(r) {
            if let Some(v) = v {
                out.entry(k.clone()).or_default().push(v);
            }
        }
    }
    Ok(out)
}

async fn inspect_on(
    c: &Client,
    schema: &str,
    rules: &RuleSet,
    opts: &SyncOptions,
) -> Result<(PgCatalog, SourceSchema), SyncError> {
    let database: String = c
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(|e| db_err("reading the source database name", e))?
        .get(0);
    let cat = read_catalog(c, schema).await?;
    let mut ss = to_source_schema(&cat, &database, schema, opts);
    // Plan once without samples to learn which columns need them, then sample per table.
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
        for (col, vals) in sample_values(c, schema, t, cols, opts.pii_sample_rows).await? {
            samples.insert((t.clone(), col), vals);
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
    let schema = opts.pg_schema();
    let (c, _snap) = open_snapshot(url, schema)
        .await
        .map_err(|e| scrubbed(e, &[url]))?;
    let r = inspect_on(&c, schema, rules, opts).await;
    let _ = c.batch_execute("ROLLBACK").await;
    r.map(|x| x.1).map_err(|e| scrubbed(e, &[url]))
}

pub(crate) fn scrubbed(e: SyncError, urls: &[&str]) -> SyncError {
    match e {
        SyncError::Database { context, message } => SyncError::Database {
            context: scrub(&context, urls),
            message: scrub(&message, urls),
        },
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// DDL

fn create_table_sql(shadow: &str, t: &PgTable) -> String {
    let mut cols = Vec::new();
    for c in &t.cols {
        let mut d = format!("{} {}", qi(&c.name), c.type_sql);
        if let Some(coll) = &c.collation {
            d.push_str(&format!(" COLLATE {coll}"));
        }
        if c.generated {
            d.push_str(&format!(
                " GENERATED ALWAYS AS ({}) STORED",
                c.default.clone().unwrap_or_default()
            ));
        } else if let Some(id) = c.identity.filter(|x| *x == 'a' || *x == 'd') {
            d.push_str(if id == 'a' {
                " GENERATED ALWAYS AS IDENTITY"
            } else {
                " GENERATED BY DEFAULT AS IDENTITY"
            });
        } else if let Some(def) = &c.default {
            d.push_str(&format!(" DEFAULT {def}"));
        }
        if c.notnull {
            d.push_str(" NOT NULL");
        }
        cols.push(d);
    }
    // CHECK constraints go in with the table: they are checked row by row during the load.
    for con in t.cons.iter().filter(|c| c.contype == 'c') {
        cols.push(format!("CONSTRAINT {} {}", qi(&con.name), con.def));
    }
    format!(
        "CREATE TABLE {}.{} ({})",
        qi(shadow),
        qi(&t.name),
        cols.join(", ")
    )
}

/// Primary keys, unique and exclusion constraints, plain indexes: after the data (bulk index
/// builds are much faster than row-by-row maintenance). Each build is a list of statements,
/// each run in its own transaction.
fn post_data_sql(shadow: &str, t: &PgTable) -> Vec<Vec<String>> {
    let on = format!("{}.{}", qi(shadow), qi(&t.name));
    let mut v = Vec::new();
    for con in t
        .cons
        .iter()
        .filter(|c| matches!(c.contype, 'p' | 'u' | 'x'))
    {
        let name = qi(&con.name);
        v.push(match plain_key(&con.def) {
            // ADD CONSTRAINT would build the index under a lock that stops every other build
            // of the table; a unique index builds beside them, and becomes the constraint in a
            // moment. (Separate transactions: holding the build's lock while asking for the
            // exclusive one could deadlock with a second such build.)
            Some((kind, columns)) => vec![
                format!("CREATE UNIQUE INDEX {name} ON {on} ({columns})"),
                format!("ALTER TABLE {on} ADD CONSTRAINT {name} {kind} USING INDEX {name}"),
            ],
            None => vec![format!(
                "ALTER TABLE {on} ADD CONSTRAINT {name} {}",
                con.def
            )],
        });
    }
    for ix in &t.indexes {
        v.push(vec![format!(
            "CREATE {}INDEX {} ON {on}{}",
            if ix.unique { "UNIQUE " } else { "" },
            qi(&ix.name),
            ix.tail
        )]);
    }
    v
}

/// `PRIMARY KEY (a, b)` or `UNIQUE (a)` with nothing else (no INCLUDE, NULLS NOT DISTINCT,
/// DEFERRABLE, storage parameters or tablespace): the constraints a plain unique index can
/// back. Returns the kind and the column list.
fn plain_key(def: &str) -> Option<(&'static str, &str)> {
    let (kind, rest) = if let Some(r) = def.strip_prefix("PRIMARY KEY (") {
        ("PRIMARY KEY", r)
    } else {
        ("UNIQUE", def.strip_prefix("UNIQUE (")?)
    };
    let columns = rest.strip_suffix(')')?;
    (!columns.contains(['(', ')'])).then_some((kind, columns))
}

/// The load's shared work list. Tables are copied biggest first; as each table lands, its key
/// and index builds become ready; once a table and the table it references are both indexed,
/// the foreign key between them is added and validated; once a table is indexed, its data
/// checks run, and once its foreign keys are done too, ANALYZE. Idle workers take whatever is
/// ready, so the smaller tables are finished while the biggest one is still loading.
struct Work {
    copies: VecDeque<TableJob>,
    steps: VecDeque<Step>,
    /// Per-table work that needs the table indexed (its data checks) or complete (ANALYZE).
    finishing: VecDeque<Next>,
    foreign_keys: Vec<FkJob>,
    /// Index builds not yet finished, per table (set when the table lands).
    unindexed: Vec<Option<usize>>,
    /// Builds and foreign keys not yet finished, per table (set when the table lands).
    unfinished: Vec<usize>,
    /// Steps in flight per table: how many, and whether one holds the table exclusively.
    running: HashMap<usize, (usize, bool)>,
    /// Copies in flight (each brings more steps when it lands).
    copying: usize,
    last_loaded: Option<Instant>,
}

/// A foreign key of the synced schema, added and validated once both its tables are indexed.
struct FkJob {
    table: usize,
    /// The referenced table, when it is one of the synced tables.
    refers: Option<usize>,
    name: String,
    add_sql: String,
    /// `None` when the constraint is NOT VALID on the source too.
    validate_sql: Option<String>,
}

struct Step {
    table: usize,
    kind: StepKind,
    /// Holds the table against every other step on it: `ALTER TABLE ... ADD CONSTRAINT` takes
    /// an exclusive lock, and two validations of one table wait for each other, so a second
    /// worker on that table would only wait.
    exclusive: bool,
}

enum StepKind {
    /// A build's next statement, and the ones after it: each runs in its own transaction, and
    /// each of the rest is a step of its own (see [`Work::built`]).
    Build { sql: String, then: Vec<String> },
    /// Index into `Work::foreign_keys`.
    ForeignKey(usize),
}

enum Next {
    Copy(TableJob),
    Step(Step),
    /// The row count and leak probe of a table.
    Check(usize),
    Analyze(usize),
    /// Nothing to take now, but work in flight will bring more.
    Wait,
    Done,
}

impl Work {
    fn new(copies: Vec<TableJob>, foreign_keys: Vec<FkJob>, tables: usize) -> Self {
        Work {
            copies: copies.into(),
            steps: VecDeque::new(),
            finishing: VecDeque::new(),
            foreign_keys,
            unindexed: vec![None; tables],
            unfinished: vec![0; tables],
            running: HashMap::new(),
            copying: 0,
            last_loaded: None,
        }
    }

    /// Copies first: they are the long pole; then steps (they unblock the rest).
    fn next(&mut self) -> Next {
        if let Some(job) = self.copies.pop_front() {
            self.copying += 1;
            return Next::Copy(job);
        }
        let running = &self.running;
        let runnable = self.steps.iter().position(|j| match running.get(&j.table) {
            None | Some((0, _)) => true,
            Some((_, excl)) => !excl && !j.exclusive,
        });
        if let Some(step) = runnable.and_then(|i| self.steps.remove(i)) {
            let r = self.running.entry(step.table).or_insert((0, false));
            r.0 += 1;
            r.1 = step.exclusive;
            return Next::Step(step);
        }
        if let Some(task) = self.finishing.pop_front() {
            return task;
        }
        if self.copying > 0 || !self.steps.is_empty() || self.running.values().any(|r| r.0 > 0) {
            Next::Wait
        } else {
            Next::Done
        }
    }

    fn loaded(&mut self, table: usize, builds: Vec<Vec<String>>) {
        self.copying -= 1;
        self.last_loaded = Some(Instant::now());
        let fks = self
            .foreign_keys
            .iter()
            .filter(|f| f.table == table)
            .count();
        self.unindexed[table] = Some(builds.len());
        self.unfinished[table] = builds.len() + fks;
        let unbuilt = builds.is_empty();
        self.steps
            .extend(builds.into_iter().filter_map(|b| build_step(table, b)));
        if unbuilt {
            self.indexed(table);
        }
        if self.unfinished[table] == 0 {
            self.finishing.push_back(Next::Analyze(table));
        }
    }

    /// A build step on `table` ran its statement; `then` are the build's statements still to
    /// run. Attaching a built index as its constraint takes the table exclusively: as a step of
    /// its own, it waits in the list until no other step holds the table, and the worker that
    /// built the index takes other work meanwhile instead of waiting on the lock while the
    /// table's other indexes build.
    fn built(&mut self, table: usize, then: Vec<String>) {
        match build_step(table, then) {
            None => self.done(table, true),
            Some(step) => {
                self.release(table);
                // First in line: it is brief, and the table's foreign keys wait for it.
                self.steps.push_front(step);
            }
        }
    }

    /// A step on `table` no longer holds it.
    fn release(&mut self, table: usize) {
        if let Some(r) = self.running.get_mut(&table) {
            r.0 -= 1;
            r.1 = false;
        }
    }

    /// A step on `table` finished (`built`: it was an index build).
    fn done(&mut self, table: usize, built: bool) {
        self.release(table);
        if built {
            let left = self.unindexed[table].as_mut().expect("built after landing");
            *left -= 1;
            if *left == 0 {
                self.indexed(table);
            }
        }
        self.unfinished[table] -= 1;
        if self.unfinished[table] == 0 {
            // ANALYZE and VALIDATE lock each other out: statistics come last.
            self.finishing.push_back(Next::Analyze(table));
        }
    }

    /// `table` has just become indexed (this happens once per table).
    fn indexed(&mut self, table: usize) {
        // The data checks only read: they run beside the foreign keys' validation (no earlier:
        // building a key locks the table against readers).
        self.finishing.push_back(Next::Check(table));
        // The foreign keys whose other table was indexed before: each is queued when the
        // second of its two tables becomes indexed, so exactly once.
        let indexed = |t: usize| self.unindexed[t] == Some(0);
        let ready: Vec<usize> = (0..self.foreign_keys.len())
            .filter(|&i| {
                let f = &self.foreign_keys[i];
                (f.table == table || f.refers == Some(table))
                    && indexed(f.table)
                    && f.refers.is_none_or(indexed)
            })
            .collect();
        for i in ready {
            self.steps.push_back(Step {
                table: self.foreign_keys[i].table,
                kind: StepKind::ForeignKey(i),
                exclusive: true,
            });
        }
    }
}

/// The step that runs the first of a build's statements on `table` (`None`: there are none).
fn build_step(table: usize, statements: Vec<String>) -> Option<Step> {
    let mut statements = statements.into_iter();
    let sql = statements.next()?;
    Some(Step {
        table,
        exclusive: sql.starts_with("ALTER TABLE"),
        kind: StepKind::Build {
            sql,
            then: statements.collect(),
        },
    })
}

/// The foreign keys of the synced tables, as the workers add them: NOT VALID first (no scan,
/// brief locks), then VALIDATE, whose locks do not conflict across tables, where a validating
/// ADD CONSTRAINT would lock the referenced table against every other one for the whole scan.
fn foreign_keys(schema: &str, shadow: &str, cat: &PgCatalog) -> Vec<FkJob> {
    let mut v = Vec::new();
    for (ti, t) in cat.tables.iter().enumerate() {
        for con in t.cons.iter().filter(|c| c.contype == 'f') {
            let not_valid_on_source = con.not_valid();
            let refers = con
                .ref_table
                .as_ref()
                .filter(|_| con.ref_schema.as_deref() == Some(schema))
                .and_then(|r| cat.tables.iter().position(|x| &x.name == r));
            let on = format!("{}.{}", qi(shadow), qi(&t.name));
            v.push(FkJob {
                table: ti,
                refers,
                name: con.name.clone(),
                add_sql: format!(
                    "ALTER TABLE {on} ADD CONSTRAINT {} {}{}",
                    qi(&con.name),
                    con.def,
                    if not_valid_on_source {
                        ""
                    } else {
                        " NOT VALID"
                    }
                ),
                validate_sql: (!not_valid_on_source)
                    .then(|| format!("ALTER TABLE {on} VALIDATE CONSTRAINT {}", qi(&con.name))),
            });
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Run

struct TableJob {
    idx: usize,
    excluded: bool,
}

struct TableResult {
    idx: usize,
    report: TableReport,
    /// The leak probes' source samples, unsealed: the table's check takes and seals them, so
    /// that their sorting does not hold up the copy's end.
    probes: std::sync::Mutex<Vec<ProbeSet>>,
    /// Every probed column's rule gives the same output on every row.
    constant_probes: bool,
    format: Format,
    copied_cols: Vec<String>,
}

#[derive(Clone)]
struct Plan {
    transforms: Vec<TableTransform>,
    types: Vec<Vec<BinType>>,
    copied: Vec<Vec<String>>,
    /// Per table, whether every copied column's type means the same on both servers.
    portable: Vec<bool>,
    /// Per table and copied column: a constant rule's value in the column type's binary
    /// format, as the target server encoded it ([`encode_constants`]).
    encoded: Vec<Vec<Option<Vec<u8>>>>,
}

impl Plan {
    /// Binary COPY when every copied column means the same on both servers and every touched
    /// one can be written: a type this engine encodes, NULL, or a constant the target encoded.
    /// Otherwise text COPY, which is slower on both servers (every value parsed and printed).
    fn format_of(&self, t: usize) -> Format {
        let (tt, types, encoded) = (&self.transforms[t], &self.types[t], &self.encoded[t]);
        let codable = (0..types.len()).all(|i| {
            if tt.needs_text[i] {
                // Its source value is read by a template or a hash.
                return types[i].decodable();
            }
            let Some(action) = &tt.actions[i] else {
                return true;
            };
            // NULL needs no encoder; a constant the target encoded is written as it gave it.
            action.constant_output() == Some(None) || types[i].decodable() || encoded[i].is_some()
        });
        if self.portable[t] && codable {
            Format::Binary
        } else {
            Format::Text
        }
    }

    /// The value column `i` of table `t` gets on every row, when only the target server can
    /// write it in binary: a constant rule (not NULL) on a type this engine has no encoder for,
    /// and no other rule reads the source value. [`encode_constants`] asks the target for
    /// exactly these; `encoded` holds what it answered.
    fn constant_for_server(&self, t: usize, i: usize) -> Option<String> {
        let tt = &self.transforms[t];
        if tt.needs_text[i] || self.types[t][i].decodable() {
            return None;
        }
        tt.actions[i].as_ref()?.constant_output()?
    }
}

fn build_plan(cat: &PgCatalog, ss: &SourceSchema, rules: &RuleSet) -> Result<Plan, SyncError> {
    let mut plan = Plan {
        transforms: Vec::new(),
        types: Vec::new(),
        copied: Vec::new(),
        portable: Vec::new(),
        encoded: Vec::new(),
    };
    for (t, st) in cat.tables.iter().zip(&ss.tables) {
        // Zipped before filtering: `st.columns` lists every column, generated ones too.
        let cols: Vec<(&PgCol, &ColumnSchema)> = t
            .cols
            .iter()
            .zip(&st.columns)
            .filter(|(c, _)| !c.generated)
            .collect();
        let spec: Vec<_> = cols
            .iter()
            .map(|(c, sc)| (c.name.clone(), sc.plan.transform(), c.max_len))
            .collect();
        let tt = TableTransform::compile(&t.name, &spec, &st.primary_key, &rules.hash_key)?;
        plan.types.push(
            cols.iter()
                .map(|(c, _)| BinType::of(&c.typname, &c.typtype))
                .collect(),
        );
        plan.portable
            .push(cols.iter().all(|(c, _)| binary_portable(c)));
        plan.encoded.push(vec![None; cols.len()]);
        plan.copied
            .push(cols.iter().map(|(c, _)| c.name.clone()).collect());
        plan.transforms.push(tt);
    }
    Ok(plan)
}

/// The columns a sync copies, in order (generated columns are computed by the target).
fn copied_columns(t: &PgTable) -> impl Iterator<Item = &PgCol> {
    t.cols.iter().filter(|c| !c.generated)
}

/// A value as the server sent it in binary, whatever its type.
struct RawValue(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for RawValue {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(raw.to_vec()))
    }
    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

/// Constant rules on columns of types this engine does not encode itself (an IP address for
/// `inet`, a date for `timestamptz`...) get their value encoded once by the target server, so
/// that their table still loads in binary. A value the type rejects is left alone: that table
/// loads as text, and the load reports the value's column.
async fn encode_constants(tgt: &Client, cat: &PgCatalog, plan: &mut Plan) {
    // The same type and value in several tables (a fixed address in two of them) is asked once.
    let mut asked: HashMap<(String, String), Option<Vec<u8>>> = HashMap::new();
    for (t, table) in cat.tables.iter().enumerate() {
        if !plan.portable[t] || plan.format_of(t) == Format::Binary {
            continue;
        }
        for (i, col) in copied_columns(table).enumerate() {
            let Some(value) = plan.constant_for_server(t, i) else {
                continue;
            };
            let key = (col.type_sql.clone(), value);
            if !asked.contains_key(&key) {
                let sql = format!("SELECT $1::text::{}", col.type_sql);
                let bytes = match tgt.query_one(sql.as_str(), &[&key.1]).await {
                    Ok(row) => row.try_get::<_, RawValue>(0).ok().map(|RawValue(b)| b),
                    Err(_) => None,
                };
                asked.insert(key.clone(), bytes);
            }
            plan.encoded[t][i] = asked[&key].clone();
        }
    }
}

pub(crate) async fn run(
    source_url: &str,
    target_url: &str,
    rules: &RuleSet,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let urls = [source_url, target_url];
    run_inner(source_url, target_url, rules, opts)
        .await
        .map_err(|e| scrubbed(e, &urls))
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
    let schema = opts.pg_schema().to_string();
    let shadow = format!("{schema}{SHADOW_SUFFIX}");
    check_name_len(&shadow, MAX_IDENT)?;
    check_name_len(&format!("{schema}{BACKUP_INFIX}{}", stamp()), MAX_IDENT)?;
    let mut report = SyncReport {
        engine: Some(Engine::Postgres),
        source: redact_url(source_url),
        target: redact_url(target_url),
        started_at: now_rfc3339(),
        ..Default::default()
    };

    // 1. Identity: compare what the servers say they are, not how we reached them.
    let (src, snapshot) = open_snapshot(source_url, &schema).await?;
    let tgt = connect(target_url, "target").await?;
    let sid = identity(&src).await?;
    let tid = identity(&tgt).await?;
    if sid == tid {
        return Err(SyncError::SameDatabase(format!(
            "system identifier {}, database {}",
            sid.server, sid.database
        )));
    }
    // One sync per target schema at a time; session-level, released when `tgt` closes.
    let lock_name = format!("stagecraft-sync:{schema}");
    let got: bool = tgt
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&lock_name],
        )
        .await
        .map_err(|e| db_err("taking the target sync lock", e))?
        .get(0);
    if !got {
        return Err(SyncError::Busy(lock_name));
    }

    // 2. Plan.
    let ts = Instant::now();
    let (cat, ss) = inspect_on(&src, &schema, rules, opts).await?;
    if let Some(t) = cat.tables.iter().find(|t| t.partitioned) {
        return Err(SyncError::Unsupported(format!(
            "partitioned table {}",
            t.name
        )));
    }
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
    let mut plan = build_plan(&cat, &ss, rules)?;
    encode_constants(&tgt, &cat, &mut plan).await;
    phase(&mut report, "plan", ts);

    // 3. Shadow schema on the target (dropping a stale one a killed run left behind).
    let ts = Instant::now();
    let stale: bool = tgt
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&shadow],
        )
        .await
        .map_err(|e| db_err("looking for a stale shadow schema", e))?
        .get(0);
    if stale {
        exec(
            &tgt,
            &format!("DROP SCHEMA {} CASCADE", qi(&shadow)),
            "dropping a stale shadow schema",
        )
        .await?;
        report.stale_shadows_dropped.push(shadow.clone());
    }
    let live_exists: bool = tgt
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(|e| db_err("looking for the live schema", e))?
        .get(0);
    let mut ddl = format!(
        "SET search_path = {q}, pg_catalog; CREATE SCHEMA {q};",
        q = qi(&shadow)
    );
    for (name, labels) in &cat.enums {
        let l: Vec<String> = labels.iter().map(|x| ql(x)).collect();
        ddl.push_str(&format!(
            "CREATE TYPE {}.{} AS ENUM ({});",
            qi(&shadow),
            qi(name),
            l.join(", ")
        ));
    }
    for q in cat.seqs.iter().filter(|q| !q.identity) {
        ddl.push_str(&format!(
            "CREATE SEQUENCE {}.{} AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} \
             CACHE {} {};",
            qi(&shadow),
            qi(&q.name),
            q.type_sql,
            q.inc,
            q.min,
            q.max,
            q.start,
            q.cache,
            if q.cycle { "CYCLE" } else { "NO CYCLE" }
        ));
    }
    exec(&tgt, &ddl, "creating the shadow schema").await?;
    phase(&mut report, "schema", ts);
    opts.emit(Progress::Started {
        tables: cat.tables.len(),
    });

    // From here on, any error drops the shadow (best effort; a kill leaves it for the next run).
    let result = load_verify_swap(
        source_url,
        target_url,
        &src,
        &snapshot,
        &tgt,
        &schema,
        &shadow,
        live_exists,
        &cat,
        &ss,
        &plan,
        opts,
        &mut report,
    )
    .await;
    if let Err(e) = result {
        let _ = tgt
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", qi(&shadow)))
            .await;
        return Err(e);
    }
    report.finished_at = now_rfc3339();
    report.duration_ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}

/// Aborts the spawned copy workers when dropped (a failed or killed run must not keep loading).
struct AbortOnDrop(Vec<tokio::task::JoinHandle<Result<(), SyncError>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn load_verify_swap(
    source_url: &str,
    target_url: &str,
    src: &Client,
    snapshot: &str,
    tgt: &Client,
    schema: &str,
    shadow: &str,
    live_exists: bool,
    cat: &PgCatalog,
    ss: &SourceSchema,
    plan: &Plan,
    opts: &SyncOptions,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    // 4. Data: N workers, each with its own source connection in the shared snapshot and its own
    //    target connection; biggest tables first so the tail is short.
    let ts = Instant::now();
    let nworkers = opts.parallelism.max(1).min(cat.tables.len().max(1));
    let mut jobs: Vec<TableJob> = (0..cat.tables.len())
        .map(|idx| TableJob {
            idx,
            excluded: ss.tables[idx].excluded,
        })
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(cat.tables[j.idx].reltuples));
    let work = Arc::new(Mutex::new(Work::new(
        jobs,
        foreign_keys(schema, shadow, cat),
        cat.tables.len(),
    )));
    // ADD CONSTRAINT ... FOREIGN KEY locks both tables: one at a time, so that two of them
    // (tables referencing each other) cannot deadlock.
    let adding_fk = Arc::new(Mutex::new(()));
    // Wakes idle workers when a landed table or a finished step brings new work.
    let more_work = Arc::new(tokio::sync::Notify::new());
    let hasher = ProbeHasher::default();
    let mut workers = Vec::new();
    for _ in 0..nworkers {
        let reader = join_snapshot(source_url, schema, snapshot).await?;
        let w = connect(target_url, "target").await?;
        exec(
            &w,
            &format!(
                "SET search_path = {}, pg_catalog; {WORKER_SETTINGS}",
                qi(shadow)
            ),
            "preparing a target connection",
        )
        .await?;
        workers.push((reader, w));
    }
    // Every worker has imported the snapshot, so the transaction that exported it can end now
    // rather than with the run: on the source, an open snapshot holds back vacuum (dead rows
    // in production pile up) for as long as it lives, and the builds, checks and swap to come
    // do not read the source. Best effort: if the connection is gone, so is its snapshot.
    let _ = src.batch_execute("ROLLBACK").await;
    // Each worker is its own task, so the transforms of different tables run on different
    // cores; the guard aborts them if this run fails or is dropped.
    let workers: Vec<(Arc<Client>, Arc<Client>)> = workers
        .into_iter()
        .map(|(s, t)| (Arc::new(s), Arc::new(t)))
        .collect();
    let results: Arc<Mutex<Vec<Arc<TableResult>>>> = Arc::new(Mutex::new(Vec::new()));
    let checks: Arc<Mutex<Vec<(usize, TableChecks)>>> = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new((
        schema.to_string(),
        shadow.to_string(),
        cat.clone(),
        plan.clone(),
        opts.clone(),
    ));
    let mut tasks = AbortOnDrop(Vec::with_capacity(workers.len()));
    for (wsrc, wtgt) in &workers {
        let (wsrc, wtgt) = (wsrc.clone(), wtgt.clone());
        let work = work.clone();
        let results = results.clone();
        let checks = checks.clone();
        let adding_fk = adding_fk.clone();
        let more_work = more_work.clone();
        let hasher = hasher.clone();
        let shared = shared.clone();
        tasks.0.push(tokio::spawn(async move {
            let (schema, shadow, cat, plan, opts) = &*shared;
            // Whether this worker's source transaction (its share of the snapshot) is open.
            let mut reading = true;
            loop {
                // Registered before the lock is released, so a wake-up that comes between
                // taking "nothing yet" and waiting is not lost.
                let (next, woken) = {
                    let mut w = work.lock().await;
                    (w.next(), more_work.notified())
                };
                // Copies are handed out first, so a worker offered anything else will read no
                // more: its snapshot is released now, not when the last index is built. Best
                // effort: the data is read, and a connection that is gone holds nothing.
                if reading && !matches!(next, Next::Copy(_)) {
                    reading = false;
                    let _ = wsrc.batch_execute("ROLLBACK").await;
                }
                match next {
                    Next::Copy(job) => {
                        let r = copy_table(
                            &wsrc, &wtgt, schema, shadow, cat, plan, &job, opts, &hasher,
                        )
                        .await?;
                        opts.emit(Progress::TableLoaded {
                            table: r.report.name.clone(),
                            rows: r.report.rows,
                        });
                        results.lock().await.push(Arc::new(r));
                        let t = &cat.tables[job.idx];
                        work.lock().await.loaded(job.idx, post_data_sql(shadow, t));
                        more_work.notify_waiters();
                    }
                    Next::Step(step) => {
                        let table = &cat.tables[step.table].name;
                        match step.kind {
                            StepKind::Build { sql, then } => {
                                let what = format!("building keys and indexes of {table}");
                                exec(&wtgt, &sql, &what).await?;
                                work.lock().await.built(step.table, then);
                            }
                            StepKind::ForeignKey(i) => {
                                let (name, add, validate) = {
                                    let w = work.lock().await;
                                    let f = &w.foreign_keys[i];
                                    (f.name.clone(), f.add_sql.clone(), f.validate_sql.clone())
                                };
                                {
                                    let _one_at_a_time = adding_fk.lock().await;
                                    let what = format!("adding foreign key {name} on {table}");
                                    exec(&wtgt, &add, &what).await?;
                                }
                                if let Some(sql) = validate {
                                    let what = format!("validating foreign key {name} on {table}");
                                    exec(&wtgt, &sql, &what).await?;
                                }
                                work.lock().await.done(step.table, false);
                            }
                        }
                        more_work.notify_waiters();
                    }
                    Next::Check(idx) => {
                        let r = results
                            .lock()
                            .await
                            .iter()
                            .find(|r| r.idx == idx)
                            .cloned()
                            .expect("a table is checked after its copy");
                        let found =
                            verify_data(&wtgt, shadow, &cat.tables[idx], &r, &hasher).await?;
                        checks.lock().await.push((idx, found));
                    }
                    Next::Analyze(idx) => {
                        // Fresh statistics, so staging's first queries are not planned blind.
                        exec(
                            &wtgt,
                            &format!("ANALYZE {}.{}", qi(shadow), qi(&cat.tables[idx].name)),
                            "analyzing",
                        )
                        .await?
                    }
                    Next::Wait => woken.await,
                    Next::Done => break,
                }
            }
            Ok::<(), SyncError>(())
        }));
    }
    // The first failure ends the data phase (the guard aborts the other workers).
    let mut pending: futures::stream::FuturesUnordered<_> = tasks.0.iter_mut().collect();
    while let Some(done) = pending.next().await {
        match done {
            Ok(r) => r?,
            Err(e) => {
                return Err(SyncError::Database {
                    context: "copying the data".into(),
                    message: format!("a copy worker stopped: {e}"),
                })
            }
        }
    }
    drop(pending);
    drop(tasks);
    let mut results: Vec<Arc<TableResult>> = std::mem::take(&mut *results.lock().await);
    results.sort_by_key(|r| r.idx);
    let checks = std::mem::take(&mut *checks.lock().await);
    for r in &results {
        report.rows_copied += r.report.rows;
        report.bytes_read += r.report.bytes_read;
        report.bytes_written += r.report.bytes_written;
    }
    report.tables = results.iter().map(|r| r.report.clone()).collect();
    // The data phase ends with the last table's copy; the builds, foreign keys, table checks
    // and ANALYZE that ran beside and after it are the "constraints" phase.
    let last_loaded = work.lock().await.last_loaded.unwrap_or_else(Instant::now);
    report.phases.push(PhaseTiming {
        name: "data".into(),
        ms: last_loaded.duration_since(ts).as_millis() as u64,
    });
    phase(report, "constraints", last_loaded);
    let ts = Instant::now();
    // Each worker released its share of the snapshot when it ran out of tables to copy; what
    // is left runs on `tgt`.
    drop(workers);

    // 5. Keys, indexes and foreign keys are built (by the workers, as each table's data
    //    landed); then views and sequences.
    let mut ddl = String::new();
    for q in cat.seqs.iter().filter(|q| !q.identity) {
        if let Some((t, c)) = &q.owned_by {
            ddl.push_str(&format!(
                "ALTER SEQUENCE {}.{} OWNED BY {}.{}.{};",
                qi(shadow),
                qi(&q.name),
                qi(shadow),
                qi(t),
                qi(c)
            ));
        }
    }
    exec(tgt, &ddl, "attaching sequences to their columns").await?;
    exec(
        tgt,
        &format!("SET search_path = {}, pg_catalog", qi(shadow)),
        "setting the target search path",
    )
    .await?;
    create_views(tgt, shadow, &cat.views).await?;
    set_sequences(tgt, shadow, cat, report).await?;
    copy_privileges(tgt, schema, shadow, live_exists, report).await;
    phase(report, "views and sequences", ts);

    // 6. Verify the shadow before anyone can see it (the row counts and leak probes ran as each
    //    table's indexes were built).
    let ts = Instant::now();
    verify(tgt, shadow, cat, ss, checks, report).await?;
    phase(report, "verify", ts);
    if !report.verification.passed {
        return Err(SyncError::Verification(Box::new(report.clone())));
    }
    opts.emit(Progress::Verified);

    // 7. Swap: two renames in one transaction.
    let ts = Instant::now();
    let shadow_oids = table_oids(tgt, shadow).await?;
    let backup = if live_exists {
        Some(new_backup_name(tgt, schema).await?)
    } else {
        None
    };
    let mut sql = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms';",
        opts.swap_lock_timeout.as_millis()
    );
    if let Some(b) = &backup {
        sql.push_str(&format!("ALTER SCHEMA {} RENAME TO {};", qi(schema), qi(b)));
    }
    sql.push_str(&format!(
        "ALTER SCHEMA {} RENAME TO {}; COMMIT;",
        qi(shadow),
        qi(schema)
    ));
    if let Err(e) = tgt.batch_execute(&sql).await {
        let _ = tgt.batch_execute("ROLLBACK").await;
        return Err(db_err("swapping the new data in", e));
    }
    report.backup = backup.clone();
    opts.emit(Progress::Swapped {
        backup: backup.clone(),
    });
    let live_oids = table_oids(tgt, schema).await?;
    for t in &cat.tables {
        let ok =
            shadow_oids.contains_key(&t.name) && shadow_oids.get(&t.name) == live_oids.get(&t.name);
        report.verification.push(
            CheckKind::Swap,
            &t.name,
            "",
            ok,
            if ok {
                format!("{schema}.{} is the verified table", t.name)
            } else {
                format!("{schema}.{} does not resolve to the verified table", t.name)
            },
        );
    }
    phase(report, "swap", ts);

    // 8. Retention.
    let backups = list_backups_on(tgt, schema).await?;
    let excess = backups.len().saturating_sub(opts.backup_retention);
    for b in backups.iter().take(excess) {
        if let Some(dep) = external_dependents(tgt, b).await? {
            report
                .warnings
                .push(format!("backup {b} kept: {dep} outside it depends on it"));
            continue;
        }
        exec(
            tgt,
            &format!("DROP SCHEMA {} CASCADE", qi(b)),
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

#[allow(clippy::too_many_arguments)]
async fn copy_table(
    src: &Client,
    tgt: &Client,
    schema: &str,
    shadow: &str,
    cat: &PgCatalog,
    plan: &Plan,
    job: &TableJob,
    opts: &SyncOptions,
    hasher: &ProbeHasher,
) -> Result<TableResult, SyncError> {
    let t0 = Instant::now();
    let t = &cat.tables[job.idx];
    let format = plan.format_of(job.idx);
    let cols = &plan.copied[job.idx];
    let tt = plan.transforms[job.idx].clone();
    let sanitized: Vec<String> = cols
        .iter()
        .zip(&tt.actions)
        .filter(|(_, a)| a.is_some())
        .map(|(c, _)| c.clone())
        .collect();
    let constant_probes = tt.actions.iter().flatten().all(|a| a.is_constant());
    let ctx = |what: &str| format!("{what} {}", t.name);
    exec(tgt, "BEGIN", &ctx("starting the load of")).await?;
    exec(tgt, &create_table_sql(shadow, t), &ctx("creating")).await?;
    let mut report = TableReport {
        name: t.name.clone(),
        columns_sanitized: sanitized,
        method: match (job.excluded, format) {
            (true, _) => "schema_only",
            (false, Format::Binary) => "binary_copy",
            (false, Format::Text) => "text_copy",
        }
        .into(),
        ..Default::default()
    };
    let mut probes = Vec::new();
    if !job.excluded && !cols.is_empty() {
        let collist: Vec<String> = cols.iter().map(|c| qi(c)).collect();
        let fmt = match format {
            Format::Binary => "binary",
            Format::Text => "text",
        };
        let copy_in = format!(
            "COPY {}.{} ({}) FROM STDIN (FORMAT {fmt}, FREEZE)",
            qi(shadow),
            qi(&t.name),
            collist.join(", ")
        );
        let copy_out = format!(
            "COPY {}.{} ({}) TO STDOUT (FORMAT {fmt})",
            qi(schema),
            qi(&t.name),
            collist.join(", ")
        );
        let sink = tgt
            .copy_in::<_, bytes::Bytes>(copy_in.as_str())
            .await
            .map_err(|e| db_err(ctx("starting COPY into"), e))?;
        let stream = src
            .copy_out(copy_out.as_str())
            .await
            .map_err(|e| db_err(ctx("starting COPY out of"), e))?;
        pin_mut!(sink);
        pin_mut!(stream);
        let mut tc = Transcoder::new(
            format,
            plan.types[job.idx].clone(),
            tt,
            opts.leak_probe_limit,
            hasher.clone(),
            &plan.encoded[job.idx],
        );
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| db_err(ctx("reading"), e))?;
            tc.push(&chunk).map_err(|m| SyncError::Database {
                context: ctx("transforming"),
                message: m,
            })?;
            if tc.pending() >= FLUSH_BYTES {
                sink.send(tc.take())
                    .await
                    .map_err(|e| db_err(ctx("writing"), e))?;
            }
        }
        tc.finish().map_err(|m| SyncError::Database {
            context: ctx("transforming"),
            message: m,
        })?;
        let last = tc.take();
        if !last.is_empty() {
            sink.send(last)
                .await
                .map_err(|e| db_err(ctx("writing"), e))?;
        }
        let n = sink
            .finish()
            .await
            .map_err(|e| db_err(ctx("finishing COPY into"), e))?;
        if n != tc.rows {
            return Err(SyncError::Database {
                context: ctx("loading"),
                message: format!("read {} rows but the target stored {n}", tc.rows),
            });
        }
        report.rows = tc.rows;
        report.bytes_read = tc.bytes_in;
        report.bytes_written = tc.bytes_out;
        probes = std::mem::take(&mut tc.probes);
    }
    exec(tgt, "COMMIT", &ctx("committing")).await?;
    report.duration_ms = t0.elapsed().as_millis() as u64;
    Ok(TableResult {
        idx: job.idx,
        report,
        probes: std::sync::Mutex::new(probes),
        constant_probes,
        format,
        copied_cols: cols.clone(),
    })
}

async fn create_views(
    tgt: &Client,
    shadow: &str,
    views: &[(String, String)],
) -> Result<(), SyncError> {
    // Views may depend on each other; retry the failures until no progress is made.
    let mut pending: Vec<&(String, String)> = views.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_err = None;
        for v in &pending {
            let sql = format!(
                "CREATE VIEW {}.{} AS {}",
                qi(shadow),
                qi(&v.0),
                v.1.trim_end_matches(';')
            );
            if let Err(e) = tgt.batch_execute(&sql).await {
                last_err = Some(db_err(format!("creating view {}", v.0), e));
                failed.push(*v);
            }
        }
        if failed.len() == pending.len() {
            return Err(last_err.expect("a failure was recorded"));
        }
        pending = failed;
    }
    Ok(())
}

/// Sequences past the highest value in their column (or the source's last value when that is
/// higher and readable).
async fn set_sequences(
    tgt: &Client,
    shadow: &str,
    cat: &PgCatalog,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    for q in &cat.seqs {
        let Some((t, c)) = &q.owned_by else {
            if let Some(v) = q.last_value {
                exec(
                    tgt,
                    &format!(
                        "SELECT setval({}, {v}, true)",
                        ql(&format!("{}.{}", qi(shadow), qi(&q.name)))
                    ),
                    "setting a sequence",
                )
                .await?;
                report.sequences.push(SequenceReport {
                    name: q.name.clone(),
                    value: v,
                });
            }
            continue;
        };
        if q.inc < 0 {
            continue;
        }
        let rows = text_rows(
            tgt,
            &format!(
                "SELECT pg_get_serial_sequence({}, {}), (SELECT max({})::int8 FROM {}.{})",
                ql(&format!("{}.{}", qi(shadow), qi(t))),
                ql(c),
                qi(c),
                qi(shadow),
                qi(t)
            ),
            "reading a sequence's column max",
        )
        .await?;
        let Some(row) = rows.first() else { continue };
        let Some(seq) = row[0].clone() else { continue };
        let max: Option<i64> = row[1].as_deref().and_then(|x| x.parse().ok());
        let value = match (max, q.last_value) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(v) = value {
            exec(
                tgt,
                &format!("SELECT setval({}, {v}, true)", ql(&seq)),
                "setting a sequence",
            )
            .await?;
            report.sequences.push(SequenceReport {
                name: q.name.clone(),
                value: v,
            });
        }
    }
    Ok(())
}

/// The staging roles' access must survive the swap: grant on the shadow what the live objects
/// grant, and hand ownership to the live owners. Best effort: failures become warnings.
async fn copy_privileges(
    tgt: &Client,
    live: &str,
    shadow: &str,
    live_exists: bool,
    report: &mut SyncReport,
) {
    if !live_exists {
        return;
    }
    let mut stmts = Vec::new();
    let q = format!(
        "SELECT 'SCHEMA', NULL, n.nspowner::regrole::text, \
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END, \
           a.privilege_type, a.is_grantable \
         FROM pg_namespace n LEFT JOIN LATERAL aclexplode(n.nspacl) a ON true WHERE n.nspname = {l} \
         UNION ALL \
         SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.relname, \
           c.relowner::regrole::text, \
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END, \
           a.privilege_type, a.is_grantable \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN LATERAL aclexplode(c.relacl) a ON true \
         WHERE n.nspname = {l} AND c.relkind IN ('r','p','v','S')",
        l = ql(live)
    );
    let rows = match text_rows(tgt, &q, "reading live privileges").await {
        Ok(r) => r,
        Err(e) => {
            report.warnings.push(format!("privileges not copied: {e}"));
            return;
        }
    };
    let exists = match text_rows(
        tgt,
        &format!(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {}",
            ql(shadow)
        ),
        "listing shadow objects",
    )
    .await
    {
        Ok(r) => r
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        Err(_) => Vec::new(),
    };
    let mut owners_done = std::collections::HashSet::new();
    for r in rows {
        let kind = s(&r[0]);
        let name = match (&kind[..], &r[1]) {
            ("SCHEMA", _) => qi(shadow),
            (_, Some(name)) if exists.contains(name) => format!("{}.{}", qi(shadow), qi(name)),
            _ => continue,
        };
        let obj = format!("{kind} {name}");
        if let Some(owner) = &r[2] {
            if owners_done.insert(obj.clone()) {
                // regrole::text is already quoted where needed.
                stmts.push(format!("ALTER {obj} OWNER TO {owner}"));
            }
        }
        if let (Some(grantee), Some(privilege)) = (&r[3], &r[4]) {
            stmts.push(format!(
                "GRANT {privilege} ON {obj} TO {grantee}{}",
                if r[5].as_deref() == Some("t") {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            ));
        }
    }
    for st in stmts {
        if let Err(e) = tgt.batch_execute(&st).await {
            report.warnings.push(format!("{}: {}", st, db_err("", e)));
        }
    }
}

async fn table_oids(c: &Client, schema: &str) -> Result<HashMap<String, String>, SyncError> {
    Ok(text_rows(
        c,
        &format!(
            "SELECT c.relname, c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = {} AND c.relkind = 'r'",
            ql(schema)
        ),
        "reading table identities",
    )
    .await?
    .into_iter()
    .map(|r| (s(&r[0]), s(&r[1])))
    .collect())
}

/// A `count(*)` field of a COPY stream.
fn group_count(format: Format, v: &[u8]) -> Option<u64> {
    match format {
        Format::Binary => Some(i64::from_be_bytes(v.try_into().ok()?) as u64),
        Format::Text => std::str::from_utf8(v).ok()?.parse().ok(),
    }
}

/// A table's row-count check and its leak-probe checks.
type TableChecks = (Check, Vec<Check>);

/// The checks that read a table's data: its row count and its leak probes. One scan reads all
/// probed columns and counts the rows too; a table without probes is counted on its own.
async fn verify_data(
    c: &Client,
    shadow: &str,
    t: &PgTable,
    r: &TableResult,
    hasher: &ProbeHasher,
) -> Result<TableChecks, SyncError> {
    // The copy left its samples unsealed; each table is checked once, so they are taken here.
    let mut samples =
        std::mem::take(&mut *r.probes.lock().expect("nothing panics holding the probes"));
    for p in &mut samples {
        p.seal();
    }
    let mut counted: Option<u64> = None;
    let mut probes = Vec::new();
    // Leak probe: stream the sanitized target columns (one scan of the table for all of them)
    // and look their values up among the source values remembered during the copy. Reports
    // counts only, never values.
    if !samples.is_empty() {
        let cols: Vec<&String> = samples.iter().map(|p| &r.copied_cols[p.column]).collect();
        let fmt = match r.format {
            Format::Binary => "binary",
            Format::Text => "text",
        };
        let what = || format!("probing {}", t.name);
        let list = cols.iter().map(|c| qi(c)).collect::<Vec<_>>().join(", ");
        let from = format!("{}.{}", qi(shadow), qi(&t.name));
        // Columns whose rules give every row the same value are read grouped: each distinct
        // target value once, with its count. Still every value is looked up; PostgreSQL just
        // does not send the same one millions of times.
        let query = if r.constant_probes {
            format!("SELECT {list}, count(*) FROM {from} GROUP BY {list}")
        } else {
            format!("SELECT {list} FROM {from}")
        };
        let stream = c
            .copy_out(&format!("COPY ({query}) TO STDOUT (FORMAT {fmt})"))
            .await
            .map_err(|e| db_err(what(), e))?;
        pin_mut!(stream);
        let k = cols.len();
        let mut scanner = ColumnScanner::new(r.format, k + usize::from(r.constant_probes));
        let (mut hits, mut scanned) = (vec![0u64; k], vec![0u64; k]);
        // The grouped stream's row in progress: per column, whether its value was a hit
        // (None: NULL); the count that ends the row weighs it.
        let mut row: Vec<Option<bool>> = vec![None; k];
        let mut rows = 0u64;
        let mut bad_count = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| db_err(what(), e))?;
            scanner
                .push(&chunk, &mut |n, v| {
                    if n < k {
                        let hit = samples[n].contains(hash_bytes(hasher, v));
                        if !r.constant_probes {
                            scanned[n] += 1;
                            hits[n] += u64::from(hit);
                        } else {
                            row[n] = Some(hit);
                        }
                        return;
                    }
                    // The count that ends a grouped row (never NULL).
                    let Some(weight) = group_count(r.format, v) else {
                        bad_count = true;
                        return;
                    };
                    rows += weight;
                    for (j, seen) in row.iter_mut().enumerate() {
                        if let Some(hit) = seen.take() {
                            scanned[j] += weight;
                            hits[j] += if hit { weight } else { 0 };
                        }
                    }
                })
                .map_err(|m| SyncError::Database {
                    context: what(),
                    message: m,
                })?;
        }
        if bad_count {
            return Err(SyncError::Database {
                context: what(),
                message: "a group count is not a number".into(),
            });
        }
        counted = Some(if r.constant_probes {
            rows
        } else {
            scanner.rows
        });
        for (n, p) in samples.iter().enumerate() {
            probes.push(p.check(&t.name, cols[n], hits[n], scanned[n]));
        }
    }
    let n = match counted {
        Some(n) => n,
        None => {
            let n: i64 = c
                .query_one(
                    &format!("SELECT count(*) FROM {}.{}", qi(shadow), qi(&t.name)),
                    &[],
                )
                .await
                .map_err(|e| db_err(format!("counting {}", t.name), e))?
                .get(0);
            n as u64
        }
    };
    let count = Check::new(
        CheckKind::RowCount,
        &t.name,
        "",
        n == r.report.rows,
        format!("source {} rows, target {n}", r.report.rows),
    );
    Ok((count, probes))
}

async fn verify(
    tgt: &Client,
    shadow: &str,
    cat: &PgCatalog,
    ss: &SourceSchema,
    checks: Vec<(usize, TableChecks)>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let mut by_table: HashMap<usize, TableChecks> = checks.into_iter().collect();
    let v = &mut report.verification;
    v.passed = true;
    let mut probes = Vec::new();
    for (idx, t) in cat.tables.iter().enumerate() {
        match by_table.remove(&idx) {
            Some((count, p)) => {
                v.record(count);
                probes.push(p);
            }
            // Cannot happen while every landed table is checked; a table that slipped through
            // must fail the run rather than pass unchecked.
            None => v.push(
                CheckKind::RowCount,
                &t.name,
                "",
                false,
                "not checked".into(),
            ),
        }
    }
    for (t, st) in cat.tables.iter().zip(&ss.tables) {
        // PostgreSQL validated every row when the constraint was validated above; what is
        // left to check is that the constraint is there and marked valid.
        for fk in &st.foreign_keys {
            let row = tgt
                .query_one(
                    "SELECT count(*), coalesce(bool_and(con.convalidated), false) \
                     FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace \
                     WHERE n.nspname = $1 AND con.conname = $2",
                    &[&shadow, &fk.name],
                )
                .await
                .map_err(|e| db_err("reading constraint state", e))?;
            let (present, valid) = (row.get::<_, i64>(0) == 1, row.get::<_, bool>(1));
            // A key NOT VALID on the source is copied NOT VALID (production's own rows were
            // never checked against it, and staging holds the same rows): it must be there,
            // and it cannot be asked to be more valid than production's.
            let not_valid = t.cons.iter().any(|c| c.name == fk.name && c.not_valid());
            let (ok, detail) = if not_valid {
                (
                    present,
                    format!("NOT VALID on the source; present, not validated: {present}"),
                )
            } else {
                (
                    present && valid,
                    format!("constraint present and validated against every row: {valid}"),
                )
            };
            v.push(CheckKind::ForeignKey, &t.name, &fk.name, ok, detail);
        }
        for u in &st.uniques {
            let ok: bool = tgt
                .query_one(
                    "SELECT coalesce(bool_and(i.indisvalid AND i.indisunique), false) FROM pg_index i \
                     JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace \
                     WHERE n.nspname = $1 AND ic.relname = $2",
                    &[&shadow, &u.name],
                )
                .await
                .map_err(|e| db_err("reading index state", e))?
                .get(0);
            v.push(
                CheckKind::Unique,
                &t.name,
                &u.name,
                ok,
                if ok {
                    "unique index present and valid".into()
                } else {
                    "unique index missing or invalid".into()
                },
            );
        }
    }
    for sq in &report.sequences {
        let Some(q) = cat.seqs.iter().find(|q| q.name == sq.name) else {
            continue;
        };
        let Some((t, c)) = &q.owned_by else { continue };
        let rows = text_rows(
            tgt,
            &format!(
                "SELECT (SELECT last_value FROM {}.{}) >= coalesce((SELECT max({})::int8 FROM {}.{}), 0)",
                qi(shadow),
                qi(&q.name),
                qi(c),
                qi(shadow),
                qi(t)
            ),
            "checking a sequence",
        )
        .await;
        // Identity sequences have generated names; look them up when the plain name fails.
        let ok = match rows {
            Ok(r) => r.first().and_then(|x| x[0].clone()).as_deref() == Some("t"),
            Err(_) => {
                let r = text_rows(
                    tgt,
                    &format!(
                        "SELECT pg_sequence_last_value(pg_get_serial_sequence({}, {})::regclass) \
                         >= coalesce((SELECT max({})::int8 FROM {}.{}), 0)",
                        ql(&format!("{}.{}", qi(shadow), qi(t))),
                        ql(c),
                        qi(c),
                        qi(shadow),
                        qi(t)
                    ),
                    "checking a sequence",
                )
                .await?;
                r.first().and_then(|x| x[0].clone()).as_deref() == Some("t")
            }
        };
        v.push(
            CheckKind::Sequence,
            t,
            &sq.name,
            ok,
            format!("set to {}", sq.value),
        );
    }
    for c in probes.into_iter().flatten() {
        v.record(c);
    }
    Ok(())
}

async fn list_backups_on(c: &Client, schema: &str) -> Result<Vec<String>, SyncError> {
    let prefix = format!("{schema}{BACKUP_INFIX}");
    let mut v: Vec<String> = text_rows(
        c,
        "SELECT nspname::text FROM pg_namespace",
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

/// Views or foreign keys outside `schema` that point into it (they would be dropped by
/// `DROP SCHEMA ... CASCADE`).
async fn external_dependents(c: &Client, schema: &str) -> Result<Option<String>, SyncError> {
    let rows = text_rows(
        c,
        &format!(
            "SELECT dn.nspname || '.' || dc.relname FROM pg_depend d \
             JOIN pg_rewrite rw ON rw.oid = d.objid AND d.classid = 'pg_rewrite'::regclass \
             JOIN pg_class dc ON dc.oid = rw.ev_class JOIN pg_namespace dn ON dn.oid = dc.relnamespace \
             JOIN pg_class rc ON rc.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass \
             JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
             WHERE rn.nspname = {l} AND dn.nspname <> {l} \
             UNION SELECT cn.nspname || '.' || cc.relname FROM pg_constraint con \
             JOIN pg_class cc ON cc.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace \
             JOIN pg_class fc ON fc.oid = con.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
             WHERE con.contype = 'f' AND fn.nspname = {l} AND cn.nspname <> {l} LIMIT 1",
            l = ql(schema)
        ),
        "looking for objects that depend on a backup",
    )
    .await?;
    Ok(rows.into_iter().next().and_then(|r| r[0].clone()))
}

/// `<schema>__sds_bak_<UTC stamp>`, with `_2`, `_3`... when two land in the same second;
/// names sort in creation order.
async fn new_backup_name(c: &Client, schema: &str) -> Result<String, SyncError> {
    let existing = list_backups_on(c, schema).await?;
    let base = format!("{schema}{BACKUP_INFIX}{}", stamp());
    let mut name = base.clone();
    let mut n = 1;
    while existing.contains(&name) {
        n += 1;
        name = format!("{base}_{n}");
    }
    check_name_len(&name, MAX_IDENT)?;
    Ok(name)
}

pub(crate) async fn list_backups(url: &str, opts: &SyncOptions) -> Result<Vec<String>, SyncError> {
    let c = connect(url, "target")
        .await
        .map_err(|e| scrubbed(e, &[url]))?;
    list_backups_on(&c, opts.pg_schema()).await
}

pub(crate) async fn restore_backup(
    url: &str,
    backup: &str,
    opts: &SyncOptions,
) -> Result<String, SyncError> {
    let schema = opts.pg_schema();
    let c = connect(url, "target")
        .await
        .map_err(|e| scrubbed(e, &[url]))?;
    if !backup.starts_with(&format!("{schema}{BACKUP_INFIX}")) {
        return Err(SyncError::BackupNotFound(backup.to_string()));
    }
    let backups = list_backups_on(&c, schema).await?;
    if !backups.iter().any(|b| b == backup) {
        return Err(SyncError::BackupNotFound(backup.to_string()));
    }
    let lock_name = format!("stagecraft-sync:{schema}");
    let got: bool = c
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
            &[&lock_name],
        )
        .await
        .map_err(|e| db_err("taking the target sync lock", e))?
        .get(0);
    if !got {
        return Err(SyncError::Busy(lock_name));
    }
    // The data being replaced becomes a backup too, so a restore can itself be undone.
    let displaced = new_backup_name(&c, schema).await?;
    let sql = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; ALTER SCHEMA {} RENAME TO {}; \
         ALTER SCHEMA {} RENAME TO {}; COMMIT;",
        opts.swap_lock_timeout.as_millis(),
        qi(schema),
        qi(&displaced),
        qi(backup),
        qi(schema)
    );
    if let Err(e) = c.batch_execute(&sql).await {
        let _ = c.batch_execute("ROLLBACK").await;
        return Err(db_err("swapping the backup in", e));
    }
    Ok(displaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(table: usize, refers: Option<usize>) -> FkJob {
        FkJob {
            table,
            refers,
            name: format!("fk{table}"),
            add_sql: String::new(),
            validate_sql: None,
        }
    }

    fn copy(idx: usize) -> TableJob {
        TableJob {
            idx,
            excluded: false,
        }
    }

    /// What `next` hands out now, as a label (steps stay running until `done`).
    fn take(w: &mut Work) -> String {
        match w.next() {
            Next::Copy(j) => format!("copy {}", j.idx),
            Next::Step(Step {
                table,
                kind: StepKind::Build { sql, .. },
                ..
            }) => format!("build {table} {sql}"),
            Next::Step(Step {
                table,
                kind: StepKind::ForeignKey(i),
                ..
            }) => format!("fk {table}->{:?} #{i}", w.foreign_keys[i].refers),
            Next::Check(t) => format!("check {t}"),
            Next::Analyze(t) => format!("analyze {t}"),
            Next::Wait => "wait".into(),
            Next::Done => "done".into(),
        }
    }

    #[test]
    fn foreign_keys_wait_for_both_tables_and_analyze_for_the_foreign_keys() {
        // Table 0 (messages) references table 1 (users); table 1 lands first.
        let mut w = Work::new(vec![copy(0), copy(1)], vec![fk(0, Some(1))], 2);
        assert_eq!(take(&mut w), "copy 0");
        assert_eq!(take(&mut w), "copy 1");
        assert_eq!(take(&mut w), "wait");
        w.loaded(1, vec![vec!["CREATE UNIQUE INDEX users_pkey".into()]]);
        assert_eq!(take(&mut w), "build 1 CREATE UNIQUE INDEX users_pkey");
        assert_eq!(take(&mut w), "wait", "nothing else until the key exists");
        w.done(1, true);
        // users is complete (it has no foreign keys of its own), messages is still loading.
        assert_eq!(take(&mut w), "check 1");
        assert_eq!(take(&mut w), "analyze 1");
        assert_eq!(take(&mut w), "wait");
        w.loaded(
            0,
            vec![
                vec!["ALTER TABLE messages ADD CONSTRAINT x EXCLUDE".into()],
                vec!["CREATE INDEX ON messages (sender_id)".into()],
                vec!["CREATE INDEX ON messages (created_at)".into()],
            ],
        );
        assert_eq!(
            take(&mut w),
            "build 0 ALTER TABLE messages ADD CONSTRAINT x EXCLUDE"
        );
        assert_eq!(take(&mut w), "wait", "the exclusive build holds the table");
        w.done(0, true);
        // Plain index builds of one table run side by side.
        assert_eq!(take(&mut w), "build 0 CREATE INDEX ON messages (sender_id)");
        assert_eq!(
            take(&mut w),
            "build 0 CREATE INDEX ON messages (created_at)"
        );
        assert_eq!(
            take(&mut w),
            "wait",
            "the foreign key waits for every build"
        );
        w.done(0, true);
        w.done(0, true);
        // The checks only read, so they run beside the validation; ANALYZE waits for it.
        assert_eq!(take(&mut w), "fk 0->Some(1) #0");
        assert_eq!(take(&mut w), "check 0");
        assert_eq!(take(&mut w), "wait");
        w.done(0, false);
        assert_eq!(take(&mut w), "analyze 0");
        assert_eq!(take(&mut w), "done");
    }

    #[test]
    fn a_built_key_is_attached_once_no_other_step_holds_its_table() {
        let attach = "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey";
        let mut w = Work::new(vec![copy(0), copy(1)], vec![], 2);
        take(&mut w);
        take(&mut w);
        w.loaded(
            0,
            vec![
                vec!["CREATE UNIQUE INDEX t_pkey".into(), attach.into()],
                vec!["CREATE UNIQUE INDEX t_token_key".into()],
            ],
        );
        assert_eq!(take(&mut w), "build 0 CREATE UNIQUE INDEX t_pkey");
        assert_eq!(take(&mut w), "build 0 CREATE UNIQUE INDEX t_token_key");
        w.built(0, vec![attach.into()]);
        assert_eq!(
            take(&mut w),
            "wait",
            "attaching the key waits until the other build lets go of the table"
        );
        w.loaded(1, vec![vec!["CREATE UNIQUE INDEX u_pkey".into()]]);
        assert_eq!(
            take(&mut w),
            "build 1 CREATE UNIQUE INDEX u_pkey",
            "meanwhile, the worker that built the key takes other work"
        );
        w.built(0, vec![]);
        assert_eq!(take(&mut w), format!("build 0 {attach}"));
        assert_eq!(
            take(&mut w),
            "wait",
            "table 0 is indexed once its key is attached"
        );
        w.built(0, vec![]);
        assert_eq!(take(&mut w), "check 0");
        assert_eq!(take(&mut w), "analyze 0");
        w.built(1, vec![]);
        assert_eq!(take(&mut w), "check 1");
        assert_eq!(take(&mut w), "analyze 1");
        assert_eq!(take(&mut w), "done");
    }

    #[test]
    fn plain_keys_are_built_as_unique_indexes_and_the_rest_as_constraints() {
        assert_eq!(
            plain_key("PRIMARY KEY (user_id, name)"),
            Some(("PRIMARY KEY", "user_id, name"))
        );
        assert_eq!(
            plain_key("UNIQUE (\"E-mail\")"),
            Some(("UNIQUE", "\"E-mail\""))
        );
        for def in [
            "UNIQUE NULLS NOT DISTINCT (email)",
            "UNIQUE (email) INCLUDE (name)",
            "UNIQUE (email) DEFERRABLE INITIALLY DEFERRED",
            "PRIMARY KEY (id) WITH (fillfactor='70')",
            "EXCLUDE USING gist (room WITH =, during WITH &&)",
        ] {
            assert_eq!(plain_key(def), None, "{def}");
        }
    }

    #[test]
    fn tables_referencing_each_other_get_both_foreign_keys_once() {
        let mut w = Work::new(
            vec![copy(0), copy(1)],
            vec![fk(0, Some(1)), fk(1, Some(0)), fk(1, Some(1)), fk(0, None)],
            2,
        );
        take(&mut w);
        take(&mut w);
        w.loaded(0, vec![]);
        // Table 0's key to a table outside the sync needs only table 0.
        assert_eq!(take(&mut w), "fk 0->None #3");
        assert_eq!(take(&mut w), "check 0");
        assert_eq!(
            take(&mut w),
            "wait",
            "one foreign-key step per table at a time"
        );
        w.done(0, false);
        w.loaded(1, vec![]);
        let mut seen = vec![];
        loop {
            match take(&mut w).as_str() {
                "done" => break,
                "wait" => panic!("nothing is running, yet it waits: {seen:?}"),
                s => {
                    seen.push(s.to_string());
                    if let Some(rest) = s.strip_prefix("fk ") {
                        let table: usize = rest[..1].parse().unwrap();
                        w.done(table, false);
                    }
                }
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "analyze 0",
                "analyze 1",
                "check 1",
                "fk 0->Some(1) #0",
                "fk 1->Some(0) #1",
                "fk 1->Some(1) #2"
            ]
        );
    }
}
