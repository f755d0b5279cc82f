//! The AWS objects a policy covers, and every call the reaper and the resource make on them:
//! finding them (tagging API, App Runner, ECS, RDS, Secrets Manager), reading their state and tags,
//! tagging, pausing, resuming, stopping, starting and deleting (with a final snapshot).
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::{errors, Aws};
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics};

use super::policy::tag;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Order matters: actions run service → database → secret (the environment's destroy order).
    AppRunner,
    Ecs,
    Rds,
    Secret,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::AppRunner => "app_runner_service",
            Kind::Ecs => "ecs_service",
            Kind::Rds => "rds_instance",
            Kind::Secret => "secret",
        }
    }
}

/// One covered object, as it is now.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub kind: Kind,
    pub arn: String,
    /// Service name, DB instance identifier, or secret name.
    pub name: String,
    /// App Runner service id (the `ServiceID` metric dimension).
    pub service_id: Option<String>,
    /// `RUNNING`/`PAUSED`/… for App Runner, `available`/`stopped`/… for RDS, `RUNNING` or
    /// `PAUSED` (desired count 0) for ECS, empty for secrets.
    pub status: String,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
}

impl Target {
    pub fn paused(&self) -> bool {
        match self.kind {
            Kind::AppRunner | Kind::Ecs => self.status == "PAUSED",
            Kind::Rds => matches!(self.status.as_str(), "stopped" | "stopping"),
            Kind::Secret => false,
        }
    }
    pub fn policy(&self) -> Option<&str> {
        self.tags.get(tag::POLICY).map(String::as_str)
    }
}

/// The kind of object an ARN names, if the reaper handles it.
pub fn classify(arn: &str) -> Option<Kind> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    match service {
        "apprunner" if resource.starts_with("service/") => Some(Kind::AppRunner),
        "ecs" if resource.starts_with("service/") => Some(Kind::Ecs),
        "rds" if resource.starts_with("db:") => Some(Kind::Rds),
        "secretsmanager" if resource.starts_with("secret:") => Some(Kind::Secret),
        _ => None,
    }
}

/// `(name, id)` from `arn:aws:apprunner:REGION:ACCOUNT:service/NAME/ID`.
pub fn apprunner_name_id(arn: &str) -> Option<(String, String)> {
    let rest = arn.rsplit_once(":service/")?.1;
    let (name, id) = rest.split_once('/')?;
    Some((name.to_string(), id.to_string()))
}

/// `(cluster, service)` from `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`; the old ARN
/// format without a cluster (`service/NAME`) means the `default` cluster.
pub fn ecs_cluster_service(arn: &str) -> Option<(String, String)> {
    let rest = arn.rsplit_once(":service/")?.1;
    Some(match rest.split_once('/') {
        Some((cluster, name)) => (cluster.to_string(), name.to_string()),
        None => ("default".to_string(), rest.to_string()),
    })
}

/// Not found, in ECS's words too (a missing cluster or service, or one already deleted).
fn ecs_gone<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    errors::is_not_found(e)
        || matches!(
            errors::code(e),
            Some(
                "ClusterNotFoundException"
                    | "ServiceNotFoundException"
                    | "ServiceNotActiveException"
            )
        )
}

fn err<E, R>(what: &str, e: &SdkError<E, R>) -> Diagnostics
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    errors::diagnostic(what, e).into()
}

/// Every client the reaper uses, built once.
#[derive(Clone, Debug)]
pub struct Clients {
    pub apprunner: aws_sdk_apprunner::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
}

impl Clients {
    pub async fn new(aws: &Aws) -> Clients {
        Clients {
            apprunner: aws.apprunner().await,
            ecs: aws.ecs().await,
            rds: aws.rds().await,
            secrets: aws.secretsmanager().await,
            cloudwatch: aws.cloudwatch().await,
            sns: aws.sns().await,
            tagging: aws.tagging().await,
        }
    }
}

