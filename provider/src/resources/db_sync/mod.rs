//! `staging_sanitized_db_sync`: production data copied into the staging database with PII
//! sanitized — the seeds' sync scripts as a resource. The copy engine is `crate::sync`; this
//! module only maps configuration to it, plans (inspecting the source read-only) and records
//! the report. Create, and any change of triggers or rules, runs a sync; delete forgets.
mod schema;

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::aws::{errors, Aws};
use crate::sync::{
    self, ColumnPlan, PiiPolicy, Preset, Rule, RuleSet, SyncError, SyncOptions, Transform,
};
use crate::tfplugin::timeouts::Timeouts;
use crate::tfplugin::{
    ApplyError, AttributePath, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema, Tf,
};
pub use schema::{DbSync, RuleBlock};

pub struct DbSyncResource;

type Fail = ApplyError<DbSync>;

/// Reads a connection URL: the write-only attribute, or the secret (a plain URL, or a JSON
/// object with a `url` key). `None` while a value is unknown (plan before dependencies exist).
async fn resolve_url(
    ctx: &Ctx,
    aws: &Aws,
    side: &str,
    secret_arn: &Tf<String>,
    url_wo: &Tf<String>,
) -> Result<Option<String>, Diagnostics> {
    if let Tf::Known(url) = url_wo {
        return Ok(Some(url.clone()));
    }
    if url_wo.is_unknown() || secret_arn.is_unknown() {
        return Ok(None);
    }
    let Some(arn) = secret_arn.known() else {
        return Err(Diagnostic::error(
            format!("No {side} database"),
            format!("Set {side}_secret_arn (recommended) or {side}_url_wo."),
        )
        .into());
    };
    let client = aws.secretsmanager().await;
    let out = ctx
        .run(client.get_secret_value().secret_id(arn).send())
        .await?
        .map_err(|e| {
            Diagnostics::from(
                errors::diagnostic(&format!("reading the {side} connection secret"), &e)
                    .at(AttributePath::attr(format!("{side}_secret_arn"))),
            )
        })?;
    let text = out.secret_string.unwrap_or_default();
    let url = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => {
            m.get("url").and_then(|u| u.as_str()).map(str::to_string)
        }
        _ => Some(text.trim().to_string()),
    };
    url.filter(|u| u.contains("://")).map(Some).ok_or_else(|| {
        Diagnostic::error(
            "Secret holds no connection URL",
            format!("The {side} secret must hold a URL (postgres://… or mysql://…) or a JSON object with a \"url\" key."),
        )
        .at(AttributePath::attr(format!("{side}_secret_arn")))
        .into()
    })
}

fn sync_err(summary: &str, e: &SyncError) -> Diagnostics {
    // SyncError texts carry redacted URLs only.
    Diagnostic::error(summary, e.to_string()).into()
}

impl DbSyncResource {
    fn rules(s: &DbSync, config: &DbSync) -> Result<RuleSet, Diagnostics> {
        let mut set = RuleSet::default();
        if let Some(k) = config.hash_key_wo.known() {
            set.hash_key = sync::HashKey::new(k.as_bytes().to_vec());
        }
        if let Some(p) = s.preset.known() {
            set.presets.push(p.parse::<Preset>().map_err(|e| {
                Diagnostics::from(
                    Diagnostic::error("Unknown preset", e.to_string())
                        .at(AttributePath::attr("preset")),
                )
            })?);
        }
        for (i, r) in s.rule.iter().enumerate() {
            let at = AttributePath::attr("rule").join_index(i);
            let value = r.value.known().cloned();
            let transform = match r.transform.known().map(String::as_str) {
                Some("template") => {
                    Transform::Template(value.ok_or_else(|| missing(&at, "template"))?)
                }
                Some("fixed") => Transform::Fixed(value.ok_or_else(|| missing(&at, "fixed"))?),
                Some("null") => Transform::Null,
                Some("hash") => Transform::Hash,
                Some("keep") => Transform::Keep,
                Some("random_hex") => Transform::RandomHex(
                    r.length.known().copied().unwrap_or(32).clamp(1, 1024) as usize,
                ),
                Some(other) => {
                    return Err(Diagnostic::error(
                        "Unknown transform",
                        format!("{other:?}: use template, fixed, null, hash, random_hex or keep."),
                    )
                    .at(at.join_attr("transform"))
                    .into())
                }
                None => continue,
            };
            set.rules.push(Rule {
                table: r.table.known().cloned().unwrap_or_default(),
                column: r.column.known().cloned().unwrap_or_default(),
                transform,
            });
        }
        Ok(set)
    }

