//! `staging_environment` on App Runner, driven by the real terraform binary against moto and
//! the stagecraft emulator: the whole lifecycle, mirroring, both guards, partial failures,
//! pause/resume, import, drift, secrecy and the cost of a refresh.
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value as Json};
use stagecraft_testkit::localaws::LocalAws;
use stagecraft_testkit::terraform::{ProviderSource, Run, Workspace};

const IMAGE_REPO: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app";
const STAGING_SECRET_VALUE: &str = "sandbox-jwt-secret-0123456789";
const PROD_SECRET_VALUE: &str = "live-jwt-secret-do-not-copy";

struct Env {
    aws: LocalAws,
    ws: Workspace,
}

fn setup() -> Result<Env> {
    let aws = LocalAws::start()?;
    // App Runner operations settle fast in tests; the async protocol is the same.
    aws.control("POST", "config", Some(&json!({"apprunner_delay": 0.2})))?;
    let mut ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/staging".into(),
        dir: Path::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
            .parent()
            .unwrap()
            .to_path_buf(),
    })?;
    for (k, v) in aws.env() {
        ws.set_env(&k, &v);
    }
    Ok(Env { aws, ws })
}

fn config(body: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    staging = {{ source = "stagecraft/staging" }}
  }}
}}

provider "staging" {{
  region = "us-east-1"
  default_tags = {{ Team = "platform" }}
}}

{body}
"#
    )
}

/// The seed 000 staging environment, with knobs the tests turn.
fn environment(image_tag: &str, instance_class: &str, engine: &str, extra: &str) -> String {
    config(&format!(
        r#"resource "staging_environment" "app" {{
  name = "togetherhood-app-staging"
  {extra}

  app_runner {{
    image_repository = "{IMAGE_REPO}"
    image_tag        = "{image_tag}"
    access_role_arn  = "arn:aws:iam::123456789012:role/TogetherhoodAppRunnerECRAccessRole"
  }}

  database {{
    engine         = "{engine}"
    instance_class = "{instance_class}"
    # The seed's 03:00-04:00 touches its mon:04:00 maintenance window; moto counts touching
    # windows as overlapping (RDS does not), so the tests move the backup window.
    backup_window = "02:00-03:00"
  }}

  secrets {{
    values_wo = {{
      JwtSettings__Secret = "{STAGING_SECRET_VALUE}"
      SendGrid__ApiKey    = "SG.sandbox"
    }}
    values_wo_version = 1
  }}
}}

output "url" {{
  value = staging_environment.app.service_url
}}
output "service_arn" {{
  value = staging_environment.app.service_arn
}}
output "database_endpoint" {{
  value = staging_environment.app.database_endpoint
}}
output "secret_arn" {{
  value = staging_environment.app.secret_arn
}}
"#
    ))
}

fn values(ws: &Workspace) -> Result<Json> {
    Ok(ws
        .resources()?
        .get("staging_environment.app")
        .map(|r| r["values"].clone())
        .unwrap_or(Json::Null))
}

/// Plan output with run-specific ids replaced, for snapshots.
fn normalize(run: &Run) -> String {
    let text = run.stdout.clone();
    let start = text
        .find("Terraform used the selected providers")
        .or_else(|| text.find("Terraform will perform"))
        .unwrap_or(0);
    let body = &text[start..];
    let body = body.split("\n─").next().unwrap_or(body);
    let re_arn =
        regex::Regex::new(r"arn:aws:[a-z]+:us-east-1:123456789012:[A-Za-z0-9:/_.\-]+").unwrap();
    let re_url = regex::Regex::new(r"https://[a-z0-9]+\.us-east-1\.awsapprunner\.com").unwrap();
    let re_host =
        regex::Regex::new(r"[a-z0-9\-]+\.[a-z0-9]+\.us-east-1\.rds\.amazonaws\.com").unwrap();
    let body = re_arn.replace_all(body, "<arn>");
    let body = re_url.replace_all(&body, "<url>");
    re_host.replace_all(&body, "<db-host>").trim().to_string()
}