fn pairs_to_map<I: IntoIterator<Item = (Option<String>, Option<String>)>>(
    it: I,
) -> BTreeMap<String, String> {
    it.into_iter()
        .filter_map(|(k, v)| Some((k?, v.unwrap_or_default())))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Reading

/// App Runner services (name, arn, id, status), all pages.
pub async fn list_services(
    ctx: &Ctx,
    c: &Clients,
) -> Result<Vec<(String, String, String)>, Diagnostics> {
    let mut out = vec![];
    let mut next: Option<String> = None;
    loop {
        let page = ctx
            .run(
                c.apprunner
                    .list_services()
                    .max_results(20)
                    .set_next_token(next.clone())
                    .send(),
            )
            .await?
            .map_err(|e| err("listing App Runner services", &e))?;
        for s in page.service_summary_list {
            let status = s.status.as_ref().map(|s| s.as_str().to_string());
            if status.as_deref() == Some("DELETED") {
                continue;
            }
            if let (Some(name), Some(arn)) = (s.service_name, s.service_arn) {
                out.push((name, arn, status.unwrap_or_default()));
            }
        }
        match page.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(out),
        }
    }
}

pub async fn apprunner_tags(
    ctx: &Ctx,
    c: &Clients,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, Diagnostics> {
    match ctx
        .run(
            c.apprunner
                .list_tags_for_resource()
                .resource_arn(arn)
                .send(),
        )
        .await?
    {
        Ok(o) => Ok(Some(pairs_to_map(
            o.tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value)),
        ))),
        Err(e) if errors::is_not_found(&e) => Ok(None),
        Err(e) => Err(err("reading App Runner tags", &e)),
    }
}

pub async fn apprunner_target(
    ctx: &Ctx,
    c: &Clients,
    arn: &str,
) -> Result<Option<Target>, Diagnostics> {
    let out = match ctx
        .run(c.apprunner.describe_service().service_arn(arn).send())
        .await?
    {
        Ok(o) => o,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(err("describing the App Runner service", &e)),
    };
    let Some(svc) = out.service else {
        return Ok(None);
    };
    let status = svc.status.as_str().to_string();
    if status == "DELETED" {
        return Ok(None);
    }
    let Some(tags) = apprunner_tags(ctx, c, arn).await? else {
        return Ok(None);
    };
    Ok(Some(Target {
        kind: Kind::AppRunner,
        arn: svc.service_arn,
        name: svc.service_name,
        service_id: Some(svc.service_id),
        status,
        deletion_protection: false,
        tags,
    }))
}

/// An ECS service by ARN, with its tags; `None` when it does not exist or was deleted
/// (`INACTIVE`/`DRAINING`). Also returns its desired count.
async fn ecs_service(
    ctx: &Ctx,
    c: &Clients,
    arn: &str,
) -> Result<Option<(Target, i32)>, Diagnostics> {
    let Some((cluster, _)) = ecs_cluster_service(arn) else {
        return Ok(None);
    };
    let out = match ctx
        .run(
            c.ecs
                .describe_services()
                .cluster(&cluster)
                .services(arn)
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .send(),
        )
        .await?
    {
        Ok(o) => o,
        Err(e) if ecs_gone(&e) => return Ok(None),
        Err(e) => return Err(err("describing the ECS service", &e)),
    };
    let Some(svc) = out.services.unwrap_or_default().into_iter().next() else {
        return Ok(None);
    };
    if svc.status.as_deref() != Some("ACTIVE") {
        return Ok(None);
    }
    let desired = svc.desired_count;
    Ok(Some((
        Target {
            kind: Kind::Ecs,
            arn: svc.service_arn.unwrap_or_else(|| arn.to_string()),
            name: svc.service_name.unwrap_or_default(),
            service_id: None,
            status: if desired > 0 { "RUNNING" } else { "PAUSED" }.to_string(),
            deletion_protection: false,
            tags: pairs_to_map(
                svc.tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key, t.value)),
            ),
        },
        desired,
    )))
}

