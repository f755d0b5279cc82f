//! The provider's own configuration: the `provider "staging" {}` block.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use crate::tfplugin::{AttributePath, Diagnostic, Diagnostics, Tf, Type};

/// Services whose endpoint can be overridden, in the order the docs list them.
pub const ENDPOINT_SERVICES: [&str; 7] = [
    "apprunner",
    "rds",
    "secretsmanager",
    "ecs",
    "cloudwatch",
    "sns",
    "sts",
];

pub const DEFAULT_GUARD_KEY: &str = "Environment";
pub const DEFAULT_GUARD_VALUES: [&str; 3] = ["production", "Production", "prod"];

pub fn schema() -> Schema {
    let mut endpoints = Block::new("Custom endpoint URLs per AWS service (e.g. a local emulator). `AWS_ENDPOINT_URL` works as well.");
    for svc in ENDPOINT_SERVICES {
        endpoints = endpoints.attr(Attribute::optional(
            svc,
            Type::String,
            &format!("Endpoint URL for {svc}."),
        ));
    }
    Schema::new(
        0,
        Block::new("stagecraft: declarative staging environments on AWS.")
            .attr(Attribute::optional(
                "region",
                Type::String,
                "AWS region. Defaults to the SDK's usual chain (`AWS_REGION`, profile).",
            ))
            .attr(Attribute::optional("profile", Type::String, "Named profile from the shared AWS config files."))
            .attr(Attribute::optional(
                "default_tags",
                Type::map(Type::String),
                "Tags added to every AWS object stagecraft creates.",
            ))
            .block(NestedBlock::new(
                "assume_role",
                Nesting::Single,
                Block::new("Assume this IAM role for every call.")
                    .attr(Attribute::required("role_arn", Type::String, "ARN of the role to assume."))
                    .attr(Attribute::optional("session_name", Type::String, "Session name (default `stagecraft`)."))
                    .attr(Attribute::optional("external_id", Type::String, "External ID the role's trust policy requires.").sensitive()),
            ))
            .block(NestedBlock::new("endpoints", Nesting::Single, endpoints))
            .block(NestedBlock::new(
                "production_guard",
                Nesting::Single,
                Block::new("Refuse to modify anything carrying these tags (default: `Environment` in `production`, `Production`, `prod`).")
                    .attr(Attribute::optional("tag_key", Type::String, "Tag key that marks production (default `Environment`)."))
                    .attr(Attribute::optional("tag_values", Type::list(Type::String), "Values of `tag_key` that mean production.")),
            )),
    )
}

#[derive(Deserialize, Debug, Default, Clone)]
pub struct ProviderConfig {
    pub region: Tf<String>,
    pub profile: Tf<String>,
    pub default_tags: Tf<BTreeMap<String, String>>,
    pub assume_role: Option<AssumeRole>,
    pub endpoints: Option<BTreeMap<String, Tf<String>>>,
    pub production_guard: Option<GuardConfig>,
}

#[derive(Deserialize, Debug, Default, Clone)]
pub struct AssumeRole {
    pub role_arn: Tf<String>,
    pub session_name: Tf<String>,
    pub external_id: Tf<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
pub struct GuardConfig {
    pub tag_key: Tf<String>,
    pub tag_values: Tf<Vec<String>>,
}

/// The settings resources use, with defaults applied and nothing unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub default_tags: BTreeMap<String, String>,
    pub assume_role: Option<(String, String, Option<String>)>,
    pub endpoints: BTreeMap<String, String>,
    pub guard: ProductionGuard,
}

/// Anything tagged as production is off limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductionGuard {
    pub tag_key: String,
    pub tag_values: Vec<String>,
}

