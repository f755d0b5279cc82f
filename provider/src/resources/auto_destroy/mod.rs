//! `staging_auto_destroy_policy`: the policy lives on its targets as tags; this resource writes
//! them, removes them on destroy, and shows the reaper's view of the policy (computed from
//! CloudWatch on every refresh with the very function the reaper uses).
mod schema;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

pub use schema::{Activity, AutoDestroyPolicy, ScheduleBlock, Targets};

use crate::aws::Aws;
use crate::reaper::eval::Evaluation;
use crate::reaper::policy::{
    fmt_ts, parse_ts, tag, Action, Missing, Policy, Schedule, Signal, SignalKind,
    DEFAULT_IDLE_DAYS, DEFAULT_WARN_HOURS,
};
use crate::reaper::targets::{self, classify, Clients, Kind, Target};
use crate::reaper::{self, Group};
use crate::tfplugin::{
    ApplyError, AttributePath, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema, Tf,
};

pub struct AutoDestroyPolicyResource;

type State = AutoDestroyPolicy;
type Fail = ApplyError<State>;

const DEFAULT_DAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

fn fill<T: Clone>(planned: &mut Tf<T>, config: &Tf<T>, value: T) {
    if config.is_null() {
        *planned = Tf::Known(value);
    }
}

fn at(name: &str) -> AttributePath {
    AttributePath::attr(name)
}

/// The policy a (fully known) state describes.
pub fn to_policy(s: &State) -> Result<Policy, Diagnostics> {
    let mut d = Diagnostics::new();
    let name = s
        .name
        .known()
        .or(s.environment_id.known())
        .cloned()
        .unwrap_or_default();
    let action = match s.action.known().map(String::as_str) {
        None => Action::Destroy,
        Some(a) => Action::parse(a).unwrap_or_else(|| {
            d.error_at(
                at("action"),
                "Invalid action",
                format!("{a:?}: use \"destroy\" or \"pause\"."),
            );
            Action::Destroy
        }),
    };
    let snooze_until = match s.snooze_until.known() {
        None => None,
        Some(v) => match parse_ts(v) {
            Some(t) => Some(t),
            None => {
                d.error_at(
                    at("snooze_until"),
                    "Invalid time",
                    format!("{v:?} is not an RFC3339 time (e.g. \"2026-12-24T00:00:00Z\")."),
                );
                None
            }
        },
    };
    let mut signals = vec![];
    for (i, a) in s.activity.iter().enumerate() {
        let p = AttributePath::attr("activity").join_index(i);
        let missing = match a.missing_data.known().map(String::as_str) {
            Some(m) => match Missing::parse(m) {
                Some(m) => m,
                None => {
                    d.error_at(
                        p.join_attr("missing_data"),
                        "Invalid missing_data",
                        format!("{m:?}: use \"idle\" or \"active\"."),
                    );
                    continue;
                }
            },
            None => continue,
        };
        let metric_fields = [
            ("namespace", &a.namespace),
            ("metric_name", &a.metric_name),
            ("stat", &a.stat),
        ];
        let kind = match a.signal.known().map(String::as_str) {
            Some("app_runner_requests") => SignalKind::AppRunnerRequests,
            Some("rds_connections") => SignalKind::RdsConnections,
            Some("metric") => {
                let mut vals = vec![];
                for (f, v) in metric_fields {
                    match v.known() {
                        Some(x) if !x.is_empty() && !x.contains(char::is_whitespace) => {
                            vals.push(x.clone())
                        }
                        _ => {
                            d.error_at(
                                p.join_attr(f),
                                "Incomplete metric signal",
                                format!("signal = \"metric\" needs {f} (without spaces)."),
                            );
                        }
                    }
                }
                if vals.len() < 3 {
                    continue;
                }
                let dims = a.dimensions.known().cloned().unwrap_or_default();
                if dims.iter().any(|(k, v)| {
                    k.is_empty() || v.is_empty() || k.contains([' ', '=']) || v.contains(' ')
                }) {
                    d.error_at(p.join_attr("dimensions"), "Invalid dimensions", "Dimension names and values must be non-empty, without spaces (and names without `=`).");
                }
                SignalKind::Metric {
                    stat: vals[2].clone(),
                    namespace: vals[0].clone(),
                    metric_name: vals[1].clone(),
                    dimensions: dims,
                }
            }
            Some(other) => {
                d.error_at(p.join_attr("signal"), "Unknown signal", format!("{other:?}: use \"app_runner_requests\", \"rds_connections\" or \"metric\"."));
                continue;
            }
            None => continue,
        };
        if !matches!(kind, SignalKind::Metric { .. }) {
            for (f, v) in metric_fields {
                if v.is_known() {
                    d.error_at(
                        p.join_attr(f),
                        "Attribute only for metric signals",
                        format!("{f} applies to signal = \"metric\" only."),
                    );
                }
            }
        }
        signals.push(Signal {
            kind,
            threshold: a.threshold.known().copied().unwrap_or(0.0),
            missing,
        });
    }
    let schedule = match &s.schedule {
        None => None,
        Some(b) => {
            let days: Vec<String> = b
                .days
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_DAYS.iter().map(|d| d.to_string()).collect());
            match (b.start.known(), b.stop.known(), b.time_zone.known()) {
                (Some(start), Some(stop), Some(tz)) => {
                    match Schedule::new(&days, start, stop, tz) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            d.error_at(at("schedule"), "Invalid schedule", e);
                            None
                        }
                    }
                }
                _ => None,
            }
        }
    };
    d.into_result()?;
    Ok(Policy {
        name,
        environment: s.environment_id.known().cloned(),
        idle_days: s.idle_days.known().copied().unwrap_or(DEFAULT_IDLE_DAYS),
        warn_before_hours: s
            .warn_before_hours
            .known()
            .copied()
            .unwrap_or(DEFAULT_WARN_HOURS),
        notify_topic_arn: s.notify_topic_arn.known().cloned(),
        action,
        final_snapshot: s.final_snapshot.known().copied().unwrap_or(true),
        enabled: s.enabled.known().copied().unwrap_or(true),
        snooze_until,
        signals,
        schedule,
    })
}