    fn options(s: &DbSync) -> SyncOptions {
        SyncOptions {
            schema: s.schema_name.known().cloned(),
            tables: s.tables.known().cloned(),
            exclude_tables: s.exclude_tables.known().cloned().unwrap_or_default(),
            parallelism: s.parallelism.known().copied().unwrap_or(2).clamp(1, 16) as usize,
            backup_retention: s.backup_retention.known().copied().unwrap_or(1).max(0) as usize,
            unsanitized_pii: if s.unsanitized_pii.known().map(String::as_str) == Some("warn") {
                PiiPolicy::Warn
            } else {
                PiiPolicy::Error
            },
            ..SyncOptions::default()
        }
    }

    /// What the plan shows for a column.
    fn describe(plan: &ColumnPlan) -> String {
        match plan {
            ColumnPlan::Keep => "copy".into(),
            ColumnPlan::KeepReviewed => "copy (reviewed)".into(),
            ColumnPlan::Generated => "recomputed (generated column)".into(),
            ColumnPlan::Sanitize { transform, origin } => format!("{transform} ({origin:?})")
                .replace("(Rule)", "(rule)")
                .replace("(Preset)", "(preset)"),
            ColumnPlan::UnsanitizedPii { reason } => {
                format!("COPIED UNSANITIZED: looks like PII ({reason})")
            }
        }
    }

    /// Production guard on the target: its secret must not carry production tags.
    async fn guard_target(ctx: &Ctx, aws: &Aws, s: &DbSync) -> Result<(), Diagnostics> {
        let Some(arn) = s.target_secret_arn.known() else {
            return Ok(());
        };
        let client = aws.secretsmanager().await;
        let out = ctx
            .run(client.describe_secret().secret_id(arn).send())
            .await?
            .map_err(|e| Diagnostics::from(errors::diagnostic("reading the target secret", &e)))?;
        let tags: Vec<(String, String)> = out
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect();
        aws.settings
            .guard
            .check(
                "the sync target",
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(|d| Diagnostics::from(d.at(AttributePath::attr("target_secret_arn"))))
    }

    async fn sync(ctx: &Ctx, planned: DbSync, config: &DbSync) -> Result<DbSync, Fail> {
        let aws = ctx.data::<Aws>()?;
        Self::guard_target(ctx, &aws, &planned).await?;
        let source = resolve_url(
            ctx,
            &aws,
            "source",
            &planned.source_secret_arn,
            &config.source_url_wo,
        )
        .await?;
        let target = resolve_url(
            ctx,
            &aws,
            "target",
            &planned.target_secret_arn,
            &config.target_url_wo,
        )
        .await?;
        let (Some(source), Some(target)) = (source, target) else {
            return Err(Diagnostic::error(
                "Connection not known",
                "The source or target connection is still unknown at apply.",
            )
            .into());
        };
        let rules = Self::rules(&planned, config)?;
        let options = Self::options(&planned);
        let mut st = planned;
        if st.schema_name.is_unknown() {
            // Planned while the source was unknown: what the engine syncs by default.
            st.schema_name = Tf::Known(match sync::Engine::from_url(&source) {
                Ok(sync::Engine::Mysql) => source
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                _ => "public".to_string(),
            });
        }
        // A dropped sync (Stop, timeout) leaves the target as it was: the engine swaps
        // atomically at the very end.
        let result = ctx
            .run(sync::run(&source, &target, &rules, &options))
            .await
            .map_err(Fail::clean)?;
        match result {
            Ok(report) => {
                st.last_synced_at = Tf::Known(report.finished_at.clone());
                st.rows_copied = Tf::Known(report.rows_copied as i64);
                st.columns_sanitized = Tf::Known(report.columns_sanitized.clone());
                st.table_rows = Tf::Known(
                    report
                        .tables
                        .iter()
                        .map(|t| (t.name.clone(), t.rows as i64))
                        .collect::<BTreeMap<_, _>>(),
                );
                st.backup = report.backup.clone().into();
                st.report = Tf::Known(serde_json::to_string(&report).unwrap_or_default());
                if st.id.is_unknown() || st.id.is_null() {
                    st.id = Tf::Known(format!(
                        "sync-{}",
                        report.started_at.replace([':', '-'], "").to_lowercase()
                    ));
                }
                Ok(st)
            }
            Err(SyncError::Verification(report)) => {
                // The data was not swapped in: staging is unchanged. Record the failed report.
                st.report = Tf::Known(serde_json::to_string(&report).unwrap_or_default());
                Err(Fail::partial(
                    Self::settle(st),
                    sync_err(
                        "Sync verification failed; staging left unchanged",
                        &SyncError::Verification(report),
                    ),
                ))
            }
            Err(e) => Err(Fail::clean(sync_err(
                "Sync failed; staging left unchanged",
                &e,
            ))),
        }
    }

    /// Unknown outputs become "not synced" values, for partial state.
    fn settle(mut st: DbSync) -> DbSync {
        if st.id.is_unknown() {
            st.id = Tf::Known("sync-failed".into());
        }
        st
    }
}

fn missing(at: &AttributePath, transform: &str) -> Diagnostics {
    Diagnostic::error(
        "Missing value",
        format!("transform {transform:?} needs `value`."),
    )
    .at(at.join_attr("value"))
    .into()
}

#[async_trait]
impl Resource for DbSyncResource {
    type State = DbSync;

