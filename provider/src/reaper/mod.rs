//! The reaper: the auto-destroy evaluator and executor behind `staging_auto_destroy_policy`,
//! usable without Terraform (`terraform-provider-staging reaper`, or the same binary as an AWS
//! Lambda custom runtime, see [`lambda`]).
//!
//! One run:
//! 1. finds every object carrying a policy tag (tagging API; App Runner asked directly too),
//!    groups them by policy and reads the policy and the reaper's memory from their tags;
//! 2. reads activity for all policies with batched GetMetricData calls ([`metrics`]);
//! 3. evaluates each policy ([`eval::evaluate`], the same function the resource's Read uses)
//!    and plans its steps ([`plan_policy`], pure);
//! 4. prints the plan as JSON lines — identical in a dry run and a real run — and, unless it is
//!    a dry run, executes it, printing one JSON line per result.
//!
//! Safety rules, all in [`plan_policy`]:
//! - `enabled = false` and a future `snooze_until` plan nothing at all.
//! - Objects the production guard marks as production are never touched.
//! - Policies whose targets disagree about the policy (a half-applied change) are held.
//! - Nothing is paused or destroyed before a warning for that very deadline went out at least
//!   `warn_before_hours` earlier; a late warning pushes the action back.
//! - A destroy takes a final RDS snapshot unless `final_snapshot = false`, and refuses
//!   instances with deletion protection.
pub mod eval;
pub mod lambda;
pub mod metrics;
pub mod policy;
pub mod targets;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{json, Value as Json};

use crate::aws::Aws;
use crate::config::ProductionGuard;
use crate::tfplugin::{Ctx, Diagnostics};

use eval::{evaluate, Evaluation, Observed, Status, Window};
use policy::{fmt_ts, parse_ts, tag, Action, Memory, Policy};
use targets::{Clients, Kind, Target};

/// Environment variable that fixes the clock (RFC3339), for tests and demos. The reaper's
/// `--now` takes precedence; the resource's Read uses it too, so plans are reproducible.
pub const NOW_ENV: &str = "STAGECRAFT_NOW";

/// The current time: `STAGECRAFT_NOW` when set (a testing hook), else the system clock.
pub fn now() -> Timestamp {
    std::env::var(NOW_ENV)
        .ok()
        .and_then(|s| parse_ts(s.trim()))
        .unwrap_or_else(Timestamp::now)
}

#[derive(Clone, Debug)]
pub struct Options {
    pub dry_run: bool,
    pub now: Timestamp,
    pub guard: ProductionGuard,
}

/// One planned step for one policy.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Bookkeeping tags (the reaper's memory): set these, remove those.
    Record {
        set: BTreeMap<String, String>,
        remove: BTreeSet<String>,
    },
    /// Send the warning for `deadline` (SNS when a topic is set) and remember it.
    Warn { deadline: Timestamp },
    /// Pause every target (`by` = `idle` or `schedule`).
    Pause { by: &'static str },
    /// Resume after the schedule's pause.
    Resume,
    /// Stop databases RDS restarted on its own (it restarts stopped instances after 7 days).
    Restop,
    /// Snapshot the databases and delete every target.
    Destroy,
    /// Nothing happens, and why.
    Hold { reason: String },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Record { .. } => "record",
            Op::Warn { .. } => "warn",
            Op::Pause { .. } => "pause",
            Op::Resume => "resume",
            Op::Restop => "restop",
            Op::Destroy => "destroy",
            Op::Hold { .. } => "hold",
        }
    }
}

/// A policy with its targets, as found on AWS.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    /// Sorted service (App Runner, ECS) → database → secret.
    pub targets: Vec<Target>,
    pub policy: Result<Policy, String>,
    pub memory: Memory,
}

impl Group {
    pub fn new(name: String, mut targets: Vec<Target>) -> Group {
        targets.sort_by(|a, b| (a.kind, &a.arn).cmp(&(b.kind, &b.arn)));
        let policy = consistent_policy(&targets);
        let mut memory = Memory::default();
        for (i, t) in targets.iter().enumerate() {
            let m = Memory::from_tags(&t.tags);
            if i == 0 {
                memory = m;
            } else {
                memory.merge(&m);
            }
        }
        Group {
            name,
            targets,
            policy,
            memory,
        }
    }

