//! The `staging` provider: configuration, resources, data sources.
use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::Aws;
use crate::config::{self, ProviderConfig};
use crate::resources::auto_destroy::AutoDestroyPolicyResource;
use crate::resources::caller_identity::CallerIdentity;
use crate::resources::db_sync::DbSyncResource;
use crate::resources::environment::EnvironmentResource;
use crate::tfplugin::resource::{DynDataSource, DynResource};
use crate::tfplugin::Typed;
use crate::tfplugin::{
    typed, Ctx, Diagnostic, Diagnostics, Provider, ProviderData, Schema, TypedData, Value,
};

/// `NAMESPACE/TYPE` as users write it in `required_providers`.
pub const ADDRESS: &str = "stagecraft/staging";

pub struct StagingProvider;

fn parse(config: &Value) -> Result<ProviderConfig, Diagnostics> {
    typed::from_value(config).map_err(|e| {
        Diagnostic::error("Invalid provider configuration", e.message)
            .at(e.path)
            .into()
    })
}

#[async_trait]
impl Provider for StagingProvider {
    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Box<dyn DynResource>> {
        vec![
            Box::new(Typed::new(EnvironmentResource)),
            Box::new(Typed::new(DbSyncResource)),
            Box::new(Typed::new(AutoDestroyPolicyResource)),
        ]
    }

    fn data_sources(&self) -> Vec<Box<dyn DynDataSource>> {
        vec![Box::new(TypedData::new(CallerIdentity))]
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        match parse(config) {
            Ok(c) => c.validate(),
            Err(d) => d,
        }
    }

    async fn configure(
        &self,
        _ctx: &Ctx,
        _tf_version: &str,
        config: &Value,
    ) -> Result<ProviderData, Diagnostics> {
        let settings = parse(config)?.settings()?;
        Ok(Aws::new(settings) as Arc<_>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terraform refuses to load a provider with an invalid schema: check every one.
    #[test]
    fn every_schema_passes_terraforms_rules() {
        let p = StagingProvider;
        let mut all = vec![("provider".to_string(), p.schema())];
        all.extend(
            p.resources()
                .iter()
                .map(|r| (r.type_name().to_string(), r.schema().clone())),
        );
        all.extend(
            p.data_sources()
                .iter()
                .map(|d| (d.type_name().to_string(), d.schema().clone())),
        );
        for (name, schema) in all {
            let errors = schema.validate();
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }

    #[test]
    fn names_carry_the_provider_prefix() {
        let p = StagingProvider;
        for r in p.resources() {
            assert!(r.type_name().starts_with("staging_"));
        }
        for d in p.data_sources() {
            assert!(d.type_name().starts_with("staging_"));
        }
    }
}
