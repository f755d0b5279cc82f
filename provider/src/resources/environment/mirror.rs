//! Reading production: what the staging environment mirrors from the production service.
use std::collections::BTreeMap;

use super::apprunner::{self, ServiceSpec};
use super::secrets;
use crate::aws::Aws;
use crate::tfplugin::{AttributePath, Ctx, Diagnostic, Diagnostics};

/// What staging takes from production.
#[derive(Clone, Debug, Default)]
pub struct Production {
    pub spec: ServiceSpec,
    /// The image repository without its tag.
    pub image_repository: String,
    /// Variable name → (secret ARN, JSON key) of every secret production's service reads.
    pub secret_refs: BTreeMap<String, (String, Option<String>)>,
}

impl Production {
    /// Secret key names staging must provide, in name order.
    pub fn secret_keys(&self) -> Vec<String> {
        self.secret_refs.keys().cloned().collect()
    }
}

/// Splits `repo:tag` (a digest `repo@sha256:…` keeps its repository).
pub fn split_image(identifier: &str) -> (String, Option<String>) {
    if let Some((repo, _digest)) = identifier.split_once('@') {
        return (repo.to_string(), None);
    }
    match identifier.rsplit_once(':') {
        // A colon inside the registry host (port) is not a tag separator.
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
        _ => (identifier.to_string(), None),
    }
}

pub async fn read(ctx: &Ctx, aws: &Aws, arn: &str) -> Result<Production, Diagnostics> {
    let client = aws.apprunner().await;
    let view = apprunner::describe(ctx, &client, arn).await?.ok_or_else(|| {
        Diagnostics::from(
            Diagnostic::error(
                "Production service not found",
                format!("source_service_arn {arn:?} names no App Runner service in this account and region."),
            )
            .at(AttributePath::attr("source_service_arn")),
        )
    })?;
    let (image_repository, _) = split_image(&view.spec.image_identifier);
    let secret_refs = view
        .spec
        .secrets
        .iter()
        .map(|(name, reference)| (name.clone(), secrets::parse_reference(reference)))
        .collect();
    Ok(Production {
        image_repository,
        secret_refs,
        spec: view.spec,
    })
}

/// Hashes of production's secret values by variable name, for the sandbox guard. Each
/// production secret is read once; values are hashed immediately and dropped.
pub async fn secret_digests(
    ctx: &Ctx,
    aws: &Aws,
    prod: &Production,
) -> Result<BTreeMap<String, [u8; 32]>, Diagnostics> {
    let client = aws.secretsmanager().await;
    let mut by_secret: BTreeMap<&str, Vec<(&str, Option<&str>)>> = BTreeMap::new();
    for (var, (arn, key)) in &prod.secret_refs {
        by_secret
            .entry(arn.as_str())
            .or_default()
            .push((var.as_str(), key.as_deref()));
    }
    let mut out = BTreeMap::new();
    for (arn, vars) in by_secret {
        let values = secrets::read_values(
            ctx,
            &client,
            arn,
            "reading production's secret for the sandbox check",
        )
        .await?;
        for (var, key) in vars {
            if let Some(v) = values.get(key.unwrap_or(var)) {
                out.insert(var.to_string(), secrets::digest(v));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_identifiers_split_into_repository_and_tag() {
        assert_eq!(
            split_image("123.dkr.ecr.us-east-1.amazonaws.com/app:prod"),
            (
                "123.dkr.ecr.us-east-1.amazonaws.com/app".into(),
                Some("prod".into())
            )
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app".into(), None)
        );
        assert_eq!(
            split_image("repo/app@sha256:abc"),
            ("repo/app".into(), None)
        );
    }
}
