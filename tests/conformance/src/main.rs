//! The conformance provider binary, for protocol tests only (never shipped).
use std::sync::Arc;

use terraform_provider_staging::tfplugin::server::{self, ServeConfig};

#[tokio::main]
async fn main() {
    server::init_logging();
    let cfg = ServeConfig {
        address: stagecraft_conformance::ADDRESS.into(),
    };
    let provider = Arc::new(stagecraft_conformance::ConformanceProvider);
    let result = if std::env::args().any(|a| a == "--debug") {
        server::serve_debug(provider, cfg).await
    } else {
        server::serve(provider, cfg).await
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
