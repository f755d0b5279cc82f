//! The reaper on its own (no Terraform) against moto: policies written as tags by the library's
//! own encoder onto RDS instances, CloudWatch data injected, a fixed `--now`.
//! - each signal's missing-data rule; a connection pool below the threshold is idle;
//! - ECS services: paused to desired count 0 and resumed to the recorded count; destroyed;
//! - 500 policies cost a bounded number of GetMetricData calls (printed per policy);
//! - the Lambda custom runtime loop against a stand-in of the Lambda runtime API.
mod auto_destroy_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde_json::{json, Value as Json};
use terraform_provider_staging::reaper::policy::{
    tag, Action, Missing, Policy, Schedule, Signal, SignalKind,
};

use auto_destroy_support::{actions, summary, Aws, BIN};

/// Policies are attached ten days before `NOW`.
const SINCE: &str = "2026-03-01T00:00:00Z";
const NOW: &str = "2026-03-11T00:00:00Z";

fn policy(name: &str, signals: Vec<Signal>) -> Policy {
    Policy {
        name: name.into(),
        environment: None,
        idle_days: 7,
        warn_before_hours: 24,
        notify_topic_arn: None,
        action: Action::Destroy,
        final_snapshot: true,
        enabled: true,
        snooze_until: None,
        signals,
        schedule: None,
    }
}

fn connections(threshold: f64, missing: Missing) -> Signal {
    Signal {
        kind: SignalKind::RdsConnections,
        threshold,
        missing,
    }
}

/// An RDS instance `id` carrying `p` (attached at `SINCE`).
fn db_with_policy(aws: &Aws, id: &str, p: &Policy) -> Result<()> {
    let mut tags = p.to_tags();
    tags.insert(tag::SINCE.into(), SINCE.into());
    let rds = aws.rds();
    aws.rt
        .block_on(
            rds.create_db_instance()
                .db_instance_identifier(id)
                .engine("postgres")
                .db_instance_class("db.t3.micro")
                .allocated_storage(20)
                .master_username("admin")
                .master_user_password("not-a-real-password-1")
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send(),
        )
        .map_err(|e| anyhow::anyhow!("creating {id}: {e:?}"))?;
    Ok(())
}

fn hourly(start: &str, hours: i64) -> impl Iterator<Item = String> {
    let s = auto_destroy_support::secs(start);
    (0..hours).map(move |h| {
        jiff::Timestamp::from_second(s + h * 3600)
            .unwrap()
            .to_string()
    })
}

