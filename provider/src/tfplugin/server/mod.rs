//! Serving the protocol: the go-plugin handshake, AutoMTLS, reattach mode, and the gRPC
//! services.
mod handshake;
mod logging;
mod service;
mod tls;

pub use handshake::{
    serve, serve_debug, start_in_process, HandshakeError, InProcessServer, ServeConfig,
};
pub use logging::init_logging;
pub use service::ProviderService;