/// What moto and the emulator hold of ours.
fn leftovers(aws: &LocalAws) -> Result<Vec<String>> {
    let mut out = vec![];
    let services = aws.control("GET", "apprunner/services", None)?;
    for s in services["services"].as_array().cloned().unwrap_or_default() {
        if s["Status"] != "DELETED" {
            out.push(format!("service {}", s["ServiceName"]));
        }
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let cfg = aws.sdk_config().await;
        let rds = aws_sdk_rds::Client::new(&cfg);
        for db in rds
            .describe_db_instances()
            .send()
            .await?
            .db_instances
            .unwrap_or_default()
        {
            out.push(format!(
                "db {}",
                db.db_instance_identifier.unwrap_or_default()
            ));
        }
        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        for s in sm
            .list_secrets()
            .send()
            .await?
            .secret_list
            .unwrap_or_default()
        {
            if s.deleted_date.is_none() {
                out.push(format!("secret {}", s.name.unwrap_or_default()));
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(out)
}

fn final_snapshots(aws: &LocalAws) -> Result<Vec<String>> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let rds = aws_sdk_rds::Client::new(&aws.sdk_config().await);
        let out = rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await?;
        Ok(out
            .db_snapshots
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.db_snapshot_identifier)
            .filter(|id| id.contains("-final-"))
            .collect())
    })
}

#[test]
fn lifecycle_updates_replaces_and_cycles_cleanly() -> Result<()> {
    let Env { aws, ws } = setup()?;
    ws.write(
        "main.tf",
        &environment("staging", "db.t3.micro", "mysql", ""),
    )?;
    let apply = ws.apply()?.ok()?;
    assert!(
        apply.stdout.contains("url = \"https://"),
        "{}",
        apply.stdout
    );
    let v = values(&ws)?;
    for attr in [
        "service_arn",
        "service_url",
        "database_arn",
        "database_endpoint",
        "secret_arn",
    ] {
        assert!(
            v[attr].as_str().is_some_and(|s| !s.is_empty()),
            "{attr} missing: {v}"
        );
    }
    assert_eq!(v["status"], "RUNNING");
    assert_eq!(v["app_runner"]["cpu"], "0.5 vCPU");
    assert_eq!(v["app_runner"]["memory"], "1 GB");
    assert_eq!(v["app_runner"]["health_check_path"], "/api/health");
    assert_eq!(v["database"]["backup_retention_period"], 7);
    assert_eq!(v["database"]["deletion_protection"], false);
    assert_eq!(
        v["secrets"]["keys"],
        json!([
            "ConnectionStrings__DefaultConnection",
            "JwtSettings__Secret",
            "SendGrid__ApiKey"
        ])
    );
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(!changes, "second plan must be empty:\n{}", plan.output());

    // Image tag: in place.
    ws.write(
        "main.tf",
        &environment("staging-v2", "db.t3.micro", "mysql", ""),
    )?;
    let (_, plan) = ws.plan_has_changes()?;
    insta::assert_snapshot!("plan_image_tag", normalize(&plan));
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["app_runner"]["image_tag"], "staging-v2");
    assert!(!ws.plan_has_changes()?.0);

    // Instance class: in-place modify.
    ws.write(
        "main.tf",
        &environment("staging-v2", "db.t3.small", "mysql", ""),
    )?;
    let (_, plan) = ws.plan_has_changes()?;
    insta::assert_snapshot!("plan_instance_class", normalize(&plan));
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["database"]["instance_class"], "db.t3.small");
    assert!(!ws.plan_has_changes()?.0);

    // Engine: replacement.
    ws.write(
        "main.tf",
        &environment("staging-v2", "db.t3.small", "postgres", ""),
    )?;
    let (_, plan) = ws.plan_has_changes()?;
    insta::assert_snapshot!("plan_engine", normalize(&plan));
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["database"]["engine"], "postgres");
    assert!(!ws.plan_has_changes()?.0);

    // Two destroy/apply cycles: snapshot and secret names never collide.
    for _ in 0..2 {
        ws.destroy()?.ok()?;
        assert_eq!(leftovers(&aws)?, Vec::<String>::new());
        ws.apply()?.ok()?;
    }
    ws.destroy()?.ok()?;
    assert_eq!(
        leftovers(&aws)?,
        Vec::<String>::new(),
        "destroy leaves nothing of ours"
    );
    // Each destroy kept a final snapshot (deliberately), each under its own name.
    let snapshots = final_snapshots(&aws)?;
    assert_eq!(
        snapshots.len(),
        4,
        "one final snapshot per destroy (incl. the replace): {snapshots:?}"
    );
    let unique: std::collections::BTreeSet<_> = snapshots.iter().collect();
    assert_eq!(unique.len(), snapshots.len());

    // Secrets never reach state or plan output.
    for text in [ws.read("terraform.tfstate")?, plan.output(), apply.output()] {
        assert!(!text.contains(STAGING_SECRET_VALUE), "secret value leaked");
        assert!(!text.contains("SG.sandbox"), "secret value leaked");
    }
    Ok(())
}