pub async fn ecs_target(ctx: &Ctx, c: &Clients, arn: &str) -> Result<Option<Target>, Diagnostics> {
    Ok(ecs_service(ctx, c, arn).await?.map(|(t, _)| t))
}

fn rds_target(db: aws_sdk_rds::types::DbInstance) -> Option<Target> {
    let status = db.db_instance_status.clone().unwrap_or_default();
    if status == "deleting" {
        return None;
    }
    Some(Target {
        kind: Kind::Rds,
        arn: db.db_instance_arn.clone()?,
        name: db.db_instance_identifier.clone()?,
        service_id: None,
        status,
        deletion_protection: db.deletion_protection.unwrap_or(false),
        tags: pairs_to_map(
            db.tag_list
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value)),
        ),
    })
}

pub async fn rds_target_by_id(
    ctx: &Ctx,
    c: &Clients,
    id: &str,
) -> Result<Option<Target>, Diagnostics> {
    let out = match ctx
        .run(
            c.rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send(),
        )
        .await?
    {
        Ok(o) => o,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(err("describing the RDS instance", &e)),
    };
    Ok(out
        .db_instances
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(rds_target))
}

/// Every RDS instance (all pages), by ARN.
pub async fn rds_all(ctx: &Ctx, c: &Clients) -> Result<BTreeMap<String, Target>, Diagnostics> {
    let mut out = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .run(
                c.rds
                    .describe_db_instances()
                    .max_records(100)
                    .set_marker(marker.clone())
                    .send(),
            )
            .await?
            .map_err(|e| err("listing RDS instances", &e))?;
        for db in page.db_instances.unwrap_or_default() {
            if let Some(t) = rds_target(db) {
                out.insert(t.arn.clone(), t);
            }
        }
        match page.marker {
            Some(m) if !m.is_empty() => marker = Some(m),
            _ => return Ok(out),
        }
    }
}

pub async fn secret_target(
    ctx: &Ctx,
    c: &Clients,
    id: &str,
) -> Result<Option<Target>, Diagnostics> {
    let out = match ctx
        .run(c.secrets.describe_secret().secret_id(id).send())
        .await?
    {
        Ok(o) => o,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(err("describing the secret", &e)),
    };
    if out.deleted_date.is_some() {
        return Ok(None);
    }
    Ok(Some(Target {
        kind: Kind::Secret,
        arn: out.arn.unwrap_or_default(),
        name: out.name.unwrap_or_default(),
        service_id: None,
        status: String::new(),
        deletion_protection: false,
        tags: pairs_to_map(
            out.tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value)),
        ),
    }))
}

/// The targets of a `staging_environment` called `name`, as far as they exist: its App Runner
/// service, its database `<name>-db` and its secret `<name>/config`.
pub async fn environment_targets(
    ctx: &Ctx,
    c: &Clients,
    name: &str,
) -> Result<Vec<Target>, Diagnostics> {
    let mut out = vec![];
    for (n, arn, _) in list_services(ctx, c).await? {
        if n == name {
            if let Some(t) = apprunner_target(ctx, c, &arn).await? {
                out.push(t);
            }
        }
    }
    if let Some(t) = rds_target_by_id(ctx, c, &format!("{name}-db")).await? {
        out.push(t);
    }
    if let Some(t) = secret_target(ctx, c, &format!("{name}/config")).await? {
        out.push(t);
    }
    Ok(out)
}

/// One named target (ARN, or RDS instance identifier); `None` when it does not exist.
pub async fn target(
    ctx: &Ctx,
    c: &Clients,
    kind: Kind,
    id: &str,
) -> Result<Option<Target>, Diagnostics> {
    match kind {
        Kind::AppRunner => apprunner_target(ctx, c, id).await,
        Kind::Ecs => ecs_target(ctx, c, id).await,
        Kind::Rds => {
            let id = id.rsplit_once(":db:").map(|(_, i)| i).unwrap_or(id);
            rds_target_by_id(ctx, c, id).await
        }
        Kind::Secret => secret_target(ctx, c, id).await,
    }
}

