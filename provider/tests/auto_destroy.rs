//! `staging_auto_destroy_policy` with the real terraform binary and the reaper against moto and
//! the emulator, with injected CloudWatch data and a fixed clock (`STAGECRAFT_NOW` for the
//! provider, `--now` for the reaper):
//! - destroy timeline: active → warning (exactly one SNS message) → due → dry run (same plan,
//!   nothing changed) → destroyed with a final snapshot → plan recreates, apply brings it back;
//! - pause timeline: → paused, the clock stops; apply with `state = "running"` resumes, and the
//!   reaper restarts the clock;
//! - removing the policy removes its tags and nothing else; computed values cause no diffs.
mod auto_destroy_support;

use std::path::Path;

use anyhow::Result;
use serde_json::Value as Json;
use stagecraft_testkit::terraform::{ProviderSource, Workspace};

use auto_destroy_support::{actions, plan, summary, Aws};

const IMAGE_REPO: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app";
const ENV: &str = "adp-app";

/// Monday; the policy is attached at this time.
const T0: &str = "2026-03-02T12:00:00Z";
/// The last request: the idle clock starts at this hour (10:00).
const LAST_REQUEST: &str = "2026-03-03T10:25:00Z";
const ACTIVE_AT: &str = "2026-03-05T00:00:00Z";
/// destroy_after = 2026-03-10T10:00:00Z; warning from 2026-03-09T10:00:00Z.
const DEADLINE: &str = "2026-03-10T10:00:00Z";
const WARN_AT: &str = "2026-03-09T11:00:00Z";
const WARN_AGAIN_AT: &str = "2026-03-09T15:00:00Z";
const ACT_AT: &str = "2026-03-10T11:00:00Z";

fn workspace(aws: &Aws, now: &str) -> Result<Workspace> {
    let mut ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/staging".into(),
        dir: Path::new(auto_destroy_support::BIN)
            .parent()
            .unwrap()
            .to_path_buf(),
    })?;
    for (k, v) in aws.env() {
        ws.set_env(&k, &v);
    }
    ws.set_env("STAGECRAFT_NOW", now);
    Ok(ws)
}

fn config(state: &str, policy: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    staging = {{ source = "stagecraft/staging" }}
  }}
}}

provider "staging" {{
  region = "us-east-1"
}}

resource "staging_environment" "app" {{
  name  = "{ENV}"
  state = "{state}"

  app_runner {{
    image_repository = "{IMAGE_REPO}"
    access_role_arn  = "arn:aws:iam::123456789012:role/AppRunnerECRAccess"
  }}

  database {{
    engine        = "mysql"
    backup_window = "02:00-03:00"
  }}

  secrets {{
    values_wo         = {{ JwtSettings__Secret = "sandbox-secret" }}
    values_wo_version = 1
  }}
}}

{policy}
"#
    )
}

fn policy(topic: &str, action: &str) -> String {
    format!(
        r#"resource "staging_auto_destroy_policy" "app" {{
  environment_id   = staging_environment.app.id
  idle_days        = 7
  notify_topic_arn = "{topic}"
  action           = "{action}"

  activity {{
    signal       = "app_runner_requests"
    missing_data = "idle"
  }}
  activity {{
    signal       = "rds_connections"
    threshold    = 5
    missing_data = "idle"
  }}
}}
"#
    )
}

fn policy_values(ws: &Workspace) -> Result<Json> {
    Ok(ws
        .resources()?
        .get("staging_auto_destroy_policy.app")
        .map(|r| r["values"].clone())
        .unwrap_or(Json::Null))
}

/// Refreshes state at `now` and returns the policy's computed values.
fn refresh_at(aws: &Aws, ws: &mut Workspace, now: &str) -> Result<Json> {
    let _ = aws;
    ws.set_env("STAGECRAFT_NOW", now);
    ws.run(&["apply", "-refresh-only", "-auto-approve", "-input=false"])?
        .ok()?;
    policy_values(ws)
}

fn assert_no_changes(ws: &Workspace, when: &str) -> Result<()> {
    let (changes, run) = ws.plan_has_changes()?;
    assert!(!changes, "{when}: plan not empty:\n{}", run.stdout);
    Ok(())
}

/// The service id App Runner metrics are keyed by.
fn service_dims(ws: &Workspace) -> Result<(String, String)> {
    let v = &ws.resources()?["staging_environment.app"]["values"];
    let arn = v["service_arn"].as_str().unwrap_or_default().to_string();
    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
    Ok((ENV.to_string(), id))
}

fn request(aws: &Aws, ws: &Workspace, at: &str, count: f64) -> Result<()> {
    let (name, id) = service_dims(ws)?;
    aws.put_metric(
        "AWS/AppRunner",
        "Requests",
        &[("ServiceName", &name), ("ServiceID", &id)],
        at,
        count,
    )
}