/// Creates production directly through the SDK, as it would exist in a real account: a secret
/// and an App Runner service reading it, tagged Environment=production. Returns the service ARN.
fn create_production(aws: &LocalAws, health_path: &str) -> Result<String> {
    use aws_sdk_apprunner::types::*;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let cfg = aws.sdk_config().await;
        let sm = aws_sdk_secretsmanager::Client::new(&cfg);
        let secret = sm
            .create_secret()
            .name("togetherhood-app/production/config")
            .secret_string(
                json!({"JwtSettings__Secret": PROD_SECRET_VALUE, "SendGrid__ApiKey": "SG.live"})
                    .to_string(),
            )
            .send()
            .await?;
        let secret_arn = secret.arn.unwrap();
        let ar = aws_sdk_apprunner::Client::new(&cfg);
        let mut secrets = std::collections::HashMap::new();
        for k in ["JwtSettings__Secret", "SendGrid__ApiKey"] {
            secrets.insert(k.to_string(), format!("{secret_arn}:{k}::"));
        }
        let out = ar
            .create_service()
            .service_name("togetherhood-app-production")
            .source_configuration(
                SourceConfiguration::builder()
                    .image_repository(
                        ImageRepository::builder()
                            .image_identifier(format!("{IMAGE_REPO}:prod"))
                            .image_repository_type(ImageRepositoryType::Ecr)
                            .image_configuration(
                                ImageConfiguration::builder()
                                    .port("8080")
                                    .runtime_environment_variables(
                                        "ASPNETCORE_ENVIRONMENT",
                                        "Production",
                                    )
                                    .set_runtime_environment_secrets(Some(secrets))
                                    .build(),
                            )
                            .build()?,
                    )
                    .authentication_configuration(
                        AuthenticationConfiguration::builder()
                            .access_role_arn(
                                "arn:aws:iam::123456789012:role/TogetherhoodAppRunnerECRAccessRole",
                            )
                            .build(),
                    )
                    .auto_deployments_enabled(true)
                    .build(),
            )
            .instance_configuration(
                InstanceConfiguration::builder()
                    .cpu("1 vCPU")
                    .memory("2 GB")
                    .build(),
            )
            .health_check_configuration(
                HealthCheckConfiguration::builder()
                    .protocol(HealthCheckProtocol::Http)
                    .path(health_path)
                    .interval(10)
                    .timeout(5)
                    .healthy_threshold(1)
                    .unhealthy_threshold(5)
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key("Environment")
                    .value("production")
                    .build(),
            )
            .send()
            .await?;
        Ok(out.service.unwrap().service_arn)
    })
}