    pub fn observed(&self) -> Observed {
        Observed {
            paused: self.targets.iter().any(Target::paused),
        }
    }
}

/// The policy every target agrees on; an error when they disagree or a tag is unreadable.
fn consistent_policy(targets: &[Target]) -> Result<Policy, String> {
    let policy_tags = |t: &Target| -> BTreeMap<String, String> {
        t.tags
            .iter()
            .filter(|(k, _)| tag::is_policy_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let first = targets.first().ok_or("no targets")?;
    let want = policy_tags(first);
    for t in &targets[1..] {
        if policy_tags(t) != want {
            return Err(format!(
                "{} and {} carry different policy settings (a change applied halfway?)",
                first.arn, t.arn
            ));
        }
    }
    Policy::from_tags(&want)
}

/// Final snapshot name for `db`: unique per destroy (the time, to the second), so repeated
/// destroy/recreate cycles never collide.
pub fn snapshot_name(db: &str, now: Timestamp) -> String {
    let stamp = fmt_ts(now).replace(['-', ':'], "");
    let stamp = stamp
        .trim_end_matches('Z')
        .replace('T', "-")
        .to_ascii_lowercase();
    format!("{db}-auto-destroy-{stamp}")
}

const RDS_AUTO_START: i64 = 7 * 24;

/// Plans one policy's steps. Pure: the same inputs always give the same plan, which is what
/// makes a dry run an exact preview.
pub fn plan_policy(
    g: &Group,
    cloudwatch_activity: Option<Timestamp>,
    opts: &Options,
) -> (Option<Evaluation>, Vec<Op>) {
    let now = opts.now;
    let policy = match &g.policy {
        Ok(p) => p,
        Err(e) => {
            return (
                None,
                vec![Op::Hold {
                    reason: format!("unreadable policy: {e}"),
                }],
            )
        }
    };
    // Production is never touched, not even tagged.
    for t in &g.targets {
        if let Err(d) = opts
            .guard
            .check(&t.arn, t.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            return (None, vec![Op::Hold { reason: d.detail }]);
        }
    }
    let observed = g.observed();
    let mem = &g.memory;
    if !policy.enabled || policy.snooze_until.is_some_and(|s| s > now) {
        let e = evaluate(policy, mem, observed, cloudwatch_activity, now);
        let reason = if policy.enabled {
            format!(
                "snoozed until {}",
                policy.snooze_until.map(fmt_ts).unwrap_or_default()
            )
        } else {
            "disabled (enabled = false)".to_string()
        };
        return (Some(e), vec![Op::Hold { reason }]);
    }

    // What changed since the last run: the reaper's memory, updated first so the evaluation
    // below sees it.
    let mut m = mem.clone();
    let mut set = BTreeMap::new();
    let mut remove = BTreeSet::new();
    if m.since.is_none() {
        m.since = Some(now);
        set.insert(tag::SINCE.to_string(), fmt_ts(now));
    }
    if cloudwatch_activity > m.last_activity {
        m.last_activity = cloudwatch_activity;
        set.insert(
            tag::LAST_ACTIVITY.to_string(),
            fmt_ts(cloudwatch_activity.expect("greater than something")),
        );
    }
    let is_service = |t: &&Target| matches!(t.kind, Kind::AppRunner | Kind::Ecs);
    let services_running = g
        .targets
        .iter()
        .filter(is_service)
        .any(|t| t.status == "RUNNING");
    let has_service = g.targets.iter().any(|t| is_service(&t));
    let db_up: Vec<&Target> = g
        .targets
        .iter()
        .filter(|t| t.kind == Kind::Rds && t.status == "available")
        .collect();
    // RDS starts a stopped instance by itself after 7 days: that is not a resume.
    let rds_restarted = m.paused_by.is_some()
        && !services_running
        && !db_up.is_empty()
        && (has_service
            || m.paused_at
                .is_some_and(|p| now >= p + eval::hours(RDS_AUTO_START - 1)));
    let mut observed = observed;
    if rds_restarted {
        observed.paused = true;
    }
    if observed.paused {
        if m.paused_by.is_none() && m.pause_seen.is_none() {
            m.pause_seen = Some(now);
            set.insert(tag::PAUSE_SEEN.to_string(), fmt_ts(now));
        }
    } else if m.pause_seen.is_some() || m.paused_by.as_deref() == Some("idle") {
        // Back from a pause the schedule did not make: the idle clock restarts now.
        m.resumed_at = Some(now);
        set.insert(tag::RESUMED_AT.to_string(), fmt_ts(now));
        for k in [tag::PAUSE_SEEN, tag::PAUSED_BY, tag::PAUSED_AT] {
            remove.insert(k.to_string());
        }
        m.pause_seen = None;
        m.paused_by = None;
        m.paused_at = None;
    } else if m.paused_by.is_some() {
        // Running again after a schedule pause (resumed by hand, or our resume's tag update
        // was lost): forget the pause; the clock was running anyway.
        for k in [tag::PAUSED_BY, tag::PAUSED_AT] {
            remove.insert(k.to_string());
        }
        m.paused_by = None;
        m.paused_at = None;
    }

    let e = evaluate(policy, &m, observed, cloudwatch_activity, now);
    let mut ops = vec![];
    if !set.is_empty() || !remove.is_empty() {
        ops.push(Op::Record { set, remove });
    }

    // Idle handling.
    let mut acting = false;
    if let (Status::Warning | Status::Due, Some(deadline)) = (e.status, e.destroy_after) {
        if m.warned_for != Some(deadline) {
            ops.push(Op::Warn { deadline });
            if e.status == Status::Due {
                ops.push(Op::Hold {
                    reason: format!(
                        "warning sent late: acting {} hours after it",
                        policy.warn_before_hours
                    ),
                });
            }
        } else if e.status == Status::Due {
            let warned = m.warned_at.unwrap_or(deadline);
            let act_at = warned + eval::hours(policy.warn_before_hours);
            if now < act_at {
                ops.push(Op::Hold {
                    reason: format!(
                        "warning was sent late: acting at {}",
                        fmt_ts(act_at.max(deadline))
                    ),
                });
            } else {
                match policy.action {
                    Action::Destroy => {
                        if let Some(db) = g
                            .targets
                            .iter()
                            .find(|t| t.kind == Kind::Rds && t.deletion_protection)
                        {
                            ops.push(Op::Hold {
                                reason: format!(
                                    "{} has deletion protection: not destroying anything",
                                    db.name
                                ),
                            });
                        } else {
                            ops.push(Op::Destroy);
                        }
                        acting = true;
                    }
                    Action::Pause => {
                        ops.push(Op::Pause { by: "idle" });
                        acting = true;
                    }
                }
            }
        }
    }

    // Working hours and RDS's automatic restarts, unless the policy is acting anyway.
    if !acting {
        let in_hours = policy.schedule.as_ref().map(|s| s.in_hours(now));
        let schedule_paused = m.paused_by.as_deref() == Some("schedule");
        match in_hours {
            Some(false) if !observed.paused => ops.push(Op::Pause { by: "schedule" }),
            Some(true) if schedule_paused => ops.push(Op::Resume),
            _ if rds_restarted => ops.push(Op::Restop),
            _ => {}
        }
    }
    (Some(e), ops)
}

/// A JSON line for one planned step.
fn plan_line(g: &Group, e: Option<&Evaluation>, op: &Op, opts: &Options) -> Json {
    let mut line = json!({
        "event": "plan",
        "policy": g.name,
        "action": op.name(),
    });
    let o = line.as_object_mut().expect("object");
    if let Some(e) = e {
        o.insert("status".into(), json!(e.status.as_str()));
        o.insert(
            "last_activity_at".into(),
            json!(e.last_activity_at.map(fmt_ts)),
        );
        o.insert("idle_since".into(), json!(e.idle_since.map(fmt_ts)));
        o.insert("destroy_after".into(), json!(e.destroy_after.map(fmt_ts)));
    }
    match op {
        Op::Record { set, remove } => {
            o.insert("set".into(), json!(set));
            o.insert("remove".into(), json!(remove));
        }
        Op::Warn { deadline } => {
            o.insert("deadline".into(), json!(fmt_ts(*deadline)));
            if let Ok(p) = &g.policy {
                o.insert("topic".into(), json!(p.notify_topic_arn));
            }
        }
        Op::Pause { by } => {
            o.insert("by".into(), json!(by));
        }
        Op::Destroy => {
            let final_snapshot = g.policy.as_ref().is_ok_and(|p| p.final_snapshot);
            let snaps: Vec<String> = g
                .targets
                .iter()
                .filter(|t| t.kind == Kind::Rds && final_snapshot)
                .map(|t| snapshot_name(&t.name, opts.now))
                .collect();
            o.insert("final_snapshots".into(), json!(snaps));
        }
        Op::Hold { reason } => {
            o.insert("reason".into(), json!(reason));
        }
        Op::Resume | Op::Restop => {}
    }
    o.insert(
        "targets".into(),
        json!(g.targets.iter().map(|t| t.arn.clone()).collect::<Vec<_>>()),
    );
    line
}

fn warning_message(g: &Group, p: &Policy, e: Option<&Evaluation>, deadline: Timestamp) -> String {
    let what = match p.action {
        Action::Destroy => {
            if p.final_snapshot {
                "destroyed (databases get a final snapshot first)"
            } else {
                "destroyed (no final snapshot)"
            }
        }
        Action::Pause => "paused",
    };
    let last = e
        .and_then(|e| e.last_activity_at)
        .map(fmt_ts)
        .unwrap_or_else(|| "none seen".into());
    let mut targets = String::new();
    for t in &g.targets {
        targets.push_str(&format!("  - {} {}\n", t.kind.as_str(), t.arn));
    }
    format!(
        "Staging environment \"{name}\" has been idle for {days} days and will be {what} after {deadline}.\n\n\
         Last activity: {last}\nTargets:\n{targets}\n\
         To keep it: use it (any activity resets the clock), or set snooze_until on its \
         staging_auto_destroy_policy, or enabled = false, and apply.\n",
        name = g.name,
        days = p.idle_days,
        deadline = fmt_ts(deadline),
    )
}

async fn tag_all(
    ctx: &Ctx,
    c: &Clients,
    g: &Group,
    set: &BTreeMap<String, String>,
    remove: &BTreeSet<String>,
) -> Result<(), Diagnostics> {
    for t in &g.targets {
        targets::tag(ctx, c, t, set).await?;
        targets::untag(ctx, c, t, remove).await?;
    }
    Ok(())
}

/// Carries out one step. Only called in a real run.
async fn execute(
    ctx: &Ctx,
    c: &Clients,
    g: &Group,
    e: Option<&Evaluation>,
    op: &Op,
    opts: &Options,
) -> Result<Json, Diagnostics> {
    let now = fmt_ts(opts.now);
    let mut done = json!({});
    match op {
        Op::Hold { .. } => {}
        Op::Record { set, remove } => tag_all(ctx, c, g, set, remove).await?,
        Op::Warn { deadline } => {
            let p = g.policy.as_ref().map_err(|e| {
                Diagnostics::from(crate::tfplugin::Diagnostic::error(
                    "unreadable policy",
                    e.clone(),
                ))
            })?;
            if let Some(topic) = &p.notify_topic_arn {
                let subject = format!(
                    "staging {} will be {} after {}",
                    g.name,
                    if p.action == Action::Destroy {
                        "destroyed"
                    } else {
                        "paused"
                    },
                    fmt_ts(*deadline)
                );
                let subject: String = subject.chars().take(99).collect();
                targets::publish(
                    ctx,
                    c,
                    topic,
                    &subject,
                    &warning_message(g, p, e, *deadline),
                )
                .await?;
                done["sns"] = json!(topic);
            }
            let set = [
                (tag::WARNED_FOR.to_string(), fmt_ts(*deadline)),
                (tag::WARNED_AT.to_string(), now.clone()),
            ]
            .into_iter()
            .collect();
            tag_all(ctx, c, g, &set, &BTreeSet::new()).await?;
        }
        Op::Pause { by } => {
            for t in &g.targets {
                match (t.kind, t.status.as_str()) {
                    (Kind::AppRunner, "RUNNING") => targets::pause_service(ctx, c, &t.arn).await?,
                    (Kind::Ecs, "RUNNING") => targets::pause_ecs(ctx, c, &t.arn).await?,
                    (Kind::Rds, "available") => targets::stop_db(ctx, c, &t.name).await?,
                    _ => {}
                }
            }
            let set = [
                (tag::PAUSED_BY.to_string(), by.to_string()),
                (tag::PAUSED_AT.to_string(), now.clone()),
            ]
            .into_iter()
            .collect();
            let remove = [tag::PAUSE_SEEN.to_string()].into_iter().collect();
            tag_all(ctx, c, g, &set, &remove).await?;
        }
        Op::Resume => {
            for t in &g.targets {
                match (t.kind, t.status.as_str()) {
                    (Kind::AppRunner, "PAUSED") => targets::resume_service(ctx, c, &t.arn).await?,
                    (Kind::Ecs, "PAUSED") => targets::resume_ecs(ctx, c, &t.arn).await?,
                    (Kind::Rds, "stopped") => targets::start_db(ctx, c, &t.name).await?,
                    _ => {}
                }
            }
            let remove = [tag::PAUSED_BY.to_string(), tag::PAUSED_AT.to_string()]
                .into_iter()
                .collect();
            tag_all(ctx, c, g, &BTreeMap::new(), &remove).await?;
        }
        Op::Restop => {
            for t in &g.targets {
                if t.kind == Kind::Rds && t.status == "available" {
                    targets::stop_db(ctx, c, &t.name).await?;
                }
            }
        }
        Op::Destroy => {
            let final_snapshot = g.policy.as_ref().is_ok_and(|p| p.final_snapshot);
            let mut deleted = vec![];
            let mut snapshots = vec![];
            for t in &g.targets {
                match t.kind {
                    Kind::AppRunner => targets::delete_service(ctx, c, &t.arn).await?,
                    Kind::Ecs => targets::delete_ecs(ctx, c, &t.arn).await?,
                    Kind::Rds => {
                        let snap = final_snapshot.then(|| snapshot_name(&t.name, opts.now));
                        targets::delete_db(ctx, c, &t.name, &t.status, snap.as_deref()).await?;
                        snapshots.extend(snap);
                    }
                    Kind::Secret => targets::delete_secret(ctx, c, &t.arn).await?,
                }
                deleted.push(t.arn.clone());
            }
            done["deleted"] = json!(deleted);
            done["final_snapshots"] = json!(snapshots);
        }
    }
    Ok(done)
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub policies: usize,
    pub planned: usize,
    pub failed: usize,
    pub cloudwatch_calls: usize,
    /// The `event: plan` lines, as printed.
    pub plan: Vec<Json>,
}

/// Activity per group, read with as few GetMetricData calls as the limits allow.
pub async fn activity(
    ctx: &Ctx,
    c: &Clients,
    groups: &[Group],
    now: Timestamp,
) -> Result<(Vec<Option<Timestamp>>, usize), Diagnostics> {
    // (window) → [(group index, signal index, spec)]
    let mut by_window: BTreeMap<Window, Vec<(usize, usize, metrics::MetricSpec)>> = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        let Ok(p) = &g.policy else { continue };
        if !p.enabled {
            continue;
        }
        let w = Window::for_policy(p.idle_days, now);
        for (si, spec) in metrics::specs(p, &g.targets) {
            by_window.entry(w).or_default().push((gi, si, spec));
        }
    }
    let mut out = vec![None; groups.len()];
    let mut calls = 0;
    for (w, items) in by_window {
        let specs: Vec<_> = items.iter().map(|(_, _, s)| s.clone()).collect();
        let (series, n) = metrics::fetch(ctx, &c.cloudwatch, w, &specs).await?;
        calls += n;
        for ((gi, si, _), points) in items.iter().zip(series) {
            let Ok(p) = &groups[*gi].policy else { continue };
            let a = eval::latest_activity(&p.signals[*si], &points, &w, p.schedule.as_ref(), now);
            if a > out[*gi] {
                out[*gi] = a;
            }
        }
    }
    Ok((out, calls))
}

/// Evaluates one policy on its targets (the resource's Read): one GetMetricData call.
pub async fn evaluate_targets(
    ctx: &Ctx,
    c: &Clients,
    name: &str,
    targets: Vec<Target>,
    now: Timestamp,
) -> Result<(Group, Evaluation), Diagnostics> {
    let g = Group::new(name.to_string(), targets);
    let (act, _) = activity(ctx, c, std::slice::from_ref(&g), now).await?;
    let policy = g.policy.clone().map_err(|e| {
        Diagnostics::from(crate::tfplugin::Diagnostic::error(
            "Unreadable auto-destroy policy tags",
            e,
        ))
    })?;
    let e = evaluate(&policy, &g.memory, g.observed(), act[0], now);
    Ok((g, e))
}

/// One reaper run; `out` receives every JSON line.
pub async fn run(
    ctx: &Ctx,
    c: &Clients,
    opts: &Options,
    out: &mut (dyn FnMut(&Json) + Send),
) -> Result<Report, Diagnostics> {
    let found = targets::discover(ctx, c).await?;
    let mut by_policy: BTreeMap<String, Vec<Target>> = BTreeMap::new();
    for t in found {
        if let Some(p) = t.policy() {
            by_policy.entry(p.to_string()).or_default().push(t);
        }
    }
    let groups: Vec<Group> = by_policy
        .into_iter()
        .map(|(name, ts)| Group::new(name, ts))
        .collect();
    let (act, calls) = activity(ctx, c, &groups, opts.now).await?;
    let mut report = Report {
        policies: groups.len(),
        cloudwatch_calls: calls,
        ..Default::default()
    };
    let plans: Vec<(Option<Evaluation>, Vec<Op>)> = groups
        .iter()
        .zip(&act)
        .map(|(g, a)| plan_policy(g, *a, opts))
        .collect();
    // The plan first, whole, in both modes.
    for (g, (e, ops)) in groups.iter().zip(&plans) {
        if ops.is_empty() {
            let line = plan_line(
                g,
                e.as_ref(),
                &Op::Hold {
                    reason: "nothing to do".into(),
                },
                opts,
            );
            let mut line = line;
            line["action"] = json!("none");
            line.as_object_mut().map(|o| o.remove("reason"));
            out(&line);
            report.plan.push(line);
        }
        for op in ops {
            let line = plan_line(g, e.as_ref(), op, opts);
            out(&line);
            report.plan.push(line);
            if !matches!(op, Op::Hold { .. }) {
                report.planned += 1;
            }
        }
    }
    if !opts.dry_run {
        for (g, (e, ops)) in groups.iter().zip(&plans) {
            for op in ops {
                if matches!(op, Op::Hold { .. }) {
                    continue;
                }
                match execute(ctx, c, g, e.as_ref(), op, opts).await {
                    Ok(detail) => {
                        let mut line =
                            json!({"event": "done", "policy": g.name, "action": op.name()});
                        if let (Some(o), Some(d)) = (line.as_object_mut(), detail.as_object()) {
                            o.extend(d.clone());
                        }
                        out(&line);
                    }
                    Err(d) => {
                        report.failed += 1;
                        out(&json!({
                            "event": "failed",
                            "policy": g.name,
                            "action": op.name(),
                            "error": d.to_string(),
                        }));
                        // The rest of this policy's steps depend on this one.
                        break;
                    }
                }
            }
        }
    }
    out(&json!({
        "event": "summary",
        "dry_run": opts.dry_run,
        "now": fmt_ts(opts.now),
        "policies": report.policies,
        "actions": report.planned,
        "failed": report.failed,
        "cloudwatch_calls": report.cloudwatch_calls,
    }));
    Ok(report)
}

/// The provider's AWS settings for a run outside Terraform: the SDK's usual chain
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, profiles, roles), default production guard.
pub fn standalone_aws() -> std::sync::Arc<Aws> {
    Aws::new(crate::config::Settings {
        region: None,
        profile: None,
        default_tags: BTreeMap::new(),
        assume_role: None,
        endpoints: BTreeMap::new(),
        guard: ProductionGuard::default(),
    })
}