    fn type_name(&self) -> &'static str {
        "staging_sanitized_db_sync"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn default_timeouts(&self) -> Timeouts {
        schema::default_timeouts()
    }

    async fn validate(&self, _ctx: &Ctx, c: &DbSync) -> Diagnostics {
        let mut d = Diagnostics::new();
        for side in ["source", "target"] {
            let (arn, url) = if side == "source" {
                (&c.source_secret_arn, &c.source_url_wo)
            } else {
                (&c.target_secret_arn, &c.target_url_wo)
            };
            if arn.is_null() && url.is_null() {
                d.error_at(
                    AttributePath::attr(format!("{side}_secret_arn")),
                    format!("No {side} database"),
                    format!("Set {side}_secret_arn (recommended) or {side}_url_wo."),
                );
            }
            if arn.is_known() && url.is_known() {
                d.error_at(
                    AttributePath::attr(format!("{side}_url_wo")),
                    "Two connections given",
                    format!("Set either {side}_secret_arn or {side}_url_wo, not both."),
                );
            }
        }
        if let Tf::Known(p) = &c.unsanitized_pii {
            if p != "error" && p != "warn" {
                d.error_at(
                    AttributePath::attr("unsanitized_pii"),
                    "Invalid value",
                    format!("{p:?}: use \"error\" or \"warn\"."),
                );
            }
        }
        if let Tf::Known(p) = &c.preset {
            if p.parse::<Preset>().is_err() {
                d.error_at(
                    AttributePath::attr("preset"),
                    "Unknown preset",
                    format!("{p:?}: the only preset is \"default_pii\"."),
                );
            }
        }
        d
    }

