//! Every runnable example validates against the provider's real schema (terraform validate
//! with the locally built provider).
use std::path::Path;

use stagecraft_testkit::terraform::{ProviderSource, Workspace};

fn validate(example: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/staging".into(),
        dir: Path::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
            .parent()
            .unwrap()
            .to_path_buf(),
    })
    .unwrap();
    let dir = root.join("examples").join(example);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            ws.write(&name, &std::fs::read_to_string(&path).unwrap())
                .unwrap();
        }
    }
    let run = ws.run(&["validate"]).unwrap();
    assert!(
        run.success(),
        "examples/{example} does not validate:\n{}",
        run.output()
    );
    assert!(
        run.stdout.contains("The configuration is valid"),
        "{}",
        run.stdout
    );
}

#[test]
fn local_demo_validates() {
    validate("local");
}

#[test]
fn app_runner_staging_validates() {
    validate("app-runner-staging");
}

/// A broken copy fails with Terraform's own message at the right attribute.
#[test]
fn a_misspelled_argument_is_caught() {
    let ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/staging".into(),
        dir: Path::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
            .parent()
            .unwrap()
            .to_path_buf(),
    })
    .unwrap();
    ws.write(
        "main.tf",
        "terraform {\n  required_providers {\n    staging = { source = \"stagecraft/staging\" }\n  }\n}\nresource \"staging_environment\" \"x\" {\n  name = \"x\"\n  app_runer {}\n}\n",
    )
    .unwrap();
    let run = ws.run(&["validate"]).unwrap();
    assert!(!run.success());
    assert!(
        run.output()
            .contains("Blocks of type \"app_runer\" are not expected here"),
        "{}",
        run.output()
    );
}
