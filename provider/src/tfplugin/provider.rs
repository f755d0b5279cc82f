//! The provider: its configuration schema, its resources and data sources, and Configure.
use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;

use super::context::Ctx;
use super::diagnostics::Diagnostics;
use super::resource::{DynDataSource, DynResource};
use super::schema::Schema;
use super::value::Value;

/// Whatever `configure` produces (API clients, settings); resources get it back through
/// [`Ctx::data`].
pub type ProviderData = Arc<dyn Any + Send + Sync>;

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    fn resources(&self) -> Vec<Box<dyn DynResource>>;
    fn data_sources(&self) -> Vec<Box<dyn DynDataSource>> {
        vec![]
    }
    /// Checks provider configuration that may still hold unknowns.
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    /// Builds the provider's data from its configuration. Must not do network I/O that can
    /// be deferred: Terraform starts providers several times per command.
    async fn configure(
        &self,
        ctx: &Ctx,
        terraform_version: &str,
        config: &Value,
    ) -> Result<ProviderData, Diagnostics>;
}
