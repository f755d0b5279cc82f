//! Runs the real `terraform` binary against a locally built provider, hermetically: each
//! workspace gets its own CLI configuration (dev_overrides for the provider under test and no
//! other installation source), data directory and plugin cache, so nothing from the machine's
//! or user's Terraform setup leaks in.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};

/// How Terraform finds the provider under test.
#[derive(Clone, Debug)]
pub enum ProviderSource {
    /// `dev_overrides`: Terraform starts the binary in this directory itself (handshake, mTLS).
    DevOverride { address: String, dir: PathBuf },
    /// `TF_REATTACH_PROVIDERS`: the provider already runs (in-process server).
    Reattach { json: String },
}

/// The output of one terraform command.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// Everything Terraform printed, for assertions on messages.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
    /// Fails with the whole output when the command failed.
    pub fn ok(self) -> Result<Self> {
        if !self.success() {
            bail!(
                "terraform {:?} failed ({:?}):\n{}",
                self.args,
                self.status,
                self.output()
            );
        }
        Ok(self)
    }
}

/// A temporary Terraform working directory with its own CLI configuration.
pub struct Workspace {
    dir: tempfile::TempDir,
    source: ProviderSource,
    env: BTreeMap<String, String>,
}

/// The terraform binary: `$TERRAFORM` or `terraform` on PATH.
pub fn terraform_binary() -> String {
    std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into())
}

impl Workspace {
    pub fn new(source: ProviderSource) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("tfws").tempdir()?;
        let cli_config = dir.path().join(".terraformrc");
        let overrides = match &source {
            ProviderSource::DevOverride { address, dir } => {
                format!("    {address:?} = {:?}\n", dir.display().to_string())
            }
            ProviderSource::Reattach { .. } => String::new(),
        };
        // No `direct {}` or mirror: any provider other than the one under test fails to
        // install instead of being fetched from somewhere.
        std::fs::write(
            &cli_config,
            format!("provider_installation {{\n  dev_overrides {{\n{overrides}  }}\n}}\ndisable_checkpoint = true\n"),
        )?;
        let mut env = BTreeMap::new();
        env.insert(
            "TF_CLI_CONFIG_FILE".into(),
            cli_config.display().to_string(),
        );
        env.insert(
            "TF_DATA_DIR".into(),
            dir.path().join(".terraform").display().to_string(),
        );
        env.insert("TF_IN_AUTOMATION".into(), "1".into());
        env.insert("CHECKPOINT_DISABLE".into(), "1".into());
        env.insert("TF_INPUT".into(), "0".into());
        if let ProviderSource::Reattach { json } = &source {
            env.insert("TF_REATTACH_PROVIDERS".into(), json.clone());
        }
        Ok(Workspace { dir, source, env })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn source(&self) -> &ProviderSource {
        &self.source
    }

    /// Sets an environment variable for every later command (e.g. `TF_LOG`, AWS settings).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.insert(key.into(), value.into());
    }

    pub fn remove_env(&mut self, key: &str) {
        self.env.remove(key);
    }

    /// Writes a file into the workspace (e.g. `main.tf`).
    pub fn write(&self, name: &str, contents: &str) -> Result<()> {
        std::fs::write(self.dir.path().join(name), contents)
            .with_context(|| format!("writing {name}"))
    }

    pub fn read(&self, name: &str) -> Result<String> {
        std::fs::read_to_string(self.dir.path().join(name))
            .with_context(|| format!("reading {name}"))
    }

    /// A command ready to run here, with the hermetic environment; for callers that need to
    /// control the process themselves (signals).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(terraform_binary());
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        // Inherited Terraform settings would make the run depend on the machine.
        for (k, _) in std::env::vars() {
            if k.starts_with("TF_") {
                cmd.env_remove(&k);
            }
        }
        cmd.envs(&self.env);
        cmd
    }

    /// Runs terraform with `args` and `-no-color`; returns its output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Result<Run> {
        let mut all: Vec<&str> = args.to_vec();
        if !all.contains(&"-no-color") && !matches!(all.first(), Some(&"fmt") | Some(&"version")) {
            all.push("-no-color");
        }
        let out = self.command(&all).output().with_context(|| {
            format!("starting {} (is Terraform installed?)", terraform_binary())
        })?;
        Ok(Run {
            args: all.iter().map(|s| s.to_string()).collect(),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    pub fn apply(&self) -> Result<Run> {
        self.run(&["apply", "-auto-approve", "-input=false"])
    }

    pub fn destroy(&self) -> Result<Run> {
        self.run(&["destroy", "-auto-approve", "-input=false"])
    }

    /// `plan -detailed-exitcode`: Ok(true) when changes are pending, Ok(false) when empty.
    pub fn plan_has_changes(&self) -> Result<(bool, Run)> {
        let run = self.run(&["plan", "-detailed-exitcode", "-input=false"])?;
        match run.code() {
            Some(0) => Ok((false, run)),
            Some(2) => Ok((true, run)),
            _ => bail!("plan failed:\n{}", run.output()),
        }
    }

    /// `terraform show -json` of the current state.
    pub fn show_json(&self) -> Result<serde_json::Value> {
        let run = self.run(&["show", "-json"])?.ok()?;
        serde_json::from_str(&run.stdout).context("show -json output is not JSON")
    }

    /// The raw state file (for checks on what is stored, e.g. no secrets).
    pub fn state_file(&self) -> Result<String> {
        self.read("terraform.tfstate")
    }

    /// Resources in the state, from `show -json`, by address.
    pub fn resources(&self) -> Result<BTreeMap<String, serde_json::Value>> {
        let show = self.show_json()?;
        let mut out = BTreeMap::new();
        if let Some(rs) = show
            .pointer("/values/root_module/resources")
            .and_then(|r| r.as_array())
        {
            for r in rs {
                if let Some(addr) = r.get("address").and_then(|a| a.as_str()) {
                    out.insert(addr.to_string(), r.clone());
                }
            }
        }
        Ok(out)
    }
}