fn by_policy(lines: &[Json]) -> BTreeMap<String, Vec<Json>> {
    let mut m: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for l in lines.iter().filter(|l| l["event"] == "plan") {
        m.entry(l["policy"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(l.clone());
    }
    m
}

#[test]
fn missing_data_rules_and_idle_connection_pools() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    // A pool holding 3 connections around the clock, nobody using the app: idle at threshold 5.
    db_with_policy(
        &aws,
        "pool-db",
        &policy("pool", vec![connections(5.0, Missing::Idle)]),
    )?;
    for at in hourly("2026-03-02T00:00:00Z", 9 * 24) {
        aws.put_metric(
            "AWS/RDS",
            "DatabaseConnections",
            &[("DBInstanceIdentifier", "pool-db")],
            &at,
            3.0,
        )?;
    }
    // The same pool, plus one real user two days ago.
    db_with_policy(
        &aws,
        "used-db",
        &policy("used", vec![connections(5.0, Missing::Idle)]),
    )?;
    for at in hourly("2026-03-02T00:00:00Z", 9 * 24) {
        let v = if at == "2026-03-09T07:00:00Z" {
            8.0
        } else {
            3.0
        };
        aws.put_metric(
            "AWS/RDS",
            "DatabaseConnections",
            &[("DBInstanceIdentifier", "used-db")],
            &at,
            v,
        )?;
    }
    // No data at all: "idle" lets it go, "active" keeps it.
    db_with_policy(
        &aws,
        "silent-idle-db",
        &policy("silent-idle", vec![connections(0.0, Missing::Idle)]),
    )?;
    db_with_policy(
        &aws,
        "silent-active-db",
        &policy("silent-active", vec![connections(0.0, Missing::Active)]),
    )?;
    // A custom metric (an ECS service's load balancer) with one request five days ago.
    let elb = Signal {
        kind: SignalKind::Metric {
            namespace: "AWS/ApplicationELB".into(),
            metric_name: "RequestCount".into(),
            stat: "Sum".into(),
            dimensions: [(
                "LoadBalancer".to_string(),
                "app/web/50dc6c495c0c9188".to_string(),
            )]
            .into(),
        },
        threshold: 0.0,
        missing: Missing::Idle,
    };
    db_with_policy(&aws, "elb-db", &policy("elb", vec![elb]))?;
    aws.put_metric(
        "AWS/ApplicationELB",
        "RequestCount",
        &[("LoadBalancer", "app/web/50dc6c495c0c9188")],
        "2026-03-06T09:30:00Z",
        1.0,
    )?;

    let before = aws.state()?;
    let (lines, code) = aws.reaper(NOW, true)?;
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(aws.state()?, before, "dry run changed AWS");
    let p = by_policy(&lines);
    let status = |name: &str| {
        p[name][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let acts = |name: &str| {
        p[name]
            .iter()
            .map(|l| l["action"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };

    assert_eq!(status("pool"), "due", "{:?}", p["pool"]);
    assert!(p["pool"][0]["last_activity_at"].is_null());
    assert_eq!(
        acts("pool"),
        ["warn", "hold"],
        "due but never warned: warn first"
    );
    assert_eq!(status("silent-idle"), "due");

    assert_eq!(status("used"), "active", "{:?}", p["used"]);
    assert_eq!(p["used"][0]["last_activity_at"], "2026-03-09T07:00:00Z");
    assert_eq!(p["used"][0]["destroy_after"], "2026-03-16T07:00:00Z");
    assert_eq!(acts("used"), ["record"]);

    assert_eq!(
        status("silent-active"),
        "active",
        "{:?}",
        p["silent-active"]
    );
    assert_eq!(
        p["silent-active"][0]["last_activity_at"], NOW,
        "the current period has no data: active"
    );

    assert_eq!(status("elb"), "active", "{:?}", p["elb"]);
    assert_eq!(p["elb"][0]["destroy_after"], "2026-03-13T09:00:00Z");
    assert_eq!(acts("elb"), ["record"]);
    assert_eq!(summary(&lines)["cloudwatch_calls"], 1);
    Ok(())
}

#[test]
fn five_hundred_policies_cost_a_bounded_number_of_cloudwatch_calls() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    let n = 500;
    for i in 0..n {
        let id = format!("env{i:03}-db");
        let elb = Signal {
            kind: SignalKind::Metric {
                namespace: "AWS/ApplicationELB".into(),
                metric_name: "RequestCount".into(),
                stat: "Sum".into(),
                dimensions: [("LoadBalancer".to_string(), format!("app/env{i:03}/1"))].into(),
            },
            threshold: 0.0,
            missing: Missing::Idle,
        };
        db_with_policy(
            &aws,
            &id,
            &policy(
                &format!("env{i:03}"),
                vec![connections(2.0, Missing::Idle), elb],
            ),
        )?;
    }
    // A few environments in use.
    for i in [7, 250, 499] {
        aws.put_metric(
            "AWS/RDS",
            "DatabaseConnections",
            &[("DBInstanceIdentifier", &format!("env{i:03}-db"))],
            "2026-03-10T12:00:00Z",
            9.0,
        )?;
    }
    aws.local.clear_calls()?;
    let (lines, code) = aws.reaper(NOW, true)?;
    assert_eq!(code, 0, "{:?}", summary(&lines));
    let calls = aws.metric_calls()?;
    let p = by_policy(&lines);
    assert_eq!(p.len(), n);
    for i in [7, 250, 499] {
        assert_eq!(p[&format!("env{i:03}")][0]["status"], "active");
    }
    assert_eq!(p["env000"][0]["status"], "due");
    let queries = 2 * n;
    println!(
        "{n} policies, {queries} metric queries: {calls} GetMetricData calls = {:.4} calls per policy",
        calls as f64 / n as f64
    );
    assert_eq!(summary(&lines)["cloudwatch_calls"], calls as u64);
    assert!(calls <= queries.div_ceil(500), "{calls} calls");
    Ok(())
}

/// An ECS service `name` (desired count `desired`) in cluster `staging`, carrying `p`.
fn ecs_service_with_policy(aws: &Aws, name: &str, desired: i32, p: &Policy) -> Result<String> {
    let mut tags = p.to_tags();
    tags.insert(tag::SINCE.into(), SINCE.into());
    let ecs = aws.ecs();
    aws.rt.block_on(async {
        ecs.create_cluster().cluster_name("staging").send().await?;
        let container = aws_sdk_ecs::types::ContainerDefinition::builder()
            .name("app")
            .image("registry.example/app:1")
            .memory(512)
            .build();
        ecs.register_task_definition()
            .family(name)
            .container_definitions(container)
            .send()
            .await?;
        let out = ecs
            .create_service()
            .cluster("staging")
            .service_name(name)
            .task_definition(name)
            .desired_count(desired)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await?;
        Ok(out.service.and_then(|s| s.service_arn).unwrap_or_default())
    })
}

/// `(status, desired count, tags)` of an ECS service.
type EcsService = (String, i32, BTreeMap<String, String>);

/// The service behind `arn`; `None` when it is gone.
fn ecs_service(aws: &Aws, arn: &str) -> Result<Option<EcsService>> {
    let ecs = aws.ecs();
    let out = aws.rt.block_on(
        ecs.describe_services()
            .cluster("staging")
            .services(arn)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send(),
    )?;
    Ok(out
        .services
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|s| {
            let tags = s
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
                .collect();
            (s.status.unwrap_or_default(), s.desired_count, tags)
        }))
}

/// A real reaper run at `now` that must succeed; its planned `(policy, action)` pairs.
fn reap(aws: &Aws, now: &str) -> Result<Vec<(String, String)>> {
    let (lines, code) = aws.reaper(now, false)?;
    assert_eq!(code, 0, "{lines:#?}");
    Ok(actions(&lines))
}

fn planned(acts: &[(String, String)], policy: &str, action: &str) -> bool {
    acts.iter().any(|(p, a)| p == policy && a == action)
}

#[test]
fn ecs_services_are_paused_resumed_and_destroyed() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    let lb = |name: &str| Signal {
        kind: SignalKind::Metric {
            namespace: "AWS/ApplicationELB".into(),
            metric_name: "RequestCount".into(),
            stat: "Sum".into(),
            dimensions: [("LoadBalancer".to_string(), format!("app/{name}/1"))].into(),
        },
        threshold: 0.0,
        missing: Missing::Idle,
    };
    // In use, but only in working hours (Mon-Fri 08:00-19:00 UTC).
    let mut office = policy("office", vec![lb("office")]);
    office.action = Action::Pause;
    office.schedule = Some(
        Schedule::new(
            &["mon", "tue", "wed", "thu", "fri"].map(String::from),
            "08:00",
            "19:00",
            "UTC",
        )
        .map_err(anyhow::Error::msg)?,
    );
    let office_arn = ecs_service_with_policy(&aws, "office", 3, &office)?;
    aws.put_metric(
        "AWS/ApplicationELB",
        "RequestCount",
        &[("LoadBalancer", "app/office/1")],
        "2026-03-10T12:00:00Z",
        5.0,
    )?;
    // Nobody has used this one since the policy was attached.
    let idle_arn = ecs_service_with_policy(&aws, "idle", 2, &policy("idle", vec![lb("idle")]))?;

    // Wednesday 00:00 UTC: outside working hours; "idle" is due but was never warned.
    let before = aws.state()?;
    let ecs_before = (
        ecs_service(&aws, &office_arn)?,
        ecs_service(&aws, &idle_arn)?,
    );
    let (dry, code) = aws.reaper(NOW, true)?;
    assert_eq!(code, 0, "{dry:#?}");
    assert_eq!(aws.state()?, before, "dry run changed AWS");
    assert_eq!(
        (
            ecs_service(&aws, &office_arn)?,
            ecs_service(&aws, &idle_arn)?
        ),
        ecs_before,
        "dry run changed ECS"
    );
    let acts = reap(&aws, NOW)?;
    assert_eq!(actions(&dry), acts, "dry run and real run plan alike");
    assert!(planned(&acts, "office", "pause"), "{acts:?}");
    assert!(planned(&acts, "idle", "warn"), "{acts:?}");
    assert!(!planned(&acts, "idle", "destroy"), "{acts:?}");

    let (status, desired, tags) = ecs_service(&aws, &office_arn)?.expect("office exists");
    assert_eq!((status.as_str(), desired), ("ACTIVE", 0));
    assert_eq!(tags[tag::PAUSED_DESIRED_COUNT], "3");
    assert_eq!(tags[tag::PAUSED_BY], "schedule");
    let (_, desired, _) = ecs_service(&aws, &idle_arn)?.expect("idle exists");
    assert_eq!(desired, 2, "warned, not yet acted on");

    // Wednesday 09:00: working hours resume "office" at its old count; "idle" waits out the
    // 24 hours its warning promised.
    let acts = reap(&aws, "2026-03-11T09:00:00Z")?;
    assert!(planned(&acts, "office", "resume"), "{acts:?}");
    assert!(!planned(&acts, "idle", "destroy"), "{acts:?}");
    let (_, desired, tags) = ecs_service(&aws, &office_arn)?.expect("office exists");
    assert_eq!(desired, 3);
    assert!(!tags.contains_key(tag::PAUSED_DESIRED_COUNT), "{tags:?}");
    assert!(!tags.contains_key(tag::PAUSED_BY), "{tags:?}");
    assert_eq!(ecs_service(&aws, &idle_arn)?.expect("idle exists").1, 2);

    // Thursday 09:00: the warning's 24 hours are over.
    let acts = reap(&aws, "2026-03-12T09:00:00Z")?;
    assert!(planned(&acts, "idle", "destroy"), "{acts:?}");
    let office_acts: Vec<_> = acts.iter().filter(|(p, _)| p == "office").collect();
    assert!(
        office_acts
            .iter()
            .all(|(_, a)| a == "none" || a == "record"),
        "{acts:?}"
    );
    assert_eq!(ecs_service(&aws, &office_arn)?.expect("office exists").1, 3);
    match ecs_service(&aws, &idle_arn)? {
        None => {}
        Some((status, desired, _)) => {
            assert_ne!(
                status, "ACTIVE",
                "deleted services are INACTIVE or DRAINING"
            );
            assert_eq!(desired, 0);
        }
    }
    Ok(())
}

/// A stand-in of the Lambda runtime API: hands out `events`, records what the runtime posts,
/// then answers 410 so the runtime exits.
struct RuntimeApi {
    port: u16,
    posted: Arc<Mutex<Vec<(String, Json)>>>,
    thread: std::thread::JoinHandle<()>,
}

fn runtime_api(events: Vec<Json>) -> Result<RuntimeApi> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let posted = Arc::new(Mutex::new(vec![]));
    let seen = posted.clone();
    let thread = std::thread::spawn(move || {
        let mut queue = events.into_iter().enumerate();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let done = if line.starts_with("GET /2018-06-01/runtime/invocation/next") {
                match queue.next() {
                    Some((i, ev)) => {
                        let b = ev.to_string();
                        write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-{i}\r\nLambda-Runtime-Deadline-Ms: 0\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                            b.len()
                        )
                        .unwrap();
                        false
                    }
                    None => {
                        write!(
                            stream,
                            "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .unwrap();
                        true
                    }
                }
            } else {
                seen.lock()
                    .unwrap()
                    .push((path, serde_json::from_slice(&body).unwrap_or(Json::Null)));
                write!(
                    stream,
                    "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                false
            };
            drop(stream);
            if done {
                break;
            }
        }
    });
    Ok(RuntimeApi {
        port,
        posted,
        thread,
    })
}

#[test]
fn lambda_runtime_loop_serves_invocations() -> Result<()> {
    let aws = auto_destroy_support::start()?;
    db_with_policy(
        &aws,
        "lambda-db",
        &policy("lambda", vec![connections(0.0, Missing::Idle)]),
    )?;
    let api = runtime_api(vec![
        json!({"dry_run": true, "now": NOW}),
        json!({"now": "not a time"}),
        json!({"now": NOW, "source": "aws.scheduler"}),
    ])?;
    let before = aws.state()?;
    let mut cmd = Command::new(BIN);
    for (k, v) in aws.env() {
        cmd.env(k, v);
    }
    let out = cmd
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .stdin(Stdio::null())
        .output()?;
    api.thread.join().unwrap();
    let posted = api.posted.lock().unwrap().clone();
    assert_eq!(
        posted.len(),
        3,
        "{posted:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(posted[0].0, "/2018-06-01/runtime/invocation/req-0/response");
    assert_eq!(posted[0].1["dry_run"], true);
    assert_eq!(
        actions(posted[0].1["plan"].as_array().unwrap()),
        [
            ("lambda".to_string(), "warn".to_string()),
            ("lambda".to_string(), "hold".to_string())
        ]
    );
    assert_eq!(posted[1].0, "/2018-06-01/runtime/invocation/req-1/error");
    assert_eq!(posted[1].1["errorType"], "InvalidEvent");
    assert_eq!(posted[2].0, "/2018-06-01/runtime/invocation/req-2/response");
    assert_eq!(posted[2].1["dry_run"], false);
    assert_eq!(posted[2].1["failed"], 0);
    assert_eq!(
        posted[2].1["plan"], posted[0].1["plan"],
        "dry and real runs plan the same"
    );
    // Only the real run changed anything: the warning was recorded on the target.
    let after = aws.state()?;
    assert_ne!(after, before);
    assert!(
        after.contains("stagecraft:auto-destroy:warned-for=2026-03-08T00:00:00Z"),
        "{after}"
    );
    // Every step is logged as a JSON line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("\"event\":\"done\"") && l.contains("\"action\":\"warn\"")),
        "{stdout}"
    );
    Ok(())
}