#[test]
fn destroy_timeline_warns_once_snapshots_destroys_and_apply_brings_it_back() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    let (topic, queue) = aws.topic_with_queue("staging-alerts")?;
    let mut ws = workspace(&aws, T0)?;
    ws.write("main.tf", &config("running", &policy(&topic, "destroy")))?;
    ws.apply()?.ok()?;
    let v = policy_values(&ws)?;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(
        v["idle_since"], T0,
        "the clock starts when the policy is attached: {v}"
    );
    assert_eq!(v["destroy_after"], "2026-03-09T12:00:00Z");
    assert_eq!(v["target_arns"].as_array().map(Vec::len), Some(3), "{v}");
    assert_no_changes(&ws, "after apply")?;

    // The pool holds 3 connections with nobody using staging: below the threshold, idle.
    for h in 0..48 {
        let at = jiff::Timestamp::from_second(auto_destroy_support::secs(T0) + h * 3600)
            .unwrap()
            .to_string();
        aws.put_metric(
            "AWS/RDS",
            "DatabaseConnections",
            &[("DBInstanceIdentifier", &format!("{ENV}-db"))],
            &at,
            3.0,
        )?;
    }
    request(&aws, &ws, LAST_REQUEST, 12.0)?;

    // Active: the plan shows the deadline and is empty, refresh after refresh.
    let v = refresh_at(&aws, &mut ws, ACTIVE_AT)?;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["last_activity_at"], "2026-03-03T10:00:00Z");
    assert_eq!(v["destroy_after"], DEADLINE);
    assert_no_changes(&ws, "active")?;
    assert_no_changes(&ws, "active, again")?;
    let (lines, code) = aws.reaper(ACTIVE_AT, false)?;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "record".to_string())],
        "{lines:?}"
    );
    assert!(aws.drain(&queue)?.is_empty());

    // Warning: exactly one message, however often the reaper runs.
    let v = refresh_at(&aws, &mut ws, WARN_AT)?;
    assert_eq!(v["status"], "warning", "{v}");
    let (lines, code) = aws.reaper(WARN_AT, false)?;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(actions(&lines), [(ENV.to_string(), "warn".to_string())]);
    let (lines, _) = aws.reaper(WARN_AGAIN_AT, false)?;
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "none".to_string())],
        "{lines:?}"
    );
    let messages = aws.drain(&queue)?;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains(ENV) && messages[0].contains(DEADLINE),
        "{}",
        messages[0]
    );
    assert_no_changes(&ws, "warning")?;

    // Due: the plan says so.
    let v = refresh_at(&aws, &mut ws, ACT_AT)?;
    assert_eq!(v["status"], "due", "{v}");

    // Dry run: the same plan as the real run, and nothing changes.
    let before = aws.state()?;
    let (dry, code) = aws.reaper(ACT_AT, true)?;
    assert_eq!(code, 0, "{dry:?}");
    assert_eq!(aws.state()?, before, "a dry run changed AWS");
    assert_eq!(
        actions(&dry),
        [(ENV.to_string(), "destroy".to_string())],
        "{dry:?}"
    );
    assert!(aws.drain(&queue)?.is_empty());

    let (real, code) = aws.reaper(ACT_AT, false)?;
    assert_eq!(code, 0, "{real:?}");
    assert_eq!(
        plan(&real),
        plan(&dry),
        "dry run and real run plan differently"
    );
    assert_eq!(summary(&real)["failed"], 0);
    let snapshot = format!("{ENV}-db-auto-destroy-20260310-110000");
    let after = aws.state()?;
    assert!(after.contains(&format!("snapshot {snapshot}")), "{after}");
    assert!(!after.contains(&format!("db {ENV}-db")), "{after}");
    assert!(!after.contains("RUNNING"), "{after}");
    assert!(
        !after.contains(&format!("secret {ENV}/config deleted=false")),
        "{after}"
    );

    // Terraform sees it gone: the plan recreates the environment (and re-attaches the policy).
    let (changes, run) = ws.plan_has_changes()?;
    assert!(changes);
    assert!(
        run.stdout
            .contains("staging_environment.app will be created"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("staging_auto_destroy_policy.app will be created"),
        "{}",
        run.stdout
    );
    ws.apply()?.ok()?;
    let v = policy_values(&ws)?;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(
        v["idle_since"], ACT_AT,
        "a recreated environment starts a new clock: {v}"
    );
    assert_no_changes(&ws, "after recreate")?;
    let (lines, _) = aws.reaper(ACT_AT, false)?;
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "none".to_string())],
        "{lines:?}"
    );
    Ok(())
}

