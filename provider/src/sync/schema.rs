//! What [`super::inspect`] returns: the source's tables, columns, keys and sequences, and the
//! per-column plan (what the sync will do to each column) with the PII findings.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::rules::{
    classify_values, pii_name_category, ColumnFacts, RuleOrigin, RuleSet, Transform,
};
use super::Engine;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceSchema {
    pub engine: Engine,
    /// PostgreSQL: the database; MySQL: the schema (database) from the URL.
    pub database: String,
    /// PostgreSQL: the schema synced (`public` by default); MySQL: same as `database`.
    pub schema: String,
    pub tables: Vec<TableSchema>,
    pub sequences: Vec<SequenceSchema>,
    /// Columns that look like PII and have no rule (empty when the plan is clean).
    pub unsanitized_pii: Vec<PiiFinding>,
    /// Things the sync will not carry over or that need attention (unsupported objects, rules
    /// naming unknown columns, NULL rules on NOT NULL columns...).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<ColumnSchema>,
    /// Primary-key column names, in key order (empty: no primary key).
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Unique constraints and unique indexes (not the primary key). `columns` is empty for
    /// expression indexes.
    pub uniques: Vec<UniqueConstraint>,
    /// The planner's / information_schema's row estimate.
    pub estimated_rows: Option<i64>,
    /// Excluded by the table filters: created empty on the target.
    pub excluded: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    /// The SQL type as the engine prints it (`character varying(255)`, `enum('a','b')`...).
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    /// The generation expression of a generated column (recomputed on the target, never copied).
    pub generated: Option<String>,
    /// Identity / serial / AUTO_INCREMENT.
    pub auto_increment: bool,
    /// Character limit for bounded string types.
    pub max_length: Option<usize>,
    pub plan: ColumnPlan,
}

/// What the sync does to one column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ColumnPlan {
    /// Copied unchanged.
    Keep,
    /// Explicitly reviewed and copied unchanged (a `keep` rule).
    KeepReviewed,
    /// Not copied: the target recomputes it from the (sanitized) columns it depends on.
    Generated,
    Sanitize {
        transform: Transform,
        origin: RuleOrigin,
    },
    /// Looks like PII and has no rule: copied unchanged unless the caller refuses to run.
    UnsanitizedPii { reason: String },
}

impl ColumnPlan {
    pub fn is_sanitized(&self) -> bool {
        matches!(self, ColumnPlan::Sanitize { .. })
    }
    pub(crate) fn transform(&self) -> Option<Transform> {
        match self {
            ColumnPlan::Sanitize { transform, .. } => Some(transform.clone()),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceSchema {
    pub name: String,
    /// `table.column` the sequence feeds (serial/identity/AUTO_INCREMENT), if any.
    pub owned_by: Option<String>,
    /// Last value on the source, when the source role may read it.
    pub last_value: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiFinding {
    pub table: String,
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for PiiFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{} looks like PII ({}) and has no rule",
            self.table, self.column, self.reason
        )
    }
}

impl SourceSchema {
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// `table.column` of every sanitized column.
    pub fn sanitized_columns(&self) -> Vec<String> {
        self.tables
            .iter()
            .filter(|t| !t.excluded)
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| c.plan.is_sanitized())
                    .map(move |c| format!("{}.{}", t.name, c.name))
            })
            .collect()
    }

    /// A readable plan: every table and column with what will happen to it, PII findings
    /// first. Meant for a plan diff or a PR comment; contains no data values.
    pub fn plan_summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} {}.{}: {} tables, {} sanitized columns",
            match self.engine {
                Engine::Postgres => "PostgreSQL",
                Engine::Mysql => "MySQL",
            },
            self.database,
            self.schema,
            self.tables.len(),
            self.sanitized_columns().len()
        );
        for f in &self.unsanitized_pii {
            let _ = writeln!(s, "!! {f}");
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        for t in &self.tables {
            let key = if t.primary_key.is_empty() {
                "no primary key".to_string()
            } else {
                format!("key ({})", t.primary_key.join(", "))
            };
            let rows = t
                .estimated_rows
                .filter(|r| *r >= 0)
                .map(|r| format!(", ~{r} rows"))
                .unwrap_or_default();
            let excl = if t.excluded {
                " [excluded: created empty]"
            } else {
                ""
            };
            let _ = writeln!(s, "{}: {key}{rows}{excl}", t.name);
            let w = t.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for c in &t.columns {
                let what = match &c.plan {
                    ColumnPlan::Keep => "keep".to_string(),
                    ColumnPlan::KeepReviewed => "keep (reviewed)".to_string(),
                    ColumnPlan::Generated => "generated: recomputed on the target".to_string(),
                    ColumnPlan::Sanitize { transform, origin } => format!(
                        "{transform}{}",
                        if *origin == RuleOrigin::Preset {
                            " [preset]"
                        } else {
                            ""
                        }
                    ),
                    ColumnPlan::UnsanitizedPii { reason } => {
                        format!("KEEP, BUT LOOKS LIKE PII ({reason}): add a rule")
                    }
                };
                let _ = writeln!(s, "  {:w$}  {:24}  {what}", c.name, c.data_type, w = w);
            }
        }
        s
    }
}