fn wait_running(aws: &LocalAws, arn: &str) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let ar = aws_sdk_apprunner::Client::new(&aws.sdk_config().await);
        for _ in 0..100 {
            let s = ar
                .describe_service()
                .service_arn(arn)
                .send()
                .await?
                .service
                .unwrap();
            if s.status.as_str() == "RUNNING" {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("production service never became RUNNING")
    })
}

fn mirrored(prod_arn: &str, jwt: &str, extra: &str) -> String {
    config(&format!(
        r#"resource "staging_environment" "app" {{
  name               = "togetherhood-app-staging"
  source_service_arn = "{prod_arn}"
  {extra}

  app_runner {{}}

  secrets {{
    values_wo = {{
      JwtSettings__Secret = "{jwt}"
      SendGrid__ApiKey    = "SG.sandbox"
    }}
    values_wo_version = 1
  }}
}}
"#
    ))
}

#[test]
fn mirrors_production_and_follows_its_changes() -> Result<()> {
    let Env { aws, ws } = setup()?;
    let prod = create_production(&aws, "/health")?;
    wait_running(&aws, &prod)?;
    ws.write("main.tf", &mirrored(&prod, STAGING_SECRET_VALUE, ""))?;
    ws.apply()?.ok()?;
    let v = values(&ws)?;
    assert_eq!(v["app_runner"]["image_repository"], IMAGE_REPO);
    assert_eq!(
        v["app_runner"]["image_tag"], "staging",
        "staging deploys its own tag"
    );
    assert_eq!(
        v["app_runner"]["cpu"], "0.5 vCPU",
        "staging size, not production's"
    );
    assert_eq!(v["app_runner"]["health_check_path"], "/health");
    assert_eq!(v["app_runner"]["port"], "8080");
    assert_eq!(
        v["app_runner"]["environment_variables"]["ASPNETCORE_ENVIRONMENT"],
        "Production"
    );
    assert_eq!(
        v["secrets"]["keys"],
        json!(["JwtSettings__Secret", "SendGrid__ApiKey"])
    );
    assert!(!ws.plan_has_changes()?.0);

    // Production changes its health check: the next staging plan shows the update.
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let ar = aws_sdk_apprunner::Client::new(&aws.sdk_config().await);
        ar.update_service()
            .service_arn(&prod)
            .health_check_configuration(
                aws_sdk_apprunner::types::HealthCheckConfiguration::builder()
                    .protocol(aws_sdk_apprunner::types::HealthCheckProtocol::Http)
                    .path("/healthz")
                    .build(),
            )
            .send()
            .await
    })?;
    wait_running(&aws, &prod)?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(changes);
    assert!(
        plan.stdout
            .contains(r#"health_check_path                = "/health" -> "/healthz""#),
        "{}",
        plan.stdout
    );
    insta::assert_snapshot!("plan_production_changed", normalize(&plan));
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["app_runner"]["health_check_path"], "/healthz");
    ws.destroy()?.ok()?;
    Ok(())
}