    async fn plan(&self, ctx: &Ctx, plan: &mut Plan<DbSync>) -> Result<(), Diagnostics> {
        let aws = ctx.data::<Aws>()?;
        let config = plan.config.clone();
        let p = &mut plan.planned;
        if config.unsanitized_pii.is_null() {
            p.unsanitized_pii = Tf::Known("error".into());
        }
        if config.parallelism.is_null() {
            p.parallelism = Tf::Known(2);
        }
        if config.backup_retention.is_null() {
            p.backup_retention = Tf::Known(1);
        }

        // Inspect the source (read-only) and show every column's fate.
        let source = resolve_url(
            ctx,
            &aws,
            "source",
            &config.source_secret_arn,
            &config.source_url_wo,
        )
        .await?;
        match source {
            None => p.columns = Tf::Unknown,
            Some(url) => {
                let rules = Self::rules(p, &config)?;
                let options = Self::options(p);
                let inspected = ctx
                    .run(sync::inspect(&url, &rules, &options))
                    .await?
                    .map_err(|e| sync_err("Cannot inspect the source database", &e))?;
                let mut columns = BTreeMap::new();
                for t in &inspected.tables {
                    for c in &t.columns {
                        let fate = if t.excluded {
                            "not copied (table excluded)".to_string()
                        } else {
                            Self::describe(&c.plan)
                        };
                        columns.insert(format!("{}.{}", t.name, c.name), fate);
                    }
                }
                p.columns = Tf::Known(columns);
                if config.schema_name.is_null() {
                    // PostgreSQL: the schema synced; MySQL: the database in the URL.
                    p.schema_name = Tf::Known(inspected.schema.clone());
                }
                if !inspected.unsanitized_pii.is_empty() {
                    let list = inspected
                        .unsanitized_pii
                        .iter()
                        .map(|f| format!("  - {}.{}: {}", f.table, f.column, f.reason))
                        .collect::<Vec<_>>()
                        .join("\n");
                    let summary = "Columns that look like PII have no rule";
                    let detail = format!("These columns would be copied to staging unchanged:\n{list}\nAdd a rule block for each (or transform = \"keep\" after review), or use preset = \"default_pii\".");
                    if options.unsanitized_pii == PiiPolicy::Error {
                        return Err(Diagnostic::error(summary, detail)
                            .at(AttributePath::attr("rule"))
                            .into());
                    }
                    plan.warnings.push(Diagnostic::warning(summary, detail));
                }
                for w in inspected.warnings {
                    plan.warnings.push(Diagnostic::warning("Sync plan note", w));
                }
            }
        }

        let p = &mut plan.planned;
        if let Some(prior) = &plan.prior {
            // Any change of what is synced, or how, runs a new sync.
            let mut a = prior.clone();
            let mut b = p.clone();
            for s in [&mut a, &mut b] {
                s.id = Tf::Null;
                s.last_synced_at = Tf::Null;
                s.rows_copied = Tf::Null;
                s.columns_sanitized = Tf::Null;
                s.table_rows = Tf::Null;
                s.backup = Tf::Null;
                s.report = Tf::Null;
                s.timeouts = Default::default();
                s.source_url_wo = Tf::Null;
                s.target_url_wo = Tf::Null;
                s.hash_key_wo = Tf::Null;
            }
            if a != b {
                p.last_synced_at = Tf::Unknown;
                p.rows_copied = Tf::Unknown;
                p.columns_sanitized = Tf::Unknown;
                p.table_rows = Tf::Unknown;
                p.backup = Tf::Unknown;
                p.report = Tf::Unknown;
            }
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx, planned: DbSync, config: &DbSync) -> Result<DbSync, Fail> {
        Self::sync(ctx, planned, config).await
    }

    async fn read(&self, _ctx: &Ctx, current: DbSync) -> Result<Option<DbSync>, Diagnostics> {
        // The sync is an event, not an object: what it did stays recorded as it was.
        Ok(Some(current))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: DbSync,
        planned: DbSync,
        config: &DbSync,
    ) -> Result<DbSync, Fail> {
        if planned.last_synced_at.is_unknown() {
            let mut st = planned;
            st.id = prior.id.clone();
            return Self::sync(ctx, st, config).await.map_err(|mut e| {
                // A failed re-sync leaves staging as it was: keep the last good outputs.
                let failed_report = e.state.as_ref().map(|s| s.report.clone());
                let mut kept = prior.clone();
                if let Some(r) = failed_report {
                    kept.report = r;
                }
                e.state = Some(kept);
                e
            });
        }
        let mut st = planned;
        st.id = prior.id;
        Ok(st)
    }

    async fn delete(&self, _ctx: &Ctx, _prior: DbSync) -> Result<(), Fail> {
        // Forget only: staging keeps its data, production is never touched.
        Ok(())
    }
}
