//! Secrets Manager calls for the staging secret, and the sandbox guard's hashing.
use std::collections::BTreeMap;

use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use sha2::{Digest, Sha256};

use crate::aws::errors;
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecretView {
    pub arn: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

fn err<E, R>(what: &str, e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Diagnostics
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    errors::diagnostic(what, e).into()
}

/// The secret, or `None` when it does not exist or is scheduled for deletion.
pub async fn describe(
    ctx: &Ctx,
    client: &Client,
    id: &str,
) -> Result<Option<SecretView>, Diagnostics> {
    let out = match ctx
        .run(client.describe_secret().secret_id(id).send())
        .await?
    {
        Ok(o) => o,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(err("describing the staging secret", &e)),
    };
    if out.deleted_date.is_some() {
        return Ok(None);
    }
    Ok(Some(SecretView {
        arn: out.arn.unwrap_or_default(),
        name: out.name.unwrap_or_default(),
        tags: out
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect(),
    }))
}

fn to_json(values: &BTreeMap<String, String>) -> String {
    serde_json::to_string(values).expect("a string map serializes")
}

pub async fn create(
    ctx: &Ctx,
    client: &Client,
    name: &str,
    values: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<String, Diagnostics> {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = ctx
        .run(
            client
                .create_secret()
                .name(name)
                .description("Staging configuration (managed by stagecraft)")
                .secret_string(to_json(values))
                .set_tags(Some(tags))
                .send(),
        )
        .await?
        .map_err(|e| err("creating the staging secret", &e))?;
    Ok(out.arn.unwrap_or_default())
}

pub async fn put(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
    values: &BTreeMap<String, String>,
) -> Result<(), Diagnostics> {
    ctx.run(
        client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(to_json(values))
            .send(),
    )
    .await?
    .map_err(|e| err("writing the staging secret", &e))?;
    Ok(())
}

/// Adds (or overwrites) tags on the secret.
pub async fn tag(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), Diagnostics> {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    ctx.run(
        client
            .tag_resource()
            .secret_id(arn)
            .set_tags(Some(tags))
            .send(),
    )
    .await?
    .map_err(|e| err("tagging the staging secret", &e))?;
    Ok(())
}

/// The key/value pairs of a JSON secret. Values are returned only to be hashed or merged;
/// they are never logged, stored in state or shown.
pub async fn read_values(
    ctx: &Ctx,
    client: &Client,
    id: &str,
    what: &str,
) -> Result<BTreeMap<String, String>, Diagnostics> {
    let out = ctx
        .run(client.get_secret_value().secret_id(id).send())
        .await?
        .map_err(|e| err(what, &e))?;
    let text = out.secret_string.unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        Diagnostics::from(Diagnostic::error(
            "Secret is not a JSON object",
            format!("{what}: the secret must hold a JSON object of key/value pairs."),
        ))
    })?;
    let obj = json.as_object().cloned().unwrap_or_default();
    Ok(obj
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect())
}

/// Deletes the secret: at once (staging default, so the name can be reused) or with a
/// recovery window.
pub async fn delete(
    ctx: &Ctx,
    client: &Client,
    arn: &str,
    recovery_days: i64,
) -> Result<(), Diagnostics> {
    let mut req = client.delete_secret().secret_id(arn);
    req = if recovery_days <= 0 {
        req.force_delete_without_recovery(true)
    } else {
        req.recovery_window_in_days(recovery_days)
    };
    match ctx.run(req.send()).await? {
        Ok(_) => Ok(()),
        Err(e) if errors::is_not_found(&e) => Ok(()),
        Err(e) => Err(err("deleting the staging secret", &e)),
    }
}

/// The sandbox guard compares values by hash only, so the comparison itself never holds
/// production's values longer than it takes to hash them.
pub fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Keys whose staging value equals production's value (by hash).
pub fn reused_keys(
    staging: &BTreeMap<String, String>,
    production: &BTreeMap<String, [u8; 32]>,
) -> Vec<String> {
    staging
        .iter()
        .filter(|(k, v)| production.get(*k).is_some_and(|h| *h == digest(v)))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The secret ARN and key of an App Runner secret reference `arn:…:secret:NAME-XXXXXX:KEY::`
/// (or a whole-secret reference without a key).
pub fn parse_reference(reference: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = reference.split(':').collect();
    // arn:aws:secretsmanager:region:account:secret:name[:key:stage:version]
    if parts.len() >= 7 {
        let arn = parts[..7].join(":");
        let key = parts
            .get(7)
            .filter(|k| !k.is_empty())
            .map(|k| k.to_string());
        (arn, key)
    } else {
        (reference.to_string(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_secret_and_key() {
        let (arn, key) = parse_reference("arn:aws:secretsmanager:us-east-1:123:secret:app/production/config-AbCdEf:JwtSettings__Secret::");
        assert_eq!(
            arn,
            "arn:aws:secretsmanager:us-east-1:123:secret:app/production/config-AbCdEf"
        );
        assert_eq!(key.as_deref(), Some("JwtSettings__Secret"));
        let (_, key) = parse_reference("arn:aws:secretsmanager:us-east-1:123:secret:whole");
        assert!(key.is_none());
    }

    #[test]
    fn reused_values_are_found_by_hash() {
        let mut prod = BTreeMap::new();
        prod.insert("A".to_string(), digest("live-key"));
        prod.insert("B".to_string(), digest("other"));
        let mut staging = BTreeMap::new();
        staging.insert("A".to_string(), "live-key".to_string());
        staging.insert("B".to_string(), "sandbox".to_string());
        staging.insert("C".to_string(), "live-key".to_string());
        assert_eq!(reused_keys(&staging, &prod), vec!["A".to_string()]);
    }
}