#[test]
fn sandbox_and_production_guards_stop_the_plan() -> Result<()> {
    let Env { aws, ws } = setup()?;
    let prod = create_production(&aws, "/health")?;
    wait_running(&aws, &prod)?;

    // A staging value equal to production's: refused, the key named, no value shown.
    ws.write("main.tf", &mirrored(&prod, PROD_SECRET_VALUE, ""))?;
    let run = ws.run(&["plan"])?;
    assert!(!run.success());
    let out = run.output();
    assert!(
        out.contains("Staging secret reuses production values"),
        "{out}"
    );
    assert!(out.contains("JwtSettings__Secret"), "{out}");
    assert!(
        !out.contains(PROD_SECRET_VALUE),
        "the value must never be printed"
    );

    // A production key without a staging value: refused, the key named.
    ws.write(
        "main.tf",
        &mirrored(&prod, STAGING_SECRET_VALUE, "")
            .replace("SendGrid__ApiKey    = \"SG.sandbox\"", ""),
    )?;
    let run = ws.run(&["plan"])?;
    assert!(!run.success());
    assert!(
        run.output().contains("Staging values missing")
            && run.output().contains("SendGrid__ApiKey"),
        "{}",
        run.output()
    );

    // Production tags on what we would create: refused at the tags attribute.
    ws.write(
        "main.tf",
        &mirrored(
            &prod,
            STAGING_SECRET_VALUE,
            "tags = { Environment = \"production\" }",
        ),
    )?;
    let run = ws.run(&["plan"])?;
    assert!(!run.success());
    assert!(
        run.output().contains("Refusing to touch production"),
        "{}",
        run.output()
    );

    // Taking over the production service by name: refused.
    ws.write(
        "main.tf",
        &mirrored(&prod, STAGING_SECRET_VALUE, "").replace(
            "\"togetherhood-app-staging\"",
            "\"togetherhood-app-production\"",
        ),
    )?;
    let run = ws.run(&["plan"])?;
    assert!(!run.success());
    assert!(
        run.output().contains("Refusing to touch production"),
        "{}",
        run.output()
    );
    assert!(
        leftovers(&aws)?.iter().all(|l| l.contains("production")),
        "nothing of staging was created"
    );
    Ok(())
}

