//! AWS access: SDK configuration from the provider settings, built lazily on first use so
//! provider start-up (several times per Terraform command) does no network I/O.
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::sync::OnceCell;

use crate::config::Settings;
use crate::tfplugin::{Diagnostic, Diagnostics};

pub mod errors;

/// Shared by every resource of one configured provider.
pub struct Aws {
    pub settings: Settings,
    sdk: OnceCell<SdkConfig>,
}

impl Aws {
    pub fn new(settings: Settings) -> Arc<Self> {
        Arc::new(Aws {
            settings,
            sdk: OnceCell::new(),
        })
    }

    /// The SDK configuration: region, profile and credentials from the usual chain, then the
    /// assumed role if configured. Loaded once, on first use.
    pub async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(r) = &self.settings.region {
                    loader = loader.region(Region::new(r.clone()));
                }
                if let Some(p) = &self.settings.profile {
                    loader = loader.profile_name(p);
                }
                let base = loader.load().await;
                match &self.settings.assume_role {
                    None => base,
                    Some((arn, session, external_id)) => {
                        let mut b =
                            aws_config::sts::AssumeRoleProvider::builder(arn).session_name(session);
                        if let Some(x) = external_id {
                            b = b.external_id(x);
                        }
                        let provider = b.configure(&base).build().await;
                        base.into_builder()
                            .credentials_provider(
                                aws_credential_types::provider::SharedCredentialsProvider::new(
                                    provider,
                                ),
                            )
                            .build()
                    }
                }
            })
            .await
    }

    /// The endpoint override for `service`, if the provider configuration sets one.
    pub fn endpoint(&self, service: &str) -> Option<&str> {
        self.settings.endpoints.get(service).map(String::as_str)
    }

    pub async fn sts(&self) -> aws_sdk_sts::Client {
        let mut b = aws_sdk_sts::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("sts") {
            b = b.endpoint_url(url);
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }

    pub async fn apprunner(&self) -> aws_sdk_apprunner::Client {
        let mut b = aws_sdk_apprunner::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("apprunner") {
            b = b.endpoint_url(url);
        }
        aws_sdk_apprunner::Client::from_conf(b.build())
    }

    pub async fn rds(&self) -> aws_sdk_rds::Client {
        let mut b = aws_sdk_rds::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("rds") {
            b = b.endpoint_url(url);
        }
        aws_sdk_rds::Client::from_conf(b.build())
    }

    pub async fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        let mut b = aws_sdk_secretsmanager::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("secretsmanager") {
            b = b.endpoint_url(url);
        }
        aws_sdk_secretsmanager::Client::from_conf(b.build())
    }

    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        let mut b = aws_sdk_ecs::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("ecs") {
            b = b.endpoint_url(url);
        }
        aws_sdk_ecs::Client::from_conf(b.build())
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let mut b = aws_sdk_cloudwatch::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("cloudwatch") {
            b = b.endpoint_url(url);
        }
        aws_sdk_cloudwatch::Client::from_conf(b.build())
    }

    pub async fn sns(&self) -> aws_sdk_sns::Client {
        let mut b = aws_sdk_sns::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("sns") {
            b = b.endpoint_url(url);
        }
        aws_sdk_sns::Client::from_conf(b.build())
    }

    /// The Resource Groups Tagging API (no `endpoints` entry: `AWS_ENDPOINT_URL` or the
    /// service-specific `AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API` override it).
    pub async fn tagging(&self) -> aws_sdk_resourcegroupstagging::Client {
        let mut b = aws_sdk_resourcegroupstagging::config::Builder::from(self.sdk().await);
        if let Some(url) = self.endpoint("resourcegroupstaggingapi") {
            b = b.endpoint_url(url);
        }
        aws_sdk_resourcegroupstagging::Client::from_conf(b.build())
    }

    /// Fails with a clear diagnostic when no region is configured anywhere.
    pub async fn require_region(&self) -> Result<String, Diagnostics> {
        self.sdk()
            .await
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| {
                Diagnostic::error(
                    "No AWS region",
                    "Set region in the provider block, or AWS_REGION / a profile's region.",
                )
                .into()
            })
    }
}
