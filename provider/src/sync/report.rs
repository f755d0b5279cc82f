//! The result of a sync, serializable to JSON (the resource stores it as `report`).

use serde::{Deserialize, Serialize};

use super::Engine;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncReport {
    pub engine: Option<Engine>,
    /// Connection URLs with the password replaced by `***`.
    pub source: String,
    pub target: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// Wall time per phase (`snapshot`, `schema`, `data`, `constraints`, `verify`, `swap`...).
    pub phases: Vec<PhaseTiming>,
    pub tables: Vec<TableReport>,
    pub rows_copied: u64,
    /// Bytes read from the source / written to the target (wire payload of the data phase).
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// `table.column` of every sanitized column.
    pub columns_sanitized: Vec<String>,
    /// Where the previous target data went (PostgreSQL schema / MySQL database); `None` when the
    /// target had nothing to back up. Pass it to [`super::restore_backup`].
    pub backup: Option<String>,
    /// Older backups dropped by the retention setting.
    pub backups_dropped: Vec<String>,
    /// Stale shadows of killed runs that this run removed first.
    pub stale_shadows_dropped: Vec<String>,
    pub sequences: Vec<SequenceReport>,
    pub verification: Verification,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub name: String,
    pub ms: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TableReport {
    pub name: String,
    pub rows: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub columns_sanitized: Vec<String>,
    /// `binary_copy`, `text_copy`, `load_data`, `insert` or `schema_only`.
    pub method: String,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SequenceReport {
    /// Sequence name (PostgreSQL) or `table.column` (MySQL AUTO_INCREMENT).
    pub name: String,
    /// The next value the target will hand out is greater than this.
    pub value: i64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Target row count equals the rows read from the source snapshot.
    RowCount,
    /// No orphan rows for a foreign key.
    ForeignKey,
    /// A unique constraint / index exists, is valid and holds.
    Unique,
    /// Sequence / AUTO_INCREMENT past the column's max.
    Sequence,
    /// No source value of a sanitized column appears in the target column.
    LeakProbe,
    /// After the swap the live names resolve to the new data.
    Swap,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub kind: CheckKind,
    pub table: String,
    /// Constraint, column or sequence the check is about (empty for table-level checks).
    pub subject: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    pub(crate) fn new(
        kind: CheckKind,
        table: &str,
        subject: &str,
        passed: bool,
        detail: String,
    ) -> Check {
        Check {
            kind,
            table: table.to_string(),
            subject: subject.to_string(),
            passed,
            detail,
        }
    }
}

impl Verification {
    pub(crate) fn push(
        &mut self,
        kind: CheckKind,
        table: &str,
        subject: &str,
        passed: bool,
        detail: String,
    ) {
        self.record(Check::new(kind, table, subject, passed, detail));
    }

    /// Adds a check made elsewhere (e.g. on another connection).
    pub(crate) fn record(&mut self, check: Check) {
        self.checks.push(check);
        self.passed = self.checks.iter().all(|c| c.passed);
    }

    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }
}

impl SyncReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.name == name)
    }
}
