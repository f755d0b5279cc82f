//! Schema and state of `staging_sanitized_db_sync`.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};
use crate::tfplugin::timeouts::{self, Timeouts};
use crate::tfplugin::{Tf, Type, Value};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DbSync {
    pub id: Tf<String>,
    pub source_secret_arn: Tf<String>,
    pub source_url_wo: Tf<String>,
    pub target_secret_arn: Tf<String>,
    pub target_url_wo: Tf<String>,
    pub schema_name: Tf<String>,
    pub tables: Tf<Vec<String>>,
    pub exclude_tables: Tf<Vec<String>>,
    pub preset: Tf<String>,
    pub unsanitized_pii: Tf<String>,
    pub hash_key_wo: Tf<String>,
    pub triggers: Tf<BTreeMap<String, String>>,
    pub parallelism: Tf<i64>,
    pub backup_retention: Tf<i64>,
    pub columns: Tf<BTreeMap<String, String>>,
    pub last_synced_at: Tf<String>,
    pub rows_copied: Tf<i64>,
    pub columns_sanitized: Tf<Vec<String>>,
    pub table_rows: Tf<BTreeMap<String, i64>>,
    pub backup: Tf<String>,
    pub report: Tf<String>,
    pub rule: Vec<RuleBlock>,
    pub timeouts: Value,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RuleBlock {
    pub table: Tf<String>,
    pub column: Tf<String>,
    pub transform: Tf<String>,
    pub value: Tf<String>,
    pub length: Tf<i64>,
}

pub fn default_timeouts() -> Timeouts {
    Timeouts {
        create: std::time::Duration::from_secs(6 * 60 * 60),
        update: std::time::Duration::from_secs(6 * 60 * 60),
        ..Timeouts::default()
    }
}

pub fn schema() -> Schema {
    use Presence::*;
    let a = |n: &str, t: Type, p: Presence, d: &str| Attribute::new(n, t, p, d);
    let rule = Block::new("A sanitization rule for one column.")
        .attr(a("table", Type::String, Required, "Table name (unqualified)."))
        .attr(a("column", Type::String, Required, "Column name."))
        .attr(a("transform", Type::String, Required, "`template` (with `{id}` = primary key and `{column}` placeholders), `fixed`, `null`, `hash` (keyed, deterministic, shape-preserving), `random_hex`, or `keep` (reviewed: copy unchanged)."))
        .attr(a("value", Type::String, Optional, "The template or fixed value."))
        .attr(a("length", Type::Number, Optional, "Length for `random_hex` (default 32)."));
    let block = Block::new("Copies a production database into the staging database with PII sanitized. Create, and any change of `triggers` or rules, runs a sync; the plan lists every column and what will happen to it. Delete forgets: it never touches data.")
        .attr(a("id", Type::String, Computed, "Identifier of this sync."))
        .attr(a("source_secret_arn", Type::String, Optional, "Secrets Manager secret holding the source (production) connection URL. The source is only ever read, in one read-only snapshot that is released as soon as the last table has been read (keys, checks and the swap come after it and do not hold it open)."))
        .attr(a("source_url_wo", Type::String, Optional, "Source connection URL, write-only (never stored). Prefer source_secret_arn.").write_only().sensitive())
        .attr(a("target_secret_arn", Type::String, Optional, "Secrets Manager secret holding the target (staging) connection URL."))
        .attr(a("target_url_wo", Type::String, Optional, "Target connection URL, write-only (never stored). Prefer target_secret_arn.").write_only().sensitive())
        .attr(a("schema_name", Type::String, OptionalComputed, "PostgreSQL schema to sync (default `public`)."))
        .attr(a("tables", Type::list(Type::String), Optional, "Only these tables get data (default: all)."))
        .attr(a("exclude_tables", Type::list(Type::String), Optional, "These tables are created empty."))
        .attr(a("preset", Type::String, Optional, "`default_pii`: the seeds' rules by column name (emails, phones, names, message content, media URLs, API and session tokens)."))
        .attr(a("unsanitized_pii", Type::String, OptionalComputed, "`error` (default): a column that looks like PII and has no rule fails the plan; `warn`: it is copied and reported."))
        .attr(a("hash_key_wo", Type::String, Optional, "Key for `hash` rules, write-only. Without it each sync uses a fresh random key.").write_only().sensitive())
        .attr(a("triggers", Type::map(Type::String), Optional, "Any change re-runs the sync (e.g. a date or a release tag)."))
        .attr(a("parallelism", Type::Number, OptionalComputed, "Tables copied at once (default 2). A sync holds, to the source, this many connections plus one (PostgreSQL) or one (MySQL); to the target, this many plus one (PostgreSQL) or plus two (MySQL: one more checks each table as it lands). On PostgreSQL each of them may use up to 256 MB of the target server's memory to sort an index (maintenance_work_mem is raised to that, never lowered) and starts no parallel workers, so this is also how many cores the sync keeps busy on the target."))
        .attr(a("backup_retention", Type::Number, OptionalComputed, "Previous staging data sets kept as backups (default 1)."))
        .attr(a("columns", Type::map(Type::String), Computed, "Every source column (`table.column`) and what the sync does to it."))
        .attr(a("last_synced_at", Type::String, Computed, "When the last sync finished (RFC 3339)."))
        .attr(a("rows_copied", Type::Number, Computed, "Rows copied by the last sync."))
        .attr(a("columns_sanitized", Type::list(Type::String), Computed, "Columns sanitized by the last sync."))
        .attr(a("table_rows", Type::map(Type::Number), Computed, "Rows per table in the last sync."))
        .attr(a("backup", Type::String, Computed, "Where the previous staging data was kept (restore with `terraform-provider-staging restore-backup`)."))
        .attr(a("report", Type::String, Computed, "The last sync's report (JSON): timings, tables, sequences, verification checks."))
        .block(NestedBlock::new("rule", Nesting::List, rule))
        .block(timeouts::block(&default_timeouts()));
    Schema::new(0, block)
}
