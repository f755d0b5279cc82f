//! Shared by the auto-destroy and reaper tests: local AWS with SDK clients, the reaper binary,
//! CloudWatch injection, an SQS queue on the warning topic, and a snapshot of AWS state.
#![allow(dead_code)]

use std::process::Command;

use anyhow::{Context, Result};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_smithy_types::DateTime;
use serde_json::Value as Json;
use stagecraft_testkit::localaws::LocalAws;

pub const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-staging");

pub struct Aws {
    pub local: LocalAws,
    pub rt: tokio::runtime::Runtime,
    pub cfg: aws_config::SdkConfig,
}

pub fn start() -> Result<Aws> {
    let local = LocalAws::start()?;
    local.control(
        "POST",
        "config",
        Some(&serde_json::json!({"apprunner_delay": 0.2})),
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let cfg = rt.block_on(local.sdk_config());
    Ok(Aws { local, rt, cfg })
}

pub fn secs(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .expect("RFC3339")
        .as_second()
}

impl Aws {
    /// Environment for the provider and the reaper: local AWS (the emulator serves CloudWatch's
    /// rpc-v2-cbor protocol itself, translating to moto).
    pub fn env(&self) -> Vec<(String, String)> {
        self.local.env()
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.cfg)
    }

    pub fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.cfg)
    }
    pub fn apprunner(&self) -> aws_sdk_apprunner::Client {
        aws_sdk_apprunner::Client::new(&self.cfg)
    }
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.cfg)
    }
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.cfg)
    }

    /// Runs `terraform-provider-staging reaper --now NOW [--dry-run]`; returns its JSON lines
    /// and exit code.
    pub fn reaper(&self, now: &str, dry_run: bool) -> Result<(Vec<Json>, i32)> {
        let mut cmd = Command::new(BIN);
        cmd.arg("reaper").args(["--now", now]);
        if dry_run {
            cmd.arg("--dry-run");
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.env_remove("STAGECRAFT_NOW");
        let out = cmd.output().context("running the reaper")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
            .collect::<Result<Vec<Json>>>()?;
        if !out.stderr.is_empty() {
            eprintln!("reaper stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok((lines, out.status.code().unwrap_or(-1)))
    }

    /// Puts one data point.
    pub fn put_metric(
        &self,
        namespace: &str,
        name: &str,
        dims: &[(&str, &str)],
        at: &str,
        value: f64,
    ) -> Result<()> {
        let cw = self.cloudwatch();
        let datum = MetricDatum::builder()
            .metric_name(name)
            .set_dimensions(Some(
                dims.iter()
                    .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                    .collect(),
            ))
            .timestamp(DateTime::from_secs(secs(at)))
            .value(value)
            .build();
        self.rt
            .block_on(
                cw.put_metric_data()
                    .namespace(namespace)
                    .metric_data(datum)
                    .send(),
            )
            .map_err(|e| anyhow::anyhow!("PutMetricData: {e:?}"))?;
        Ok(())
    }

    /// An SNS topic with an SQS queue subscribed: (topic ARN, queue URL).
    pub fn topic_with_queue(&self, name: &str) -> Result<(String, String)> {
        let sns = aws_sdk_sns::Client::new(&self.cfg);
        let sqs = aws_sdk_sqs::Client::new(&self.cfg);
        self.rt.block_on(async {
            let topic = sns
                .create_topic()
                .name(name)
                .send()
                .await?
                .topic_arn
                .unwrap_or_default();
            let url = sqs
                .create_queue()
                .queue_name(format!("{name}-inbox"))
                .send()
                .await?
                .queue_url
                .unwrap_or_default();
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await?
                .attributes
                .unwrap_or_default()
                .get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
                .unwrap_or_default();
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("sqs")
                .endpoint(arn)
                .send()
                .await?;
            Ok((topic, url))
        })
    }

    /// Every message in the queue (received and deleted): the SNS envelopes' `Message` texts.
    pub fn drain(&self, queue_url: &str) -> Result<Vec<String>> {
        let sqs = aws_sdk_sqs::Client::new(&self.cfg);
        self.rt.block_on(async {
            let mut out = vec![];
            loop {
                let r = sqs
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .send()
                    .await?;
                let msgs = r.messages.unwrap_or_default();
                if msgs.is_empty() {
                    return Ok(out);
                }
                for m in msgs {
                    let body = m.body.unwrap_or_default();
                    let text = serde_json::from_str::<Json>(&body)
                        .ok()
                        .and_then(|j| j["Message"].as_str().map(str::to_string))
                        .unwrap_or(body);
                    out.push(text);
                    if let Some(h) = m.receipt_handle {
                        sqs.delete_message()
                            .queue_url(queue_url)
                            .receipt_handle(h)
                            .send()
                            .await?;
                    }
                }
            }
        })
    }

    /// GetMetricData calls the emulator has seen.
    pub fn metric_calls(&self) -> Result<usize> {
        Ok(self
            .local
            .calls()?
            .iter()
            .filter(|c| {
                c.service == "monitoring" && c.operation.as_deref() == Some("GetMetricData")
            })
            .count())
    }

    /// Everything the reaper could change, as text: services (status, tags), databases (status,
    /// tags), snapshots, secrets (tags).
    pub fn state(&self) -> Result<String> {
        let (ar, rds, sm) = (self.apprunner(), self.rds(), self.secrets());
        self.rt.block_on(async {
            let mut out = vec![];
            let services = ar.list_services().send().await?;
            for s in services.service_summary_list {
                let arn = s.service_arn.unwrap_or_default();
                let tags = ar
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await?
                    .tags
                    .unwrap_or_default();
                let mut tags: Vec<String> = tags
                    .into_iter()
                    .map(|t| {
                        format!(
                            "{}={}",
                            t.key.unwrap_or_default(),
                            t.value.unwrap_or_default()
                        )
                    })
                    .collect();
                tags.sort();
                out.push(format!(
                    "service {arn} {} {tags:?}",
                    s.status.as_ref().map(|s| s.as_str()).unwrap_or_default()
                ));
            }
            for db in rds
                .describe_db_instances()
                .send()
                .await?
                .db_instances
                .unwrap_or_default()
            {
                let mut tags: Vec<String> = db
                    .tag_list
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        format!(
                            "{}={}",
                            t.key.unwrap_or_default(),
                            t.value.unwrap_or_default()
                        )
                    })
                    .collect();
                tags.sort();
                out.push(format!(
                    "db {} {} {tags:?}",
                    db.db_instance_identifier.unwrap_or_default(),
                    db.db_instance_status.unwrap_or_default()
                ));
            }
            for s in rds
                .describe_db_snapshots()
                .send()
                .await?
                .db_snapshots
                .unwrap_or_default()
            {
                out.push(format!(
                    "snapshot {}",
                    s.db_snapshot_identifier.unwrap_or_default()
                ));
            }
            for s in sm
                .list_secrets()
                .send()
                .await?
                .secret_list
                .unwrap_or_default()
            {
                let mut tags: Vec<String> = s
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        format!(
                            "{}={}",
                            t.key.unwrap_or_default(),
                            t.value.unwrap_or_default()
                        )
                    })
                    .collect();
                tags.sort();
                out.push(format!(
                    "secret {} deleted={} {tags:?}",
                    s.name.unwrap_or_default(),
                    s.deleted_date.is_some()
                ));
            }
            out.sort();
            Ok(out.join("\n"))
        })
    }
}

/// The `event: plan` lines.
pub fn plan(lines: &[Json]) -> Vec<Json> {
    lines
        .iter()
        .filter(|l| l["event"] == "plan")
        .cloned()
        .collect()
}

/// `(policy, action)` of the plan lines.
pub fn actions(lines: &[Json]) -> Vec<(String, String)> {
    plan(lines)
        .iter()
        .map(|l| {
            (
                l["policy"].as_str().unwrap_or_default().to_string(),
                l["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub fn summary(lines: &[Json]) -> Json {
    lines
        .iter()
        .find(|l| l["event"] == "summary")
        .cloned()
        .unwrap_or(Json::Null)
}
