//! App Runner calls for the environment: describe, create, update, pause, resume, delete, and
//! waiting on the asynchronous operations they start.
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_apprunner::types::{
    AuthenticationConfiguration, HealthCheckConfiguration, HealthCheckProtocol, ImageConfiguration,
    ImageRepository, ImageRepositoryType, InstanceConfiguration, OperationStatus, ServiceStatus,
    SourceConfiguration, Tag,
};
use aws_sdk_apprunner::Client;

use crate::aws::errors;
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics};

/// The settings of a service, as read back or as wanted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSpec {
    pub image_identifier: String,
    pub port: String,
    pub cpu: String,
    pub memory: String,
    pub auto_deployments: bool,
    pub access_role_arn: Option<String>,
    pub instance_role_arn: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Variable name → `secret-arn:key::` reference.
    pub secrets: BTreeMap<String, String>,
    pub health_protocol: String,
    pub health_path: String,
    pub health_interval: i64,
    pub health_timeout: i64,
    pub health_healthy: i64,
    pub health_unhealthy: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceView {
    pub arn: String,
    pub url: String,
    pub status: String,
    pub spec: ServiceSpec,
}

fn err<E, R>(what: &str, e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Diagnostics
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    errors::diagnostic(what, e).into()
}

fn build_err(e: impl std::fmt::Display) -> Diagnostics {
    Diagnostic::error("Invalid App Runner request", e.to_string()).into()
}

/// The service, or `None` when it does not exist (or is already deleted).
pub async fn describe(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
) -> Result<Option<ServiceView>, Diagnostics> {
    let out = match ctx
        .run(client.describe_service().service_arn(arn).send())
        .await?
    {
        Ok(o) => o,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(err("describing the App Runner service", &e)),
    };
    let Some(svc) = out.service else {
        return Ok(None);
    };
    if svc.status == ServiceStatus::Deleted {
        return Ok(None);
    }
    let mut spec = ServiceSpec::default();
    if let Some(src) = &svc.source_configuration {
        spec.auto_deployments = src.auto_deployments_enabled.unwrap_or(false);
        spec.access_role_arn = src
            .authentication_configuration
            .as_ref()
            .and_then(|a| a.access_role_arn.clone());
        if let Some(img) = &src.image_repository {
            spec.image_identifier = img.image_identifier.clone();
            if let Some(cfg) = &img.image_configuration {
                spec.port = cfg.port.clone().unwrap_or_default();
                spec.env = cfg
                    .runtime_environment_variables
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                spec.secrets = cfg
                    .runtime_environment_secrets
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
            }
        }
    }
    if let Some(inst) = &svc.instance_configuration {
        spec.cpu = inst.cpu.clone().unwrap_or_default();
        spec.memory = inst.memory.clone().unwrap_or_default();
        spec.instance_role_arn = inst.instance_role_arn.clone();
    }
    if let Some(h) = &svc.health_check_configuration {
        spec.health_protocol = h
            .protocol
            .as_ref()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        spec.health_path = h.path.clone().unwrap_or_default();
        spec.health_interval = h.interval.unwrap_or_default() as i64;
        spec.health_timeout = h.timeout.unwrap_or_default() as i64;
        spec.health_healthy = h.healthy_threshold.unwrap_or_default() as i64;
        spec.health_unhealthy = h.unhealthy_threshold.unwrap_or_default() as i64;
    }
    Ok(Some(ServiceView {
        arn: svc.service_arn,
        url: svc.service_url.unwrap_or_default(),
        status: svc.status.as_str().to_string(),
        spec,
    }))
}

/// The ARN of the live service called `name`, if any (for import and for finding a service
/// whose ARN was lost).
pub async fn find_by_name(
    ctx: &Ctx,
    client: &Client,
    name: &str,
) -> Result<Option<String>, Diagnostics> {
    let mut next: Option<String> = None;
    loop {
        let out = ctx
            .run(client.list_services().set_next_token(next.clone()).send())
            .await?
            .map_err(|e| err("listing App Runner services", &e))?;
        for s in out.service_summary_list {
            if s.service_name.as_deref() == Some(name) && s.status != Some(ServiceStatus::Deleted) {
                return Ok(s.service_arn);
            }
        }
        match out.next_token {
            Some(t) => next = Some(t),
            None => return Ok(None),
        }
    }
}

pub async fn tags(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
) -> Result<BTreeMap<String, String>, Diagnostics> {
    let out = ctx
        .run(client.list_tags_for_resource().resource_arn(arn).send())
        .await?
        .map_err(|e| err("reading the service's tags", &e))?;
    Ok(out
        .tags
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect())
}

fn source(spec: &ServiceSpec) -> Result<SourceConfiguration, Diagnostics> {
    let image_cfg = ImageConfiguration::builder()
        .port(&spec.port)
        .set_runtime_environment_variables(Some(spec.env.clone().into_iter().collect()))
        .set_runtime_environment_secrets(Some(spec.secrets.clone().into_iter().collect()))
        .build();
    let repo = ImageRepository::builder()
        .image_identifier(&spec.image_identifier)
        .image_repository_type(
            if spec.image_identifier.contains(".ecr.") || spec.image_identifier.contains("dkr.ecr")
            {
                ImageRepositoryType::Ecr
            } else {
                ImageRepositoryType::EcrPublic
            },
        )
        .image_configuration(image_cfg)
        .build()
        .map_err(build_err)?;
    let mut b = SourceConfiguration::builder()
        .image_repository(repo)
        .auto_deployments_enabled(spec.auto_deployments);
    if let Some(role) = &spec.access_role_arn {
        b = b.authentication_configuration(
            AuthenticationConfiguration::builder()
                .access_role_arn(role)
                .build(),
        );
    }
    Ok(b.build())
}