#[test]
fn failed_create_keeps_what_exists_and_converges() -> Result<()> {
    let Env { aws, ws } = setup()?;
    ws.write(
        "main.tf",
        &environment("staging", "db.t3.micro", "mysql", ""),
    )?;
    aws.inject_fault(&json!({
        "service": "apprunner", "operation": "CreateService", "action": "error",
        "code": "InvalidRequestException", "status": 400, "message": "injected", "count": 1
    }))?;
    let run = ws.apply()?;
    assert!(!run.success());
    assert!(run.output().contains("injected"), "{}", run.output());
    let v = values(&ws)?;
    assert!(
        v["secret_arn"].as_str().is_some_and(|s| !s.is_empty()),
        "secret recorded: {v}"
    );
    assert!(
        v["database_arn"].as_str().is_some_and(|s| !s.is_empty()),
        "database recorded: {v}"
    );
    assert!(v["service_arn"].is_null());
    let left = leftovers(&aws)?;
    assert_eq!(left.len(), 2, "state and AWS agree: {left:?}");

    ws.apply()?.ok()?;
    assert!(!ws.plan_has_changes()?.0);
    ws.destroy()?.ok()?;
    assert_eq!(leftovers(&aws)?, Vec::<String>::new());

    // A hung operation with a short create timeout fails cleanly with the partial state.
    aws.inject_fault(
        &json!({"service": "apprunner", "operation": "CreateService", "action": "stall"}),
    )?;
    ws.write(
        "main.tf",
        &environment(
            "staging",
            "db.t3.micro",
            "mysql",
            "timeouts {\n    create = \"5s\"\n  }",
        ),
    )?;
    let started = std::time::Instant::now();
    let run = ws.apply()?;
    assert!(!run.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert!(
        run.output().contains("Timed out after 5s"),
        "{}",
        run.output()
    );
    let v = values(&ws)?;
    assert!(
        v["service_arn"].as_str().is_some_and(|s| !s.is_empty()),
        "the service exists and is recorded: {v}"
    );
    aws.clear_faults()?;
    ws.destroy()?.ok()?;
    assert_eq!(leftovers(&aws)?, Vec::<String>::new());
    Ok(())
}

#[test]
fn pause_resume_import_and_drift() -> Result<()> {
    let Env { aws, ws } = setup()?;
    ws.write(
        "main.tf",
        &environment("staging", "db.t3.micro", "mysql", ""),
    )?;
    ws.apply()?.ok()?;

    // Pause and resume.
    ws.write(
        "main.tf",
        &environment("staging", "db.t3.micro", "mysql", "state = \"paused\""),
    )?;
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["status"], "PAUSED");
    assert!(!ws.plan_has_changes()?.0);
    ws.write(
        "main.tf",
        &environment("staging", "db.t3.micro", "mysql", "state = \"running\""),
    )?;
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["status"], "RUNNING");
    assert!(!ws.plan_has_changes()?.0);

    // Refresh cost: a bounded number of AWS calls for one environment.
    aws.clear_calls()?;
    ws.run(&["plan", "-refresh-only"])?.ok()?;
    let calls = aws.calls()?;
    eprintln!(
        "refresh of one environment: {} AWS calls: {:?}",
        calls.len(),
        calls
            .iter()
            .map(|c| format!("{}:{}", c.service, c.operation.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    );
    assert!(calls.len() <= 4, "refresh made {} calls", calls.len());

    // Import: forget, import by name, plan is empty.
    ws.run(&["state", "rm", "staging_environment.app"])?.ok()?;
    ws.run(&[
        "import",
        "staging_environment.app",
        "togetherhood-app-staging",
    ])?
    .ok()?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(
        !changes,
        "plan after import must be empty:\n{}",
        plan.stdout
    );

    // The service deleted outside Terraform: the next plan recreates it.
    let arn = values(&ws)?["service_arn"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let ar = aws_sdk_apprunner::Client::new(&aws.sdk_config().await);
        ar.delete_service().service_arn(&arn).send().await?;
        for _ in 0..100 {
            if ar
                .describe_service()
                .service_arn(&arn)
                .send()
                .await
                .is_err()
            {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("service not deleted")
    })?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(changes);
    assert!(
        plan.stdout
            .contains("service_arn       = (known after apply)")
            || plan.stdout.contains("+ service_arn"),
        "{}",
        plan.stdout
    );
    ws.apply()?.ok()?;
    assert_ne!(values(&ws)?["service_arn"].as_str().unwrap(), arn);
    assert!(!ws.plan_has_changes()?.0);
    ws.destroy()?.ok()?;
    assert_eq!(leftovers(&aws)?, Vec::<String>::new());
    Ok(())
}

#[test]
fn failed_operations_report_aws_status_and_keep_state_true() -> Result<()> {
    let Env { aws, ws } = setup()?;
    // CREATE_FAILED: the service exists (failed) and is recorded; the next apply replaces it.
    aws.inject_fault(&json!({"service": "apprunner", "operation": "CreateService", "action": "fail", "message": "image pull failed", "count": 1}))?;
    ws.write(
        "main.tf",
        &environment("staging", "db.t3.micro", "mysql", ""),
    )?;
    let run = ws.apply()?;
    assert!(!run.success());
    let out = run.output();
    assert!(
        out.contains("App Runner could not create the staging service"),
        "{out}"
    );
    assert!(
        out.contains("CREATE_FAILED") || out.contains("FAILED"),
        "{out}"
    );
    assert!(values(&ws)?["service_arn"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    ws.apply()?.ok()?;
    assert!(!ws.plan_has_changes()?.0);

    // ROLLBACK_SUCCEEDED on update: the old settings stay in state; the next apply retries.
    aws.inject_fault(&json!({"service": "apprunner", "operation": "UpdateService", "action": "fail", "count": 1}))?;
    ws.write(
        "main.tf",
        &environment("staging-v3", "db.t3.micro", "mysql", ""),
    )?;
    let run = ws.apply()?;
    assert!(!run.success());
    assert!(
        run.output().contains("ROLLBACK_SUCCEEDED"),
        "{}",
        run.output()
    );
    assert_eq!(
        values(&ws)?["app_runner"]["image_tag"],
        "staging",
        "state keeps what AWS kept"
    );
    ws.apply()?.ok()?;
    assert_eq!(values(&ws)?["app_runner"]["image_tag"], "staging-v3");
    ws.destroy()?.ok()?;
    assert_eq!(leftovers(&aws)?, Vec::<String>::new());
    Ok(())
}