#[test]
fn pause_timeline_pauses_stops_the_clock_and_resume_restarts_it() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    let (topic, queue) = aws.topic_with_queue("staging-alerts")?;
    let mut ws = workspace(&aws, T0)?;
    ws.write("main.tf", &config("running", &policy(&topic, "pause")))?;
    ws.apply()?.ok()?;
    request(&aws, &ws, LAST_REQUEST, 3.0)?;

    let (lines, _) = aws.reaper(WARN_AT, false)?;
    assert_eq!(
        actions(&lines),
        [
            (ENV.to_string(), "record".into()),
            (ENV.to_string(), "warn".into())
        ],
        "{lines:?}"
    );
    assert_eq!(aws.drain(&queue)?.len(), 1);
    let (lines, code) = aws.reaper(ACT_AT, false)?;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "pause".into())],
        "{lines:?}"
    );
    let state = aws.state()?;
    assert!(state.contains("PAUSED"), "{state}");
    assert!(state.contains(&format!("db {ENV}-db stopped")), "{state}");
    assert!(
        state.contains("stagecraft:auto-destroy:paused-by=idle"),
        "{state}"
    );

    // Paused time is not idle time: the policy shows paused, with no deadline.
    let v = refresh_at(&aws, &mut ws, "2026-03-20T00:00:00Z")?;
    assert_eq!(v["status"], "paused", "{v}");
    assert!(v["destroy_after"].is_null(), "{v}");
    let (lines, _) = aws.reaper("2026-03-20T00:00:00Z", false)?;
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "none".into())],
        "{lines:?}"
    );

    // Terraform shows the environment paused; applying state = "running" resumes it.
    let (changes, run) = ws.plan_has_changes()?;
    assert!(
        changes && run.stdout.contains("\"paused\" -> \"running\""),
        "{}",
        run.stdout
    );
    ws.apply()?.ok()?;
    let state = aws.state()?;
    assert!(
        state.contains("RUNNING") && state.contains(&format!("db {ENV}-db available")),
        "{state}"
    );

    // The reaper sees the resume and restarts the clock there.
    let (lines, _) = aws.reaper("2026-03-20T01:00:00Z", false)?;
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "record".into())],
        "{lines:?}"
    );
    let v = refresh_at(&aws, &mut ws, "2026-03-20T02:00:00Z")?;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["idle_since"], "2026-03-20T01:00:00Z", "{v}");
    assert_eq!(v["destroy_after"], "2026-03-27T01:00:00Z", "{v}");
    assert_no_changes(&ws, "after resume")?;
    Ok(())
}

#[test]
fn disabling_snoozing_and_removing_the_policy_never_destroy() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    let (topic, queue) = aws.topic_with_queue("staging-alerts")?;
    let mut ws = workspace(&aws, T0)?;
    let with = |extra: &str| {
        config(
            "running",
            &policy(&topic, "destroy").replace(
                "  idle_days        = 7\n",
                &format!("  idle_days        = 7\n{extra}"),
            ),
        )
    };
    ws.write("main.tf", &with("  enabled = false\n"))?;
    ws.apply()?.ok()?;
    let long_after = "2026-06-01T00:00:00Z";
    let v = refresh_at(&aws, &mut ws, long_after)?;
    assert_eq!(v["status"], "disabled", "{v}");
    assert!(v["destroy_after"].is_null());
    assert_no_changes(&ws, "disabled")?;
    let before = aws.state()?;
    let (lines, code) = aws.reaper(long_after, false)?;
    assert_eq!(code, 0);
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "hold".into())],
        "{lines:?}"
    );
    assert_eq!(aws.state()?, before);

    // Snoozed until July: nothing happens, and the plan shows when the clock restarts.
    ws.write(
        "main.tf",
        &with("  snooze_until = \"2026-07-01T00:00:00+02:00\"\n"),
    )?;
    let (changes, run) = ws.plan_has_changes()?;
    assert!(
        changes && run.stdout.contains("enabled") && run.stdout.contains("snooze_until"),
        "{}",
        run.stdout
    );
    ws.apply()?.ok()?;
    let v = policy_values(&ws)?;
    assert_eq!(v["status"], "snoozed", "{v}");
    assert_eq!(v["destroy_after"], "2026-07-07T22:00:00Z", "{v}");
    assert_no_changes(&ws, "snoozed")?;
    let before = aws.state()?;
    let (lines, _) = aws.reaper(long_after, false)?;
    assert_eq!(
        actions(&lines),
        [(ENV.to_string(), "hold".into())],
        "{lines:?}"
    );
    assert_eq!(aws.state()?, before);

    // A policy edited outside Terraform shows as drift.
    let rds = aws.rds();
    let db_arn = aws.state()?;
    assert!(db_arn.contains("stagecraft:auto-destroy:idle-days=7"));
    let arn = format!("arn:aws:rds:us-east-1:123456789012:db:{ENV}-db");
    aws.rt.block_on(
        rds.add_tags_to_resource()
            .resource_name(&arn)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("stagecraft:auto-destroy:idle-days")
                    .value("1")
                    .build(),
            )
            .send(),
    )?;
    let (changes, run) = ws.plan_has_changes()?;
    assert!(changes, "{}", run.stdout);
    ws.apply()?.ok()?;
    assert_no_changes(&ws, "drift repaired")?;

    // Removing the policy removes its tags, and only them.
    ws.write("main.tf", &config("running", ""))?;
    ws.apply()?.ok()?;
    let after = aws.state()?;
    assert!(!after.contains("stagecraft:auto-destroy"), "{after}");
    assert!(after.contains(&format!("db {ENV}-db available")), "{after}");
    assert!(after.contains("RUNNING"), "{after}");
    let (lines, _) = aws.reaper("2027-01-01T00:00:00Z", false)?;
    assert!(plan(&lines).is_empty(), "{lines:?}");
    assert_eq!(summary(&lines)["policies"], 0);
    assert!(aws.drain(&queue)?.is_empty());
    Ok(())
}