/// Writes a policy read back from tags into the state's settings (import, and drift).
fn from_policy(st: &mut State, p: &Policy) {
    st.name = Tf::Known(p.name.clone());
    st.id = Tf::Known(p.name.clone());
    st.idle_days = Tf::Known(p.idle_days);
    st.warn_before_hours = Tf::Known(p.warn_before_hours);
    st.notify_topic_arn = p.notify_topic_arn.clone().into();
    st.action = Tf::Known(p.action.as_str().to_string());
    st.final_snapshot = Tf::Known(p.final_snapshot);
    st.enabled = Tf::Known(p.enabled);
    // Keep the user's spelling of the same instant.
    if st.snooze_until.known().and_then(|s| parse_ts(s)) != p.snooze_until {
        st.snooze_until = p.snooze_until.map(fmt_ts).into();
    }
    st.activity = p
        .signals
        .iter()
        .map(|s| {
            let (namespace, metric_name, stat, dimensions) = match &s.kind {
                SignalKind::Metric {
                    namespace,
                    metric_name,
                    stat,
                    dimensions,
                } => (
                    Tf::Known(namespace.clone()),
                    Tf::Known(metric_name.clone()),
                    Tf::Known(stat.clone()),
                    if dimensions.is_empty() {
                        Tf::Null
                    } else {
                        Tf::Known(dimensions.clone())
                    },
                ),
                _ => (Tf::Null, Tf::Null, Tf::Null, Tf::Null),
            };
            Activity {
                signal: Tf::Known(s.kind.name().to_string()),
                threshold: Tf::Known(s.threshold),
                missing_data: Tf::Known(s.missing.as_str().to_string()),
                namespace,
                metric_name,
                stat,
                dimensions,
            }
        })
        .collect();
    st.schedule = p.schedule.as_ref().map(|s| ScheduleBlock {
        time_zone: Tf::Known(s.time_zone.clone()),
        days: Tf::Known(s.day_names()),
        start: Tf::Known(crate::reaper::policy::fmt_hhmm(s.start)),
        stop: Tf::Known(crate::reaper::policy::fmt_hhmm(s.stop)),
    });
}

fn set_evaluation(st: &mut State, e: &Evaluation) {
    st.last_activity_at = e.last_activity_at.map(fmt_ts).into();
    st.idle_since = e.idle_since.map(fmt_ts).into();
    st.destroy_after = e.destroy_after.map(fmt_ts).into();
    st.status = Tf::Known(e.status.as_str().to_string());
}

