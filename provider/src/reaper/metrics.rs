//! Activity from CloudWatch, batched: every query of every policy that shares a time window goes
//! into GetMetricData calls of up to 500 queries each (the API's limit), so evaluating N policies
//! costs about N × signals / 500 calls, not N.
use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;

use crate::aws::errors;
use crate::tfplugin::{Ctx, Diagnostics};

use super::eval::Window;
use super::policy::{Policy, SignalKind};
use super::targets::{Kind, Target};

/// GetMetricData's limit on queries per call.
pub const MAX_QUERIES: usize = 500;

/// One metric to read.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSpec {
    pub namespace: String,
    pub metric_name: String,
    pub stat: String,
    pub dimensions: Vec<(String, String)>,
}

/// The metrics behind each of a policy's signals, as `(signal index, metric)`.
pub fn specs(policy: &Policy, targets: &[Target]) -> Vec<(usize, MetricSpec)> {
    let mut out = vec![];
    for (i, s) in policy.signals.iter().enumerate() {
        match &s.kind {
            SignalKind::AppRunnerRequests => {
                for t in targets.iter().filter(|t| t.kind == Kind::AppRunner) {
                    let Some(id) = &t.service_id else { continue };
                    out.push((
                        i,
                        MetricSpec {
                            namespace: "AWS/AppRunner".into(),
                            metric_name: "Requests".into(),
                            stat: "Sum".into(),
                            dimensions: vec![
                                ("ServiceID".into(), id.clone()),
                                ("ServiceName".into(), t.name.clone()),
                            ],
                        },
                    ));
                }
            }
            SignalKind::RdsConnections => {
                for t in targets.iter().filter(|t| t.kind == Kind::Rds) {
                    out.push((
                        i,
                        MetricSpec {
                            namespace: "AWS/RDS".into(),
                            metric_name: "DatabaseConnections".into(),
                            stat: "Maximum".into(),
                            dimensions: vec![("DBInstanceIdentifier".into(), t.name.clone())],
                        },
                    ));
                }
            }
            SignalKind::Metric {
                namespace,
                metric_name,
                stat,
                dimensions,
            } => out.push((
                i,
                MetricSpec {
                    namespace: namespace.clone(),
                    metric_name: metric_name.clone(),
                    stat: stat.clone(),
                    dimensions: dimensions
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                },
            )),
        }
    }
    out
}

/// Reads every spec over `window`: one series of `(bucket start, value)` per spec, in order.
/// Returns the series and the number of GetMetricData calls made.
pub async fn fetch(
    ctx: &Ctx,
    client: &aws_sdk_cloudwatch::Client,
    window: Window,
    specs: &[MetricSpec],
) -> Result<(Vec<Vec<(i64, f64)>>, usize), Diagnostics> {
    let mut series: Vec<Vec<(i64, f64)>> = vec![vec![]; specs.len()];
    let mut calls = 0;
    for (chunk_no, chunk) in specs.chunks(MAX_QUERIES).enumerate() {
        let base = chunk_no * MAX_QUERIES;
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let metric = Metric::builder()
                    .namespace(&s.namespace)
                    .metric_name(&s.metric_name)
                    .set_dimensions(Some(
                        s.dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                            .collect(),
                    ))
                    .build();
                MetricDataQuery::builder()
                    .id(format!("q{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(window.period as i32)
                            .stat(&s.stat)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut token: Option<String> = None;
        loop {
            calls += 1;
            let out = ctx
                .run(
                    client
                        .get_metric_data()
                        .start_time(DateTime::from_secs(window.start))
                        .end_time(DateTime::from_secs(window.end))
                        .scan_by(ScanBy::TimestampDescending)
                        .set_metric_data_queries(Some(queries.clone()))
                        .set_next_token(token.clone())
                        .send(),
                )
                .await?
                .map_err(|e| {
                    Diagnostics::from(errors::diagnostic("reading CloudWatch metrics", &e))
                })?;
            for r in out.metric_data_results() {
                let Some(i) = r
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i < chunk.len())
                else {
                    continue;
                };
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    // Buckets start on period boundaries; snap in case an endpoint does not.
                    let secs = t.secs();
                    let b = window.start
                        + (secs - window.start).div_euclid(window.period) * window.period;
                    series[base + i].push((b, *v));
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    // A bucket split over pages (or snapped together) keeps its largest value.
    for s in &mut series {
        let mut m: BTreeMap<i64, f64> = BTreeMap::new();
        for (b, v) in s.drain(..) {
            let e = m.entry(b).or_insert(v);
            if v > *e {
                *e = v;
            }
        }
        s.extend(m);
    }
    Ok((series, calls))
}
