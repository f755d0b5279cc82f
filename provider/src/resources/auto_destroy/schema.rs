//! The schema of `staging_auto_destroy_policy` and its state structs.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};
use crate::tfplugin::{Tf, Type};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AutoDestroyPolicy {
    pub id: Tf<String>,
    pub name: Tf<String>,
    pub environment_id: Tf<String>,
    pub idle_days: Tf<i64>,
    pub warn_before_hours: Tf<i64>,
    pub notify_topic_arn: Tf<String>,
    pub action: Tf<String>,
    pub final_snapshot: Tf<bool>,
    pub enabled: Tf<bool>,
    pub snooze_until: Tf<String>,
    pub target_arns: Tf<Vec<String>>,
    pub last_activity_at: Tf<String>,
    pub idle_since: Tf<String>,
    pub destroy_after: Tf<String>,
    pub status: Tf<String>,
    pub targets: Option<Targets>,
    #[serde(default)]
    pub activity: Vec<Activity>,
    pub schedule: Option<ScheduleBlock>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Targets {
    pub app_runner_service_arns: Tf<Vec<String>>,
    #[serde(default)]
    pub ecs_service_arns: Tf<Vec<String>>,
    pub rds_instance_ids: Tf<Vec<String>>,
    pub secret_arns: Tf<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Activity {
    pub signal: Tf<String>,
    pub threshold: Tf<f64>,
    pub missing_data: Tf<String>,
    pub namespace: Tf<String>,
    pub metric_name: Tf<String>,
    pub stat: Tf<String>,
    pub dimensions: Tf<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ScheduleBlock {
    pub time_zone: Tf<String>,
    pub days: Tf<Vec<String>>,
    pub start: Tf<String>,
    pub stop: Tf<String>,
}

fn a(name: &str, ty: Type, p: Presence, doc: &str) -> Attribute {
    Attribute::new(name, ty, p, doc)
}

pub fn schema() -> Schema {
    use Presence::*;
    let targets = Block::new(
        "Explicit targets, instead of `environment_id`. Each is tagged with the policy.",
    )
    .attr(a(
        "app_runner_service_arns",
        Type::set(Type::String),
        Optional,
        "App Runner services (paused with PauseService, or deleted).",
    ))
    .attr(a(
        "ecs_service_arns",
        Type::set(Type::String),
        Optional,
        "ECS services, `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME` (paused by setting the desired count to 0, the old count kept in the `stagecraft:paused-desired-count` tag and restored on resume; or scaled to 0 and deleted). Activity: a `metric` signal, e.g. the load balancer's `RequestCount`.",
    ))
    .attr(a(
        "rds_instance_ids",
        Type::set(Type::String),
        Optional,
        "RDS DB instance identifiers (stopped, or deleted with a final snapshot).",
    ))
    .attr(a(
        "secret_arns",
        Type::set(Type::String),
        Optional,
        "Secrets Manager secrets (deleted on destroy; left alone on pause).",
    ));
    let activity = Block::new("An activity signal. A CloudWatch period counts as activity when the statistic is above `threshold`; what a period without data means is always spelled out in `missing_data`. At least one is required.")
        .attr(a("signal", Type::String, Required, "`app_runner_requests` (`AWS/AppRunner` `Requests`, Sum, per service), `rds_connections` (`AWS/RDS` `DatabaseConnections`, Maximum, per instance), or `metric` (any metric: set `namespace`, `metric_name`, `stat`, `dimensions`; e.g. `AWS/ApplicationELB` `RequestCount` for an ECS service)."))
        .attr(a("threshold", Type::Number, OptionalComputed, "Activity means a value above this (default 0). For `rds_connections`, set it above the connection pool's idle size: a pool holding 5 connections with no users is idle at `threshold = 5`."))
        .attr(a("missing_data", Type::String, Required, "`idle`: a period without data is no activity (request metrics are absent, not zero, without traffic). `active`: a period without data counts as activity (safe for metrics that must always exist); periods outside the `schedule`'s working hours never count."))
        .attr(a("namespace", Type::String, Optional, "CloudWatch namespace (`signal = \"metric\"` only)."))
        .attr(a("metric_name", Type::String, Optional, "Metric name (`signal = \"metric\"` only)."))
        .attr(a("stat", Type::String, Optional, "Statistic, e.g. `Sum` or `Maximum` (`signal = \"metric\"` only)."))
        .attr(a("dimensions", Type::map(Type::String), Optional, "Metric dimensions (`signal = \"metric\"` only)."));
    let schedule = Block::new("Working hours: the reaper pauses the environment outside them and resumes it at their start (only pauses it made itself). Scheduled off-hours still count towards `idle_days`.")
        .attr(a("time_zone", Type::String, Required, "IANA time zone, e.g. `Europe/Berlin` (daylight saving time is followed)."))
        .attr(a("days", Type::list(Type::String), OptionalComputed, "Working days: `mon` … `sun` (default Monday to Friday)."))
        .attr(a("start", Type::String, Required, "Start of working hours, `HH:MM` local time."))
        .attr(a("stop", Type::String, Required, "End of working hours, `HH:MM` local time, after `start`."));
    let block = Block::new("Pauses or destroys an idle staging environment: the seed's auto-destroy Lambda as a declarative policy. The policy is written onto its targets as tags (`stagecraft:auto-destroy…`); `terraform-provider-staging reaper` (run on a schedule, e.g. by `modules/auto-destroy`) finds it there, reads CloudWatch, warns once over SNS and, at the deadline, snapshots and destroys or pauses. Removing this resource removes the tags and never destroys anything. The computed attributes are refreshed from CloudWatch on every plan, so the plan shows when staging will go. Setting the environment variable `STAGECRAFT_NOW` (RFC3339) fixes the clock the evaluation uses: a hook for tests and demos.")
        .attr(a("id", Type::String, Computed, "The policy name."))
        .attr(a("name", Type::String, OptionalComputed, "Policy name, written as the `stagecraft:auto-destroy` tag (default: `environment_id`; required with `targets`). Changing it replaces the policy."))
        .attr(a("environment_id", Type::String, Optional, "The `staging_environment` (its `id`) whose service, database and secret the policy covers. Exactly one of `environment_id` and `targets`."))
        .attr(a("idle_days", Type::Number, OptionalComputed, "Days without activity before the action (default 7). Paused time does not count."))
        .attr(a("warn_before_hours", Type::Number, OptionalComputed, "Hours before the deadline the SNS warning goes out (default 24). The action never happens sooner than this after the warning."))
        .attr(a("notify_topic_arn", Type::String, Optional, "SNS topic for the warning (one message per deadline)."))
        .attr(a("action", Type::String, OptionalComputed, "`destroy` (default: final snapshot, then delete service, database and secret) or `pause` (App Runner pause, RDS stop; RDS is stopped again when it restarts itself after 7 days)."))
        .attr(a("final_snapshot", Type::Bool, OptionalComputed, "Snapshot every database before destroying it (default `true`)."))
        .attr(a("enabled", Type::Bool, OptionalComputed, "`false` disables the policy: it never pauses or destroys anything (default `true`)."))
        .attr(a("snooze_until", Type::String, Optional, "RFC3339 time. Until then nothing happens (holidays); afterwards the idle clock starts from this time."))
        .attr(a("target_arns", Type::list(Type::String), Computed, "The objects carrying the policy."))
        .attr(a("last_activity_at", Type::String, Computed, "Start of the latest CloudWatch period with activity (hour resolution), if any is known."))
        .attr(a("idle_since", Type::String, Computed, "When the idle clock started: last activity, attachment of the policy, return from a pause, or the end of a snooze."))
        .attr(a("destroy_after", Type::String, Computed, "When the action is due (null while disabled or paused)."))
        .attr(a("status", Type::String, Computed, "`active`, `warning` (within `warn_before_hours` of the deadline), `due`, `snoozed`, `disabled`, or `paused` (the environment is paused, the clock stopped)."))
        .block(NestedBlock::new("targets", Nesting::Single, targets))
        .block(NestedBlock::new("activity", Nesting::List, activity))
        .block(NestedBlock::new("schedule", Nesting::Single, schedule));
    Schema::new(0, block)
}