fn instance(spec: &ServiceSpec) -> InstanceConfiguration {
    InstanceConfiguration::builder()
        .cpu(&spec.cpu)
        .memory(&spec.memory)
        .set_instance_role_arn(spec.instance_role_arn.clone())
        .build()
}

fn health(spec: &ServiceSpec) -> HealthCheckConfiguration {
    let mut b = HealthCheckConfiguration::builder()
        .protocol(HealthCheckProtocol::from(spec.health_protocol.as_str()))
        .interval(spec.health_interval as i32)
        .timeout(spec.health_timeout as i32)
        .healthy_threshold(spec.health_healthy as i32)
        .unhealthy_threshold(spec.health_unhealthy as i32);
    if spec.health_protocol == "HTTP" {
        b = b.path(&spec.health_path);
    }
    b.build()
}

/// Starts creating the service; returns its ARN, URL and the operation to wait for.
pub async fn create(
    ctx: &Ctx,
    client: &Client,
    name: &str,
    spec: &ServiceSpec,
    tags: &BTreeMap<String, String>,
) -> Result<(String, String, String), Diagnostics> {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = ctx
        .run(
            client
                .create_service()
                .service_name(name)
                .source_configuration(source(spec)?)
                .instance_configuration(instance(spec))
                .health_check_configuration(health(spec))
                .set_tags(Some(tags))
                .send(),
        )
        .await?
        .map_err(|e| err("creating the App Runner service", &e))?;
    let svc = out
        .service
        .ok_or_else(|| build_err("CreateService returned no service"))?;
    Ok((
        svc.service_arn,
        svc.service_url.unwrap_or_default(),
        out.operation_id,
    ))
}

/// Starts an update to `spec`; returns the operation to wait for.
pub async fn update(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
    spec: &ServiceSpec,
) -> Result<String, Diagnostics> {
    let out = ctx
        .run(
            client
                .update_service()
                .service_arn(arn)
                .source_configuration(source(spec)?)
                .instance_configuration(instance(spec))
                .health_check_configuration(health(spec))
                .send(),
        )
        .await?
        .map_err(|e| err("updating the App Runner service", &e))?;
    Ok(out.operation_id)
}

pub async fn pause(ctx: &Ctx, client: &Client, arn: &str) -> Result<Option<String>, Diagnostics> {
    let out = ctx
        .run(client.pause_service().service_arn(arn).send())
        .await?
        .map_err(|e| err("pausing the App Runner service", &e))?;
    Ok(out.operation_id)
}

pub async fn resume(ctx: &Ctx, client: &Client, arn: &str) -> Result<Option<String>, Diagnostics> {
    let out = ctx
        .run(client.resume_service().service_arn(arn).send())
        .await?
        .map_err(|e| err("resuming the App Runner service", &e))?;
    Ok(out.operation_id)
}

/// Deletes the service and waits until it is gone. Missing already is fine.
pub async fn delete(ctx: &Ctx, client: &Client, arn: &str) -> Result<(), Diagnostics> {
    match ctx
        .run(client.delete_service().service_arn(arn).send())
        .await?
    {
        Ok(_) => {}
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(err("deleting the App Runner service", &e)),
    }
    let mut delay = Duration::from_millis(250);
    while describe(ctx, client, arn).await?.is_some() {
        ctx.sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Ok(())
}

/// Waits for an App Runner operation to finish; a failed or rolled-back operation is an
/// error carrying AWS's status.
pub async fn wait_operation(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
    operation_id: &str,
    what: &str,
) -> Result<(), Diagnostics> {
    let mut delay = Duration::from_millis(250);
    loop {
        let out = ctx
            .run(client.list_operations().service_arn(arn).send())
            .await?
            .map_err(|e| err("reading App Runner operations", &e))?;
        let op = out
            .operation_summary_list
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.id.as_deref() == Some(operation_id));
        match op.as_ref().and_then(|o| o.status.clone()) {
            Some(OperationStatus::Succeeded) => return Ok(()),
            Some(
                s @ (OperationStatus::Failed
                | OperationStatus::RollbackSucceeded
                | OperationStatus::RollbackFailed),
            ) => {
                // The service's own status says more for creates (CREATE_FAILED).
                let svc_status = describe(ctx, client, arn)
                    .await
                    .ok()
                    .flatten()
                    .map(|v| v.status)
                    .unwrap_or_default();
                return Err(Diagnostic::error(
                    format!("App Runner could not {what}"),
                    format!(
                        "Operation {operation_id} ended {}{}. See the service's event log in the App Runner console for the cause.",
                        s.as_str(),
                        if svc_status.is_empty() { String::new() } else { format!(" (service status {svc_status})") }
                    ),
                )
                .into());
            }
            _ => {}
        }
        ctx.sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
