//! stagecraft's resources and data sources: schema plus lifecycle each; no gRPC here.
pub mod auto_destroy;
pub mod caller_identity;
pub mod db_sync;
pub mod environment;