impl Default for ProductionGuard {
    fn default() -> Self {
        ProductionGuard {
            tag_key: DEFAULT_GUARD_KEY.into(),
            tag_values: DEFAULT_GUARD_VALUES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl ProductionGuard {
    /// Refuses an object whose tags mark it as production; `what` names it in the message.
    pub fn check<'a>(
        &self,
        what: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), Diagnostic> {
        for (k, v) in tags {
            if k == self.tag_key && self.tag_values.iter().any(|p| p == v) {
                return Err(Diagnostic::error(
                    "Refusing to touch production",
                    format!(
                        "{what} is tagged {k}={v}, which the provider's production_guard marks as production. \
                         stagecraft never modifies production objects."
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn known(v: &Tf<String>, path: AttributePath, diags: &mut Diagnostics) -> Option<String> {
    match v {
        Tf::Known(s) => Some(s.clone()),
        Tf::Null => None,
        Tf::Unknown => {
            diags.push(
                Diagnostic::error(
                    "Provider configuration not known yet",
                    "This value depends on a resource that does not exist yet; stagecraft needs it at plan time.",
                )
                .at(path),
            );
            None
        }
    }
}

impl ProviderConfig {
    /// Validation that does not need every value known.
    pub fn validate(&self) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Some(eps) = &self.endpoints {
            for (svc, url) in eps {
                if let Tf::Known(u) = url {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        d.error_at(
                            AttributePath::attr("endpoints").join_attr(svc),
                            "Invalid endpoint URL",
                            format!("{u:?} must start with http:// or https://."),
                        );
                    }
                }
            }
        }
        if let Some(ar) = &self.assume_role {
            if let Tf::Known(arn) = &ar.role_arn {
                if !arn.starts_with("arn:") {
                    d.error_at(
                        AttributePath::attr("assume_role").join_attr("role_arn"),
                        "Invalid role ARN",
                        format!("{arn:?} is not an ARN (arn:aws:iam::ACCOUNT:role/NAME)."),
                    );
                }
            }
        }
        if let Some(g) = &self.production_guard {
            if let Tf::Known(vals) = &g.tag_values {
                if vals.is_empty() {
                    d.error_at(
                        AttributePath::attr("production_guard").join_attr("tag_values"),
                        "Empty production guard",
                        "An empty list would mark nothing as production; leave tag_values out for the defaults.",
                    );
                }
            }
        }
        d
    }

    pub fn settings(&self) -> Result<Settings, Diagnostics> {
        let mut d = self.validate();
        let region = known(&self.region, AttributePath::attr("region"), &mut d);
        let profile = known(&self.profile, AttributePath::attr("profile"), &mut d);
        let default_tags = match &self.default_tags {
            Tf::Known(m) => m.clone(),
            Tf::Null => BTreeMap::new(),
            Tf::Unknown => {
                d.error_at(
                    AttributePath::attr("default_tags"),
                    "Provider configuration not known yet",
                    "default_tags must be known at plan time.",
                );
                BTreeMap::new()
            }
        };
        let assume_role = self.assume_role.as_ref().and_then(|ar| {
            let p = AttributePath::attr("assume_role");
            let arn = known(&ar.role_arn, p.join_attr("role_arn"), &mut d)?;
            let session = known(&ar.session_name, p.join_attr("session_name"), &mut d)
                .unwrap_or_else(|| "stagecraft".into());
            let external = known(&ar.external_id, p.join_attr("external_id"), &mut d);
            Some((arn, session, external))
        });
        let mut endpoints = BTreeMap::new();
        if let Some(eps) = &self.endpoints {
            for (svc, url) in eps {
                if let Some(u) = known(url, AttributePath::attr("endpoints").join_attr(svc), &mut d)
                {
                    endpoints.insert(svc.clone(), u);
                }
            }
        }
        let mut guard = ProductionGuard::default();
        if let Some(g) = &self.production_guard {
            let p = AttributePath::attr("production_guard");
            if let Some(k) = known(&g.tag_key, p.join_attr("tag_key"), &mut d) {
                guard.tag_key = k;
            }
            if let Tf::Known(vals) = &g.tag_values {
                guard.tag_values = vals.clone();
            }
        }
        d.into_result()?;
        Ok(Settings {
            region,
            profile,
            default_tags,
            assume_role,
            endpoints,
            guard,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_valid() {
        assert!(schema().validate().is_empty(), "{:?}", schema().validate());
    }

    #[test]
    fn guard_refuses_production_tags_only() {
        let g = ProductionGuard::default();
        assert!(g.check("db", [("Environment", "staging")]).is_ok());
        let err = g
            .check("database prod-db", [("Team", "x"), ("Environment", "prod")])
            .unwrap_err();
        assert!(err.detail.contains("Environment=prod"));
        let custom = ProductionGuard {
            tag_key: "Stage".into(),
            tag_values: vec!["live".into()],
        };
        assert!(custom.check("x", [("Environment", "production")]).is_ok());
        assert!(custom.check("x", [("Stage", "live")]).is_err());
    }

    #[test]
    fn settings_apply_defaults_and_report_paths() {
        let mut eps = BTreeMap::new();
        eps.insert("rds".to_string(), Tf::Known("ftp://nope".to_string()));
        eps.insert(
            "sts".to_string(),
            Tf::Known("http://127.0.0.1:1".to_string()),
        );
        let cfg = ProviderConfig {
            endpoints: Some(eps),
            ..Default::default()
        };
        let err = cfg.settings().unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].path.as_ref().unwrap().to_string(), "endpoints.rds");

        let ok = ProviderConfig {
            region: Tf::Known("eu-west-1".into()),
            ..Default::default()
        }
        .settings()
        .unwrap();
        assert_eq!(ok.region.as_deref(), Some("eu-west-1"));
        assert_eq!(ok.guard, ProductionGuard::default());

        let unknown = ProviderConfig {
            region: Tf::Unknown,
            ..Default::default()
        };
        let err = unknown.settings().unwrap_err();
        assert!(err.to_string().contains("not known yet"));
    }
}
