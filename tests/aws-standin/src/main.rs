//! `terraform-provider-aws` (stand-in): started by Terraform from a filesystem mirror in the
//! module tests; serves the hashicorp/aws schema subset and nothing else.
use std::sync::Arc;

use stagecraft_aws_standin::StandinProvider;
use terraform_provider_staging::tfplugin::server::{self, ServeConfig};

#[tokio::main]
async fn main() {
    let provider = match StandinProvider::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("aws stand-in: {e}");
            std::process::exit(1);
        }
    };
    let cfg = ServeConfig {
        address: "hashicorp/aws".into(),
    };
    let debug = std::env::args().any(|a| a == "--debug");
    let result = if debug {
        server::serve_debug(Arc::new(provider), cfg).await
    } else {
        server::serve(Arc::new(provider), cfg).await
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