/// Column types whose values are text and worth sampling for PII.
pub(crate) fn is_textual(type_name: &str) -> bool {
    let t = type_name.to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    matches!(
        base,
        "text"
            | "character varying"
            | "varchar"
            | "character"
            | "char"
            | "bpchar"
            | "citext"
            | "name"
            | "tinytext"
            | "mediumtext"
            | "longtext"
            | "json"
            | "jsonb"
    )
}

pub(crate) fn is_json(type_name: &str) -> bool {
    let t = type_name.to_ascii_lowercase();
    t.starts_with("json")
}

/// Fill every column's plan from the rules and record PII findings. `samples(table, column)`
/// gives sampled text values for a column (only asked for unruled textual columns).
pub(crate) fn plan_columns(
    schema: &mut SourceSchema,
    rules: &RuleSet,
    samples: &mut dyn FnMut(&str, &str) -> Vec<String>,
) {
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    for t in &mut schema.tables {
        for c in &mut t.columns {
            if c.generated.is_some() {
                c.plan = ColumnPlan::Generated;
                if rules
                    .rules
                    .iter()
                    .any(|r| r.table == t.name && r.column == c.name)
                {
                    warnings.push(format!(
                        "{}.{} is a generated column: its rule is ignored (the target \
                         recomputes it from sanitized inputs)",
                        t.name, c.name
                    ));
                }
                continue;
            }
            let base_type = c.data_type.to_ascii_lowercase();
            let facts = ColumnFacts {
                table: &t.name,
                column: &c.name,
                type_name: &base_type,
                nullable: c.nullable,
            };
            c.plan = match rules.resolve(&facts) {
                Some((Transform::Keep, _)) => ColumnPlan::KeepReviewed,
                Some((transform, origin)) => {
                    if transform == Transform::Null && !c.nullable {
                        warnings.push(format!(
                            "{}.{} is NOT NULL but its rule sets NULL: the load will fail",
                            t.name, c.name
                        ));
                    }
                    ColumnPlan::Sanitize { transform, origin }
                }
                None => {
                    let boolish = base_type.starts_with("bool") || base_type == "tinyint(1)";
                    let by_name = if boolish {
                        None
                    } else {
                        pii_name_category(&t.name, &c.name)
                    };
                    if let Some(cat) = by_name {
                        ColumnPlan::UnsanitizedPii {
                            reason: format!("name suggests {cat}"),
                        }
                    } else if is_textual(&base_type) && !t.excluded {
                        let vals = samples(&t.name, &c.name);
                        match classify_values(vals.iter().map(String::as_str), is_json(&base_type))
                        {
                            Some(kind) => ColumnPlan::UnsanitizedPii {
                                reason: format!("sampled values look like {kind}"),
                            },
                            None => ColumnPlan::Keep,
                        }
                    } else {
                        ColumnPlan::Keep
                    }
                }
            };
            if let ColumnPlan::UnsanitizedPii { reason } = &c.plan {
                if !t.excluded {
                    findings.push(PiiFinding {
                        table: t.name.clone(),
                        column: c.name.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
    }
    for (table, column) in rules.rule_targets() {
        let known = schema
            .tables
            .iter()
            .any(|t| t.name == table && t.columns.iter().any(|c| c.name == column));
        if !known {
            warnings.push(format!(
                "rule for {table}.{column} matches no column of the source"
            ));
        }
    }
    schema.unsanitized_pii = findings;
    schema.warnings.extend(warnings);
}
