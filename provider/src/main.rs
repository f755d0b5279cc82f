//! `terraform-provider-staging`: started by Terraform/OpenTofu (go-plugin handshake), or by
//! hand with `--debug` to print a `TF_REATTACH_PROVIDERS` value.
use std::sync::Arc;

use clap::Parser;
use terraform_provider_staging::docs;
use terraform_provider_staging::provider::{StagingProvider, ADDRESS};
use terraform_provider_staging::reaper;
use terraform_provider_staging::tfplugin::server::{self, ServeConfig};

#[derive(Parser)]
#[command(version, about = "stagecraft provider for Terraform and OpenTofu")]
struct Cli {
    /// Serve in the foreground without Terraform starting it, and print TF_REATTACH_PROVIDERS.
    #[arg(long)]
    debug: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Write the registry-format docs generated from the schemas.
    Docs {
        /// Docs directory (default: ./docs).
        #[arg(default_value = "docs")]
        dir: std::path::PathBuf,
        /// Directory holding examples/ (for "Example Usage" sections).
        #[arg(long, default_value = ".")]
        root: std::path::PathBuf,
    },
    /// Put a sync backup back in place of the staging data (atomic swap). The target
    /// connection URL comes from $STAGECRAFT_TARGET_URL, never from the command line.
    RestoreBackup {
        /// The backup to restore: the `backup` attribute of staging_sanitized_db_sync.
        #[arg(long, required_unless_present = "list")]
        backup: Option<String>,
        /// List the backups on the target instead.
        #[arg(long)]
        list: bool,
        /// PostgreSQL schema the sync manages (default public).
        #[arg(long)]
        schema: Option<String>,
    },
    /// Evaluate every auto-destroy policy found by tag and warn, pause or destroy (JSON lines).
    Reaper {
        /// Print the same action plan without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Evaluate as of this RFC3339 time (default: now, or $STAGECRAFT_NOW).
        #[arg(long)]
        now: Option<String>,
    },
}

#[tokio::main]
async fn main() {
    // The same binary is the reaper's AWS Lambda custom runtime (`bootstrap`).
    if let Ok(api) = std::env::var(reaper::lambda::RUNTIME_API_ENV) {
        std::process::exit(reaper::lambda::serve(&api).await);
    }
    let cli = Cli::parse();
    if let Some(Cmd::Reaper { dry_run, now }) = cli.command {
        std::process::exit(reaper::cli(dry_run, now).await);
    }
    if let Some(Cmd::RestoreBackup {
        backup,
        list,
        schema,
    }) = cli.command
    {
        std::process::exit(restore_backup(backup, list, schema).await);
    }
    if let Some(Cmd::Docs { dir, root }) = cli.command {
        let pages = docs::pages(&StagingProvider, &|key| docs::example_for(&root, key));
        if let Err(e) = docs::write_all(&dir, &pages) {
            eprintln!("cannot write docs: {e}");
            std::process::exit(1);
        }
        println!("wrote {} pages to {}", pages.len(), dir.display());
        return;
    }
    server::init_logging();
    let cfg = ServeConfig {
        address: ADDRESS.into(),
    };
    let provider = Arc::new(StagingProvider);
    let result = if cli.debug {
        server::serve_debug(provider, cfg).await
    } else {
        server::serve(provider, cfg).await
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

/// `restore-backup`: the documented way back after a sync.
async fn restore_backup(backup: Option<String>, list: bool, schema: Option<String>) -> i32 {
    use terraform_provider_staging::sync;
    let Ok(url) = std::env::var("STAGECRAFT_TARGET_URL") else {
        eprintln!("set STAGECRAFT_TARGET_URL to the staging database's connection URL");
        return 2;
    };
    let options = sync::SyncOptions {
        schema,
        ..Default::default()
    };
    if list {
        return match sync::list_backups(&url, &options).await {
            Ok(names) => {
                names.iter().for_each(|n| println!("{n}"));
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
    }
    let backup = backup.unwrap_or_default();
    match sync::restore_backup(&url, &backup, &options).await {
        Ok(replaced) => {
            println!("restored {backup}; the data it replaced is kept as {replaced}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