/// Every object carrying a policy tag: the tagging API (all pages), plus App Runner services the
/// tagging API did not return (checked one by one: not every endpoint indexes App Runner).
/// Returns the targets and the number of calls made per API, for the run summary.
pub async fn discover(ctx: &Ctx, c: &Clients) -> Result<Vec<Target>, Diagnostics> {
    let mut tagged: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .run(
                c.tagging
                    .get_resources()
                    .tag_filters(
                        aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                            .key(tag::POLICY)
                            .build(),
                    )
                    .resources_per_page(100)
                    .set_pagination_token(token.clone())
                    .send(),
            )
            .await?
            .map_err(|e| err("searching tagged resources", &e))?;
        for m in page.resource_tag_mapping_list() {
            if let Some(arn) = &m.resource_arn {
                let tags = m
                    .tags()
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                tagged.insert(arn.clone(), tags);
            }
        }
        match page.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let mut out = vec![];
    // App Runner: statuses from the listing; tags from the tagging API or asked directly.
    for (name, arn, status) in list_services(ctx, c).await? {
        let tags = match tagged.remove(&arn) {
            Some(t) => t,
            None => match apprunner_tags(ctx, c, &arn).await? {
                Some(t) if t.contains_key(tag::POLICY) => t,
                _ => continue,
            },
        };
        out.push(Target {
            kind: Kind::AppRunner,
            service_id: apprunner_name_id(&arn).map(|(_, id)| id),
            arn,
            name,
            status,
            deletion_protection: false,
            tags,
        });
    }
    // RDS: statuses from one listing rather than a call per instance.
    if tagged.keys().any(|a| classify(a) == Some(Kind::Rds)) {
        let all = rds_all(ctx, c).await?;
        for (arn, t) in all {
            if tagged.remove(&arn).is_some() && t.tags.contains_key(tag::POLICY) {
                out.push(t);
            }
        }
    }
    // ECS: the current desired count (and whether the service still exists) asked directly.
    let ecs: Vec<String> = tagged
        .keys()
        .filter(|a| classify(a) == Some(Kind::Ecs))
        .cloned()
        .collect();
    for arn in ecs {
        tagged.remove(&arn);
        if let Some(t) = ecs_target(ctx, c, &arn).await? {
            if t.tags.contains_key(tag::POLICY) {
                out.push(t);
            }
        }
    }
    for (arn, tags) in tagged {
        if classify(&arn) == Some(Kind::Secret) {
            let name = arn
                .rsplit_once(":secret:")
                .map(|(_, n)| n.to_string())
                .unwrap_or_default();
            out.push(Target {
                kind: Kind::Secret,
                // Secret ARNs end in `-` and six random characters.
                name: name
                    .rsplit_once('-')
                    .map(|(n, _)| n.to_string())
                    .unwrap_or(name),
                arn,
                service_id: None,
                status: String::new(),
                deletion_protection: false,
                tags,
            });
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Writing

pub async fn tag(
    ctx: &Ctx,
    c: &Clients,
    t: &Target,
    tags: &BTreeMap<String, String>,
) -> Result<(), Diagnostics> {
    if tags.is_empty() {
        return Ok(());
    }
    match t.kind {
        Kind::AppRunner => {
            let tags: Vec<_> = tags
                .iter()
                .map(|(k, v)| {
                    aws_sdk_apprunner::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                })
                .collect();
            ctx.run(
                c.apprunner
                    .tag_resource()
                    .resource_arn(&t.arn)
                    .set_tags(Some(tags))
                    .send(),
            )
            .await?
            .map_err(|e| err("tagging the App Runner service", &e))?;
        }
        Kind::Ecs => {
            let tags: Vec<_> = tags
                .iter()
                .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
                .collect();
            ctx.run(
                c.ecs
                    .tag_resource()
                    .resource_arn(&t.arn)
                    .set_tags(Some(tags))
                    .send(),
            )
            .await?
            .map_err(|e| err("tagging the ECS service", &e))?;
        }
        Kind::Rds => {
            let tags: Vec<_> = tags
                .iter()
                .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
                .collect();
            ctx.run(
                c.rds
                    .add_tags_to_resource()
                    .resource_name(&t.arn)
                    .set_tags(Some(tags))
                    .send(),
            )
            .await?
            .map_err(|e| err("tagging the RDS instance", &e))?;
        }
        Kind::Secret => {
            let tags: Vec<_> = tags
                .iter()
                .map(|(k, v)| {
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                })
                .collect();
            ctx.run(
                c.secrets
                    .tag_resource()
                    .secret_id(&t.arn)
                    .set_tags(Some(tags))
                    .send(),
            )
            .await?
            .map_err(|e| err("tagging the secret", &e))?;
        }
    }
    Ok(())
}

pub async fn untag(
    ctx: &Ctx,
    c: &Clients,
    t: &Target,
    keys: &BTreeSet<String>,
) -> Result<(), Diagnostics> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = keys.iter().cloned().collect();
    let not_found_ok = |d: Diagnostics, gone: bool| if gone { Ok(()) } else { Err(d) };
    match t.kind {
        Kind::AppRunner => match ctx
            .run(
                c.apprunner
                    .untag_resource()
                    .resource_arn(&t.arn)
                    .set_tag_keys(Some(keys))
                    .send(),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => not_found_ok(
                err("untagging the App Runner service", &e),
                errors::is_not_found(&e),
            ),
        },
        Kind::Ecs => match ctx
            .run(
                c.ecs
                    .untag_resource()
                    .resource_arn(&t.arn)
                    .set_tag_keys(Some(keys))
                    .send(),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => not_found_ok(err("untagging the ECS service", &e), ecs_gone(&e)),
        },
        Kind::Rds => match ctx
            .run(
                c.rds
                    .remove_tags_from_resource()
                    .resource_name(&t.arn)
                    .set_tag_keys(Some(keys))
                    .send(),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => not_found_ok(
                err("untagging the RDS instance", &e),
                errors::is_not_found(&e),
            ),
        },
        Kind::Secret => match ctx
            .run(
                c.secrets
                    .untag_resource()
                    .secret_id(&t.arn)
                    .set_tag_keys(Some(keys))
                    .send(),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(e) => not_found_ok(err("untagging the secret", &e), errors::is_not_found(&e)),
        },
    }
}

async fn wait_apprunner(
    ctx: &Ctx,
    c: &Clients,
    arn: &str,
    want: &[&str],
) -> Result<(), Diagnostics> {
    let mut delay = Duration::from_millis(200);
    for _ in 0..120 {
        let out = ctx
            .run(c.apprunner.describe_service().service_arn(arn).send())
            .await?;
        match out {
            Ok(o) => {
                let status = o
                    .service
                    .map(|s| s.status.as_str().to_string())
                    .unwrap_or_default();
                if want.contains(&status.as_str()) {
                    return Ok(());
                }
                if status != "OPERATION_IN_PROGRESS" {
                    return Err(Diagnostic::error(
                        "App Runner operation failed",
                        format!("{arn} is {status}, expected {}", want.join(" or ")),
                    )
                    .into());
                }
            }
            Err(e) if errors::is_not_found(&e) && want.contains(&"DELETED") => return Ok(()),
            Err(e) => return Err(err("describing the App Runner service", &e)),
        }
        ctx.sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Err(Diagnostic::error("App Runner operation did not finish", arn.to_string()).into())
}

pub async fn pause_service(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    ctx.run(c.apprunner.pause_service().service_arn(arn).send())
        .await?
        .map_err(|e| err("pausing the App Runner service", &e))?;
    wait_apprunner(ctx, c, arn, &["PAUSED"]).await
}

pub async fn resume_service(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    ctx.run(c.apprunner.resume_service().service_arn(arn).send())
        .await?
        .map_err(|e| err("resuming the App Runner service", &e))?;
    wait_apprunner(ctx, c, arn, &["RUNNING"]).await
}

pub async fn delete_service(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    match ctx
        .run(c.apprunner.delete_service().service_arn(arn).send())
        .await?
    {
        Ok(_) => {}
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(err("deleting the App Runner service", &e)),
    }
    wait_apprunner(ctx, c, arn, &["DELETED"]).await
}

async fn set_desired_count(
    ctx: &Ctx,
    c: &Clients,
    arn: &str,
    count: i32,
) -> Result<(), Diagnostics> {
    let (cluster, _) = ecs_cluster_service(arn).unwrap_or_default();
    ctx.run(
        c.ecs
            .update_service()
            .cluster(cluster)
            .service(arn)
            .desired_count(count)
            .send(),
    )
    .await?
    .map_err(|e| err("updating the ECS service's desired count", &e))?;
    Ok(())
}

/// Pauses an ECS service: its desired count is recorded in a tag
/// ([`tag::PAUSED_DESIRED_COUNT`]) first, then set to 0.
pub async fn pause_ecs(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    let Some((t, desired)) = ecs_service(ctx, c, arn).await? else {
        return Ok(());
    };
    if desired == 0 {
        return Ok(());
    }
    let set = [(tag::PAUSED_DESIRED_COUNT.to_string(), desired.to_string())]
        .into_iter()
        .collect();
    tag(ctx, c, &t, &set).await?;
    set_desired_count(ctx, c, arn, 0).await
}

/// Resumes an ECS service the reaper paused: restores the recorded desired count (1 when the
/// tag is missing or unreadable), then removes the tag.
pub async fn resume_ecs(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    let Some((t, desired)) = ecs_service(ctx, c, arn).await? else {
        return Ok(());
    };
    let recorded = t
        .tags
        .get(tag::PAUSED_DESIRED_COUNT)
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|n| *n > 0);
    if desired == 0 {
        set_desired_count(ctx, c, arn, recorded.unwrap_or(1)).await?;
    }
    let keys = [tag::PAUSED_DESIRED_COUNT.to_string()]
        .into_iter()
        .collect();
    untag(ctx, c, &t, &keys).await
}

/// Deletes an ECS service: desired count 0, then DeleteService.
pub async fn delete_ecs(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    let Some((_, desired)) = ecs_service(ctx, c, arn).await? else {
        return Ok(());
    };
    if desired > 0 {
        set_desired_count(ctx, c, arn, 0).await?;
    }
    let (cluster, _) = ecs_cluster_service(arn).unwrap_or_default();
    match ctx
        .run(c.ecs.delete_service().cluster(cluster).service(arn).send())
        .await?
    {
        Ok(_) => Ok(()),
        Err(e) if ecs_gone(&e) => Ok(()),
        Err(e) => Err(err("deleting the ECS service", &e)),
    }
}

async fn wait_rds(ctx: &Ctx, c: &Clients, id: &str, want: &[&str]) -> Result<(), Diagnostics> {
    let mut delay = Duration::from_millis(200);
    for _ in 0..120 {
        match rds_target_by_id(ctx, c, id).await? {
            Some(t) if want.contains(&t.status.as_str()) => return Ok(()),
            None if want.contains(&"deleted") => return Ok(()),
            None => {
                return Err(Diagnostic::error("RDS instance disappeared", id.to_string()).into())
            }
            Some(_) => {}
        }
        ctx.sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    Err(Diagnostic::error("RDS operation did not finish", id.to_string()).into())
}

pub async fn stop_db(ctx: &Ctx, c: &Clients, id: &str) -> Result<(), Diagnostics> {
    ctx.run(c.rds.stop_db_instance().db_instance_identifier(id).send())
        .await?
        .map_err(|e| err("stopping the RDS instance", &e))?;
    wait_rds(ctx, c, id, &["stopped"]).await
}

pub async fn start_db(ctx: &Ctx, c: &Clients, id: &str) -> Result<(), Diagnostics> {
    ctx.run(c.rds.start_db_instance().db_instance_identifier(id).send())
        .await?
        .map_err(|e| err("starting the RDS instance", &e))?;
    wait_rds(ctx, c, id, &["available"]).await
}

/// Deletes the instance, with a final snapshot called `snapshot` when given. A stopped instance
/// is started first (RDS takes the final snapshot of a running instance).
pub async fn delete_db(
    ctx: &Ctx,
    c: &Clients,
    id: &str,
    status: &str,
    snapshot: Option<&str>,
) -> Result<(), Diagnostics> {
    if snapshot.is_some() && matches!(status, "stopped" | "stopping") {
        if status == "stopping" {
            wait_rds(ctx, c, id, &["stopped"]).await?;
        }
        start_db(ctx, c, id).await?;
    }
    let mut req = c
        .rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .delete_automated_backups(true);
    req = match snapshot {
        Some(s) => req
            .final_db_snapshot_identifier(s)
            .skip_final_snapshot(false),
        None => req.skip_final_snapshot(true),
    };
    match ctx.run(req.send()).await? {
        Ok(_) => {}
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(err("deleting the RDS instance", &e)),
    }
    wait_rds(ctx, c, id, &["deleted"]).await
}

/// Deletes the secret at once (no recovery window), so `terraform apply` can recreate the
/// environment under the same name — what `staging_environment` does on destroy by default.
pub async fn delete_secret(ctx: &Ctx, c: &Clients, arn: &str) -> Result<(), Diagnostics> {
    match ctx
        .run(
            c.secrets
                .delete_secret()
                .secret_id(arn)
                .force_delete_without_recovery(true)
                .send(),
        )
        .await?
    {
        Ok(_) => Ok(()),
        Err(e) if errors::is_not_found(&e) => Ok(()),
        Err(e) => Err(err("deleting the secret", &e)),
    }
}

pub async fn publish(
    ctx: &Ctx,
    c: &Clients,
    topic: &str,
    subject: &str,
    message: &str,
) -> Result<(), Diagnostics> {
    ctx.run(
        c.sns
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(message)
            .send(),
    )
    .await?
    .map_err(|e| err("sending the SNS warning", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_classified() {
        assert_eq!(
            classify("arn:aws:apprunner:us-east-1:123456789012:service/app/8fe1e10304f84fd2b0df550fe98a71fa"),
            Some(Kind::AppRunner)
        );
        assert_eq!(
            classify("arn:aws:rds:us-east-1:123456789012:db:app-db"),
            Some(Kind::Rds)
        );
        assert_eq!(
            classify("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/config-AbCdEf"),
            Some(Kind::Secret)
        );
        assert_eq!(
            classify("arn:aws:rds:us-east-1:123456789012:snapshot:x"),
            None
        );
        assert_eq!(classify("nonsense"), None);
        assert_eq!(
            classify("arn:aws:ecs:us-east-1:123456789012:service/staging/web"),
            Some(Kind::Ecs)
        );
        assert_eq!(
            classify("arn:aws:ecs:us-east-1:123456789012:cluster/staging"),
            None
        );
        assert_eq!(
            ecs_cluster_service("arn:aws:ecs:us-east-1:1:service/staging/web"),
            Some(("staging".into(), "web".into()))
        );
        assert_eq!(
            ecs_cluster_service("arn:aws:ecs:us-east-1:1:service/web"),
            Some(("default".into(), "web".into()))
        );
        assert_eq!(
            apprunner_name_id("arn:aws:apprunner:us-east-1:1:service/app/abc"),
            Some(("app".into(), "abc".into()))
        );
    }
}