fn list(v: &Tf<Vec<String>>) -> Vec<String> {
    v.known().cloned().unwrap_or_default()
}

/// The objects the configuration names (those that exist).
async fn resolve(ctx: &Ctx, c: &Clients, st: &State) -> Result<Vec<Target>, Diagnostics> {
    if let Some(env) = st.environment_id.known() {
        return targets::environment_targets(ctx, c, env).await;
    }
    let mut out = vec![];
    if let Some(t) = &st.targets {
        for (kind, ids) in [
            (Kind::AppRunner, list(&t.app_runner_service_arns)),
            (Kind::Ecs, list(&t.ecs_service_arns)),
            (Kind::Rds, list(&t.rds_instance_ids)),
            (Kind::Secret, list(&t.secret_arns)),
        ] {
            for id in ids {
                if let Some(t) = targets::target(ctx, c, kind, &id).await? {
                    out.push(t);
                }
            }
        }
    }
    Ok(out)
}

fn arns(ts: &[Target]) -> Vec<String> {
    let mut v: Vec<String> = ts.iter().map(|t| t.arn.clone()).collect();
    v.sort();
    v
}

fn guard(aws: &Aws, ts: &[Target]) -> Result<(), Diagnostics> {
    for t in ts {
        aws.settings
            .guard
            .check(
                &format!("{} {}", t.kind.as_str(), t.arn),
                t.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(Diagnostics::from)?;
    }
    Ok(())
}

/// Tags every target with the policy; removes stale policy keys; removes everything of ours
/// from objects that no longer belong to the policy. Returns the ARNs that now carry it.
async fn write_tags(
    ctx: &Ctx,
    c: &Clients,
    policy: &Policy,
    want: &[Target],
    previously: &[String],
    st: &State,
) -> Result<Vec<String>, Fail> {
    let mut tags = policy.to_tags();
    // The idle clock of an existing policy keeps its start; a new one starts now.
    let since = want
        .iter()
        .filter(|t| t.policy() == Some(policy.name.as_str()))
        .filter_map(|t| t.tags.get(tag::SINCE).cloned())
        .min()
        .unwrap_or_else(|| fmt_ts(reaper::now()));
    tags.insert(tag::SINCE.to_string(), since);
    let mut done = vec![];
    let partial = |done: &[String], d: Diagnostics| {
        let mut s = st.clone();
        let mut v = done.to_vec();
        v.sort();
        s.target_arns = Tf::Known(v);
        s.last_activity_at = Tf::Null;
        s.idle_since = Tf::Null;
        s.destroy_after = Tf::Null;
        s.status = Tf::Null;
        Fail::partial(s, d)
    };
    for t in want {
        let ours_elsewhere = t.policy().is_some_and(|p| p != policy.name);
        if ours_elsewhere {
            return Err(partial(
                &done,
                Diagnostic::error(
                    "Target already has a policy",
                    format!(
                        "{} carries auto-destroy policy {:?}; one object belongs to one policy.",
                        t.arn,
                        t.policy().unwrap_or_default()
                    ),
                )
                .into(),
            ));
        }
        let reaper_keys_of_other_policy = t.policy().is_none();
        let mut stale: BTreeSet<String> = t
            .tags
            .keys()
            .filter(|k| tag::is_policy_key(k) && !tags.contains_key(*k))
            .cloned()
            .collect();
        if reaper_keys_of_other_policy {
            // Leftovers of an earlier policy on this object: start clean.
            stale.extend(
                t.tags
                    .keys()
                    .filter(|k| tag::is_ours(k) && !tags.contains_key(*k))
                    .cloned(),
            );
        }
        let changed: BTreeMap<String, String> = tags
            .iter()
            .filter(|(k, v)| t.tags.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Err(d) = targets::tag(ctx, c, t, &changed).await {
            return Err(partial(&done, d));
        }
        if let Err(d) = targets::untag(ctx, c, t, &stale).await {
            return Err(partial(&done, d));
        }
        done.push(t.arn.clone());
    }
    // Objects that left the policy.
    for arn in previously {
        if done.contains(arn) {
            continue;
        }
        if let Some(kind) = classify(arn) {
            let old = targets::target(ctx, c, kind, arn)
                .await
                .map_err(|d| partial(&done, d))?;
            if let Some(old) = old {
                if old.policy() == Some(policy.name.as_str()) {
                    remove_ours(ctx, c, &old)
                        .await
                        .map_err(|d| partial(&done, d))?;
                }
            }
        }
    }
    done.sort();
    Ok(done)
}

async fn remove_ours(ctx: &Ctx, c: &Clients, t: &Target) -> Result<(), Diagnostics> {
    let keys: BTreeSet<String> = t.tags.keys().filter(|k| tag::is_ours(k)).cloned().collect();
    targets::untag(ctx, c, t, &keys).await
}

/// Defaults for what the configuration leaves out (plan and apply alike).
fn defaults(p: &mut State, config: &State) {
    if config.name.is_null() {
        p.name = config.environment_id.clone();
    }
    p.id = p.name.clone();
    fill(&mut p.idle_days, &config.idle_days, DEFAULT_IDLE_DAYS);
    fill(
        &mut p.warn_before_hours,
        &config.warn_before_hours,
        DEFAULT_WARN_HOURS,
    );
    fill(&mut p.action, &config.action, "destroy".to_string());
    fill(&mut p.final_snapshot, &config.final_snapshot, true);
    fill(&mut p.enabled, &config.enabled, true);
    for (a, ca) in p.activity.iter_mut().zip(&config.activity) {
        fill(&mut a.threshold, &ca.threshold, 0.0);
    }
    if let (Some(s), Some(cs)) = (p.schedule.as_mut(), config.schedule.as_ref()) {
        fill(
            &mut s.days,
            &cs.days,
            DEFAULT_DAYS.iter().map(|d| d.to_string()).collect(),
        );
    }
}

/// The state to apply: the (now wholly known) configuration with defaults. Values unknown at
/// plan time (e.g. `environment_id` of an environment created in the same apply) are known now.
fn settled(planned: &State, config: &State) -> State {
    let mut s = State {
        target_arns: planned.target_arns.clone(),
        ..config.clone()
    };
    defaults(&mut s, config);
    s
}

impl AutoDestroyPolicyResource {
    async fn apply(&self, ctx: &Ctx, planned: State, prior: Option<&State>) -> Result<State, Fail> {
        let aws = ctx.data::<Aws>()?;
        let c = Clients::new(&aws).await;
        let mut st = planned;
        let policy = to_policy(&st)?;
        let want = resolve(ctx, &c, &st).await?;
        if want.is_empty() {
            return Err(Diagnostic::error(
                "No targets found",
                match st.environment_id.known() {
                    Some(e) => format!("staging_environment {e:?} has no App Runner service, database or secret (yet)."),
                    None => "None of the targets exists.".to_string(),
                },
            )
            .into());
        }
        guard(&aws, &want)?;
        let previously = prior.map(|p| list(&p.target_arns)).unwrap_or_default();
        let carried = write_tags(ctx, &c, &policy, &want, &previously, &st).await?;
        st.id = Tf::Known(policy.name.clone());
        st.target_arns = Tf::Known(carried);
        // Evaluate on what is there now (with the tags just written).
        let fresh = resolve(ctx, &c, &st)
            .await
            .map_err(|d| Fail::partial(nulls(&st), d))?;
        let (_, e) = reaper::evaluate_targets(ctx, &c, &policy.name, fresh, reaper::now())
            .await
            .map_err(|d| Fail::partial(nulls(&st), d))?;
        set_evaluation(&mut st, &e);
        Ok(st)
    }
}

/// The state with its computed evaluation unset (for partial state).
fn nulls(st: &State) -> State {
    let mut s = st.clone();
    s.last_activity_at = Tf::Null;
    s.idle_since = Tf::Null;
    s.destroy_after = Tf::Null;
    s.status = Tf::Null;
    s
}

/// The evaluation-relevant part of a state: when it changes, the computed values will too.
fn settings(s: &State) -> State {
    State {
        id: Tf::Null,
        target_arns: Tf::Null,
        last_activity_at: Tf::Null,
        idle_since: Tf::Null,
        destroy_after: Tf::Null,
        status: Tf::Null,
        ..s.clone()
    }
}

#[async_trait]
impl Resource for AutoDestroyPolicyResource {
    type State = AutoDestroyPolicy;

    fn type_name(&self) -> &'static str {
        "staging_auto_destroy_policy"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, _ctx: &Ctx, c: &State) -> Diagnostics {
        let mut d = Diagnostics::new();
        let explicit = c.targets.as_ref().is_some_and(|t| {
            [
                &t.app_runner_service_arns,
                &t.ecs_service_arns,
                &t.rds_instance_ids,
                &t.secret_arns,
            ]
            .iter()
            .any(|l| !l.is_null())
        });
        match (c.environment_id.is_null(), explicit) {
            (false, true) => d.error_at(
                at("targets"),
                "Conflicting targets",
                "Set environment_id or targets, not both.",
            ),
            (true, false) if c.targets.is_none() => d.error(
                "No targets",
                "Set environment_id (a staging_environment's id) or a targets block.",
            ),
            _ => {}
        }
        if c.environment_id.is_null() && c.name.is_null() {
            d.error_at(
                at("name"),
                "Name required",
                "A policy with explicit targets needs a name.",
            );
        }
        if let Tf::Known(n) = &c.name {
            let ok = !n.is_empty()
                && n.len() <= 200
                && n.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
            if !ok {
                d.error_at(
                    at("name"),
                    "Invalid name",
                    format!("{n:?}: letters, digits, `-`, `_` and `.` (it becomes a tag value)."),
                );
            }
        }
        if let Tf::Known(n) = c.idle_days {
            if !(1..=365).contains(&n) {
                d.error_at(
                    at("idle_days"),
                    "Invalid idle_days",
                    "Between 1 and 365 days.",
                );
            }
        }
        if let Tf::Known(h) = c.warn_before_hours {
            let days = c.idle_days.known().copied().unwrap_or(DEFAULT_IDLE_DAYS);
            if h < 0 || h >= days * 24 {
                d.error_at(
                    at("warn_before_hours"),
                    "Invalid warn_before_hours",
                    format!("Between 0 and {} (less than idle_days).", days * 24 - 1),
                );
            }
        }
        if let Tf::Known(arn) = &c.notify_topic_arn {
            if !arn.starts_with("arn:") || !arn.contains(":sns:") {
                d.error_at(
                    at("notify_topic_arn"),
                    "Invalid topic ARN",
                    format!("{arn:?} is not an SNS topic ARN."),
                );
            }
        }
        if c.activity.is_empty() {
            d.error_at(at("activity"), "No activity signal", "Add at least one activity { signal = …, missing_data = … } block: the policy must say what counts as use.");
        }
        // Field-level checks (values that are known).
        if let Err(e) = to_policy(c) {
            d.extend(e);
        }
        if let Some(t) = &c.targets {
            for (f, l, k) in [
                (
                    "app_runner_service_arns",
                    &t.app_runner_service_arns,
                    Kind::AppRunner,
                ),
                ("ecs_service_arns", &t.ecs_service_arns, Kind::Ecs),
                ("secret_arns", &t.secret_arns, Kind::Secret),
            ] {
                for arn in list(l) {
                    if classify(&arn) != Some(k) {
                        d.error_at(
                            at("targets").join_attr(f),
                            "Invalid ARN",
                            format!("{arn:?} is not a {} ARN.", k.as_str()),
                        );
                    }
                }
            }
        }
        d
    }

    async fn plan(&self, ctx: &Ctx, plan: &mut Plan<State>) -> Result<(), Diagnostics> {
        let config = plan.config.clone();
        defaults(&mut plan.planned, &config);
        let Some(prior) = plan.prior.clone() else {
            return Ok(());
        };
        if prior.name != plan.planned.name {
            plan.requires_replace.push(at("name"));
        }
        let p = &mut plan.planned;
        // The targets as they are now; unknown when they will change.
        let expected = if p.environment_id.is_unknown()
            || p.targets.as_ref().is_some_and(|t| {
                t.app_runner_service_arns.is_unknown()
                    || t.ecs_service_arns.is_unknown()
                    || t.rds_instance_ids.is_unknown()
                    || t.secret_arns.is_unknown()
            }) {
            None
        } else {
            let aws = ctx.data::<Aws>()?;
            let c = Clients::new(&aws).await;
            let ts = resolve(ctx, &c, p).await?;
            guard(&aws, &ts)
                .map_err(|d| Diagnostics::from(d.0[0].clone().at(at("environment_id"))))?;
            Some(arns(&ts))
        };
        let targets_change = expected.as_ref() != prior.target_arns.known();
        if targets_change {
            p.target_arns = Tf::Unknown;
        }
        if targets_change || settings(&prior) != settings(p) {
            p.last_activity_at = Tf::Unknown;
            p.idle_since = Tf::Unknown;
            p.destroy_after = Tf::Unknown;
            p.status = Tf::Unknown;
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx, planned: State, config: &State) -> Result<State, Fail> {
        self.apply(ctx, settled(&planned, config), None).await
    }

    async fn read(&self, ctx: &Ctx, current: State) -> Result<Option<State>, Diagnostics> {
        let aws = ctx.data::<Aws>()?;
        let c = Clients::new(&aws).await;
        let mut st = current;
        let Some(name) = st.name.known().cloned() else {
            return Ok(None);
        };
        let mut found = resolve(ctx, &c, &st).await?;
        let resolved = arns(&found);
        // Earlier targets no longer named keep showing while they carry the policy.
        for arn in list(&st.target_arns) {
            if resolved.contains(&arn) {
                continue;
            }
            if let Some(kind) = classify(&arn) {
                if let Some(t) = targets::target(ctx, &c, kind, &arn).await? {
                    found.push(t);
                }
            }
        }
        let carrying: Vec<Target> = found
            .into_iter()
            .filter(|t| t.policy() == Some(name.as_str()))
            .collect();
        if carrying.is_empty() {
            // The policy exists only as tags: no object carries it any more (destroyed by the
            // reaper, or untagged by hand). The next apply writes it again.
            return Ok(None);
        }
        let new_arns = arns(&carrying);
        if st.target_arns.known() != Some(&new_arns) {
            st.target_arns = Tf::Known(new_arns);
        }
        let g = Group::new(name.clone(), carrying);
        // Settings changed outside Terraform show as drift; the same settings are left alone.
        match &g.policy {
            Ok(remote) => {
                let mine = to_policy(&st).ok();
                let mut remote_cmp = remote.clone();
                if let Some(m) = &mine {
                    remote_cmp.environment = m.environment.clone();
                }
                if mine.as_ref() != Some(&remote_cmp) {
                    from_policy(&mut st, remote);
                }
            }
            Err(_) => {
                // Targets disagree: report only those that match the state, so plan re-tags.
                let mine = to_policy(&st).ok().map(|p| p.to_tags());
                let matching: Vec<String> = g
                    .targets
                    .iter()
                    .filter(|t| {
                        let theirs: BTreeMap<String, String> = t
                            .tags
                            .iter()
                            .filter(|(k, _)| tag::is_policy_key(k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        mine.as_ref() == Some(&theirs)
                    })
                    .map(|t| t.arn.clone())
                    .collect();
                st.target_arns = Tf::Known(matching);
                return Ok(Some(st));
            }
        }
        let (_, e) = reaper::evaluate_targets(ctx, &c, &name, g.targets, reaper::now()).await?;
        set_evaluation(&mut st, &e);
        st.id = Tf::Known(name);
        Ok(Some(st))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: State,
        planned: State,
        config: &State,
    ) -> Result<State, Fail> {
        self.apply(ctx, settled(&planned, config), Some(&prior))
            .await
            .map_err(|mut e| {
                if e.state.is_none() {
                    e.state = Some(prior.clone());
                }
                e
            })
    }

    async fn delete(&self, ctx: &Ctx, prior: State) -> Result<(), Fail> {
        // Only tags are removed: deleting a policy never touches the environment itself.
        let aws = ctx.data::<Aws>()?;
        let c = Clients::new(&aws).await;
        let name = prior.name.known().cloned().unwrap_or_default();
        let mut all = resolve(ctx, &c, &prior)
            .await
            .map_err(|d| Fail::partial(prior.clone(), d))?;
        let seen = arns(&all);
        for arn in list(&prior.target_arns) {
            if seen.contains(&arn) {
                continue;
            }
            if let Some(kind) = classify(&arn) {
                if let Some(t) = targets::target(ctx, &c, kind, &arn)
                    .await
                    .map_err(|d| Fail::partial(prior.clone(), d))?
                {
                    all.push(t);
                }
            }
        }
        for t in all.iter().filter(|t| t.policy() == Some(name.as_str())) {
            remove_ours(ctx, &c, t)
                .await
                .map_err(|d| Fail::partial(prior.clone(), d))?;
        }
        Ok(())
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> Result<State, Diagnostics> {
        let aws = ctx.data::<Aws>()?;
        let c = Clients::new(&aws).await;
        let found: Vec<Target> = targets::discover(ctx, &c)
            .await?
            .into_iter()
            .filter(|t| t.policy() == Some(id))
            .collect();
        let Some(first) = found.first() else {
            return Err(Diagnostic::error(
                "Policy not found",
                format!("No object carries the tag {}={id}.", tag::POLICY),
            )
            .into());
        };
        let mut st = State {
            id: Tf::Known(id.to_string()),
            name: Tf::Known(id.to_string()),
            ..Default::default()
        };
        match first.tags.get(tag::ENVIRONMENT) {
            Some(env) => st.environment_id = Tf::Known(env.clone()),
            None => {
                let of = |k: Kind| -> Tf<Vec<String>> {
                    let v: Vec<String> = found
                        .iter()
                        .filter(|t| t.kind == k)
                        .map(|t| {
                            if k == Kind::Rds {
                                t.name.clone()
                            } else {
                                t.arn.clone()
                            }
                        })
                        .collect();
                    if v.is_empty() {
                        Tf::Null
                    } else {
                        Tf::Known(v)
                    }
                };
                st.targets = Some(Targets {
                    app_runner_service_arns: of(Kind::AppRunner),
                    ecs_service_arns: of(Kind::Ecs),
                    rds_instance_ids: of(Kind::Rds),
                    secret_arns: of(Kind::Secret),
                });
            }
        }
        st.target_arns = Tf::Known(arns(&found));
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_valid() {
        let errors = schema::schema().validate();
        assert!(errors.is_empty(), "{errors:?}");
    }

    fn state() -> State {
        State {
            environment_id: Tf::Known("app-staging".into()),
            idle_days: Tf::Known(7),
            warn_before_hours: Tf::Known(24),
            action: Tf::Known("pause".into()),
            final_snapshot: Tf::Known(true),
            enabled: Tf::Known(true),
            snooze_until: Tf::Known("2026-12-24T00:00:00+01:00".into()),
            activity: vec![
                Activity {
                    signal: Tf::Known("rds_connections".into()),
                    threshold: Tf::Known(5.0),
                    missing_data: Tf::Known("idle".into()),
                    ..Default::default()
                },
                Activity {
                    signal: Tf::Known("metric".into()),
                    threshold: Tf::Known(0.0),
                    missing_data: Tf::Known("active".into()),
                    namespace: Tf::Known("AWS/ApplicationELB".into()),
                    metric_name: Tf::Known("RequestCount".into()),
                    stat: Tf::Known("Sum".into()),
                    dimensions: Tf::Known(
                        [("LoadBalancer".to_string(), "app/web/1".to_string())]
                            .into_iter()
                            .collect(),
                    ),
                },
            ],
            schedule: Some(ScheduleBlock {
                time_zone: Tf::Known("Europe/Berlin".into()),
                days: Tf::Known(vec!["mon".into(), "tue".into()]),
                start: Tf::Known("08:00".into()),
                stop: Tf::Known("19:00".into()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn state_and_tags_round_trip() {
        let s = state();
        let p = to_policy(&s).unwrap();
        assert_eq!(p.name, "app-staging");
        let back = Policy::from_tags(&p.to_tags()).unwrap();
        assert_eq!(back, p);
        let mut s2 = s.clone();
        from_policy(&mut s2, &back);
        // The user's spelling of the snooze time survives.
        assert_eq!(s2.snooze_until, s.snooze_until);
        assert_eq!(to_policy(&s2).unwrap(), p);
    }

    #[test]
    fn bad_settings_name_their_attribute() {
        let mut s = state();
        s.activity[1].namespace = Tf::Null;
        s.activity[0].missing_data = Tf::Known("zero".into());
        s.action = Tf::Known("nuke".into());
        let d = to_policy(&s).unwrap_err();
        let paths: Vec<String> =
            d.0.iter()
                .filter_map(|d| d.path.as_ref().map(|p| p.to_string()))
                .collect();
        assert!(paths.iter().any(|p| p == "action"), "{paths:?}");
        assert!(
            paths.iter().any(|p| p.contains("missing_data")),
            "{paths:?}"
        );
        assert!(paths.iter().any(|p| p.contains("namespace")), "{paths:?}");
    }
}