/// `terraform-provider-staging reaper [--dry-run] [--now RFC3339]`: JSON lines on stdout;
/// exit code 0, or 1 when a step failed or the run could not start.
pub async fn cli(dry_run: bool, now_arg: Option<String>) -> i32 {
    let now = match now_arg {
        Some(s) => match parse_ts(&s) {
            Some(t) => t,
            None => {
                eprintln!("--now {s:?} is not an RFC3339 time (e.g. 2026-03-02T12:00:00Z)");
                return 2;
            }
        },
        None => now(),
    };
    let aws = standalone_aws();
    let clients = Clients::new(&aws).await;
    let opts = Options {
        dry_run,
        now,
        guard: aws.settings.guard.clone(),
    };
    let mut print = |l: &Json| println!("{l}");
    match run(&Ctx::background(), &clients, &opts, &mut print).await {
        Ok(r) if r.failed == 0 => 0,
        Ok(_) => 1,
        Err(d) => {
            println!("{}", json!({"event": "error", "error": d.to_string()}));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::{Missing, Signal, SignalKind};

    fn ts(s: &str) -> Timestamp {
        parse_ts(s).unwrap()
    }

    fn target(kind: Kind, status: &str, p: &Policy, extra: &[(&str, &str)]) -> Target {
        let mut tags = p.to_tags();
        tags.insert(tag::SINCE.into(), "2026-03-01T00:00:00Z".into());
        for (k, v) in extra {
            tags.insert(k.to_string(), v.to_string());
        }
        Target {
            kind,
            arn: format!("arn:{}", kind.as_str()),
            name: "app-staging-db".into(),
            service_id: Some("id".into()),
            status: status.into(),
            deletion_protection: false,
            tags,
        }
    }

    fn policy() -> Policy {
        Policy {
            name: "app-staging".into(),
            environment: Some("app-staging".into()),
            idle_days: 7,
            warn_before_hours: 24,
            notify_topic_arn: None,
            action: Action::Destroy,
            final_snapshot: true,
            enabled: true,
            snooze_until: None,
            signals: vec![Signal {
                kind: SignalKind::AppRunnerRequests,
                threshold: 0.0,
                missing: Missing::Idle,
            }],
            schedule: None,
        }
    }

    fn opts(now: &str) -> Options {
        Options {
            dry_run: true,
            now: ts(now),
            guard: ProductionGuard::default(),
        }
    }

    fn names(ops: &[Op]) -> Vec<&'static str> {
        ops.iter().map(Op::name).collect()
    }

    #[test]
    fn warns_once_then_acts_after_the_warning_period() {
        let p = policy();
        let g = Group::new(
            "app-staging".into(),
            vec![target(Kind::AppRunner, "RUNNING", &p, &[])],
        );
        // since 03-01 → deadline 03-08; warning from 03-07.
        let (_, ops) = plan_policy(&g, None, &opts("2026-03-06T00:00:00Z"));
        assert!(ops.is_empty(), "{ops:?}");
        let (e, ops) = plan_policy(&g, None, &opts("2026-03-07T01:00:00Z"));
        assert_eq!(e.unwrap().status, Status::Warning);
        assert_eq!(names(&ops), ["warn"]);
        let warned = Group::new(
            "app-staging".into(),
            vec![target(
                Kind::AppRunner,
                "RUNNING",
                &p,
                &[
                    (tag::WARNED_FOR, "2026-03-08T00:00:00Z"),
                    (tag::WARNED_AT, "2026-03-07T01:00:00Z"),
                ],
            )],
        );
        let (_, ops) = plan_policy(&warned, None, &opts("2026-03-07T02:00:00Z"));
        assert!(ops.is_empty(), "{ops:?}");
        // Due at 03-08, but the warning went out 23h before: wait for the full 24h.
        let (_, ops) = plan_policy(&warned, None, &opts("2026-03-08T00:30:00Z"));
        assert_eq!(names(&ops), ["hold"]);
        let (_, ops) = plan_policy(&warned, None, &opts("2026-03-08T01:00:00Z"));
        assert_eq!(names(&ops), ["destroy"]);
        // Never warned and already due: warn first.
        let (_, ops) = plan_policy(&g, None, &opts("2026-03-20T00:00:00Z"));
        assert_eq!(names(&ops), ["warn", "hold"]);
    }

    #[test]
    fn disabled_snoozed_production_and_conflicts_never_act() {
        let now = "2026-03-20T00:00:00Z";
        let mut p = policy();
        p.enabled = false;
        let g = Group::new(
            "x".into(),
            vec![target(Kind::AppRunner, "RUNNING", &p, &[])],
        );
        assert_eq!(names(&plan_policy(&g, None, &opts(now)).1), ["hold"]);
        let mut p = policy();
        p.snooze_until = Some(ts("2026-04-01T00:00:00Z"));
        let g = Group::new(
            "x".into(),
            vec![target(Kind::AppRunner, "RUNNING", &p, &[])],
        );
        assert_eq!(names(&plan_policy(&g, None, &opts(now)).1), ["hold"]);
        let p = policy();
        let g = Group::new(
            "x".into(),
            vec![target(
                Kind::AppRunner,
                "RUNNING",
                &p,
                &[("Environment", "production")],
            )],
        );
        assert_eq!(names(&plan_policy(&g, None, &opts(now)).1), ["hold"]);
        let mut other = policy();
        other.idle_days = 30;
        let g = Group::new(
            "x".into(),
            vec![
                target(Kind::AppRunner, "RUNNING", &p, &[]),
                target(Kind::Rds, "available", &other, &[]),
            ],
        );
        let (_, ops) = plan_policy(&g, None, &opts(now));
        assert_eq!(names(&ops), ["hold"]);
    }

    #[test]
    fn pauses_stop_the_clock_and_resumes_restart_it() {
        let p = policy();
        // Paused by hand: recorded, no action.
        let g = Group::new("x".into(), vec![target(Kind::AppRunner, "PAUSED", &p, &[])]);
        let (e, ops) = plan_policy(&g, None, &opts("2026-03-20T00:00:00Z"));
        assert_eq!(e.unwrap().status, Status::Paused);
        assert_eq!(names(&ops), ["record"]);
        // Running again: the clock restarts.
        let g = Group::new(
            "x".into(),
            vec![target(
                Kind::AppRunner,
                "RUNNING",
                &p,
                &[(tag::PAUSE_SEEN, "2026-03-05T00:00:00Z")],
            )],
        );
        let (e, ops) = plan_policy(&g, None, &opts("2026-03-20T00:00:00Z"));
        let e = e.unwrap();
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.idle_since, Some(ts("2026-03-20T00:00:00Z")));
        assert_eq!(names(&ops), ["record"]);
        // RDS restarted itself while the service stays paused: stop it again.
        let mut pp = policy();
        pp.action = Action::Pause;
        let g = Group::new(
            "x".into(),
            vec![
                target(
                    Kind::AppRunner,
                    "PAUSED",
                    &pp,
                    &[
                        (tag::PAUSED_BY, "idle"),
                        (tag::PAUSED_AT, "2026-03-09T00:00:00Z"),
                    ],
                ),
                target(
                    Kind::Rds,
                    "available",
                    &pp,
                    &[
                        (tag::PAUSED_BY, "idle"),
                        (tag::PAUSED_AT, "2026-03-09T00:00:00Z"),
                    ],
                ),
            ],
        );
        let (e, ops) = plan_policy(&g, None, &opts("2026-03-16T01:00:00Z"));
        assert_eq!(e.unwrap().status, Status::Paused);
        assert_eq!(names(&ops), ["restop"]);
    }

    #[test]
    fn the_schedule_pauses_and_resumes() {
        let mut p = policy();
        p.schedule = Some(
            policy::Schedule::new(&["mon".into(), "tue".into()], "08:00", "19:00", "UTC").unwrap(),
        );
        let g = Group::new(
            "x".into(),
            vec![target(
                Kind::AppRunner,
                "RUNNING",
                &p,
                &[(tag::LAST_ACTIVITY, "2026-03-09T10:00:00Z")],
            )],
        );
        // Monday 2026-03-09 20:00 UTC: outside hours.
        let (_, ops) = plan_policy(&g, None, &opts("2026-03-09T20:00:00Z"));
        assert_eq!(names(&ops), ["pause"]);
        let paused = Group::new(
            "x".into(),
            vec![target(
                Kind::AppRunner,
                "PAUSED",
                &p,
                &[
                    (tag::LAST_ACTIVITY, "2026-03-09T10:00:00Z"),
                    (tag::PAUSED_BY, "schedule"),
                ],
            )],
        );
        let (e, ops) = plan_policy(&paused, None, &opts("2026-03-10T08:30:00Z"));
        assert_eq!(e.unwrap().status, Status::Active);
        assert_eq!(names(&ops), ["resume"]);
    }

    #[test]
    fn snapshot_names_are_valid_rds_identifiers() {
        let n = snapshot_name("app-staging-db", ts("2026-03-10T01:02:03Z"));
        assert_eq!(n, "app-staging-db-auto-destroy-20260310-010203");
        assert!(n.len() <= 255 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
