//! The plugin-protocol layer: knows Terraform, knows nothing of AWS.
//!
//! - [`value`], [`types`], [`msgpack`], [`json`]: cty values and their wire encodings
//! - [`schema`], [`shape`]: schemas, their validity rules, and schema-driven value shaping
//! - [`typed`]: serde structs over values (`Tf<T>`: known / null / unknown)
//! - [`resource`], [`provider`]: the traits a provider implements
//! - [`context`], [`timeouts`]: cancellation (Stop) and deadlines
//! - [`server`]: handshake, AutoMTLS, reattach mode, the gRPC services
pub mod context;
pub mod diagnostics;
pub mod json;
pub mod msgpack;
pub mod number;
pub mod path;
pub mod proto;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;
pub mod shape;
pub mod timeouts;
pub mod typed;
pub mod types;
pub mod value;

pub use context::{Ctx, Interrupt};
pub use diagnostics::{Diagnostic, Diagnostics};
pub use path::AttributePath;
pub use provider::{Provider, ProviderData};
pub use resource::{ApplyError, DataSource, Plan, Resource, Typed, TypedData};
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use typed::Tf;
pub use types::Type;
pub use value::Value;
