//! The protocol layer driven by the real `terraform` binary through the conformance provider:
//! handshake and AutoMTLS (dev_overrides), every value kind, the whole lifecycle, interrupts,
//! timeouts, partial failure, state upgrades, drift, and reattach mode.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value as Json;
use stagecraft_testkit::terraform::{ProviderSource, Workspace};

const ADDR: &str = "registry.terraform.io/stagecraft/conformance";

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_terraform-provider-conformance"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A workspace whose provider Terraform starts itself, and the store directory it uses.
fn managed() -> Result<(Workspace, tempfile::TempDir)> {
    let ws = Workspace::new(ProviderSource::DevOverride {
        address: "stagecraft/conformance".into(),
        dir: provider_dir(),
    })?;
    Ok((ws, tempfile::tempdir()?))
}

fn config(store: &Path, body: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    conformance = {{ source = "stagecraft/conformance" }}
  }}
}}

provider "conformance" {{
  store_dir = "{}"
}}

{body}
"#,
        store.display()
    )
}

const EVERY_KIND: &str = r#"
resource "conformance_thing" "a" {
  name      = "alpha"
  s         = "héllo wörld ✓"
  n         = 123456789012345678901234567890.125
  b         = true
  l         = ["x", "y", "x"]
  st        = [3, 1.5, 2]
  m         = { one = "1", two = "2" }
  obj       = { a = "nested", b = [1, 2.5, -3] }
  tup       = ["t", 42, false]
  dyn_value = { kind = "object", list = [1, 2], flag = true }
  secret    = "sensitive-value"
  password_wo = "write-only-value"

  single {
    x = "single"
    y = 0.1
  }
  group {
    g = "grouped"
  }
  items {
    k = "first"
  }
  items {
    k = "second"
    v = "explicit"
  }
  tags_set {
    key   = "Team"
    value = "core"
  }
  named "http" {
    port = 80
  }
  named "https" {
    port = 443
  }
}

output "id" {
  value = conformance_thing.a.id
}
"#;

fn store_files(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn resource_values(ws: &Workspace, addr: &str) -> Result<Json> {
    let rs = ws.resources()?;
    Ok(rs
        .get(addr)
        .unwrap_or_else(|| panic!("{addr} not in state: {rs:?}"))["values"]
        .clone())
}

#[test]
fn lifecycle_with_mtls_keeps_every_value_kind() -> Result<()> {
    let (mut ws, store) = managed()?;
    ws.write("main.tf", &config(store.path(), EVERY_KIND))?;

    ws.set_env("TF_LOG", "debug");
    let apply = ws.apply()?.ok()?;
    ws.remove_env("TF_LOG");
    let log = apply.output();
    assert!(
        log.contains("serving with AutoMTLS"),
        "provider did not report mTLS"
    );
    assert!(
        !log.contains("serving plaintext"),
        "provider fell back to plaintext"
    );
    assert!(
        !log.contains("plugin failed to exit gracefully"),
        "Shutdown was not honoured"
    );
    assert!(
        !log.contains("write-only-value"),
        "write-only value leaked into logs"
    );

    let v = resource_values(&ws, "conformance_thing.a")?;
    assert_eq!(v["id"], "thing-0001");
    assert_eq!(v["s"], "héllo wörld ✓");
    assert_eq!(
        v["n"].to_string(),
        "123456789012345678901234567890.125",
        "big numbers stay exact"
    );
    assert_eq!(v["b"], true);
    assert_eq!(v["l"], serde_json::json!(["x", "y", "x"]));
    let mut st: Vec<f64> = v["st"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    st.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(st, vec![1.5, 2.0, 3.0]);
    assert_eq!(v["m"], serde_json::json!({"one": "1", "two": "2"}));
    assert_eq!(
        v["obj"],
        serde_json::json!({"a": "nested", "b": [1, 2.5, -3]})
    );
    assert_eq!(v["tup"], serde_json::json!(["t", 42, false]));
    assert_eq!(
        v["dyn_value"],
        serde_json::json!({"kind": "object", "list": [1, 2], "flag": true})
    );
    assert_eq!(v["secret"], "sensitive-value");
    assert!(
        v["password_wo"].is_null(),
        "write-only attributes are never stored"
    );
    assert_eq!(v["password_hash"].as_str().unwrap().len(), 64);
    assert_eq!(v["oc"], "default-oc");
    assert_eq!(v["revision"], 1);
    assert_eq!(v["single"]["y"].to_string(), "0.1");
    assert_eq!(v["group"]["g"], "grouped");
    assert_eq!(v["items"][0]["v"], "first-default");
    assert_eq!(v["items"][1]["v"], "explicit");
    assert_eq!(v["named"]["https"]["port"], 443);
    assert!(!ws.state_file()?.contains("write-only-value"));
    assert_eq!(store_files(store.path()), vec!["thing-0001.json"]);

    let (changes, plan) = ws.plan_has_changes()?;
    assert!(!changes, "second plan must be empty:\n{}", plan.output());

    // In-place update: revision is recomputed, id stays.
    ws.write(
        "main.tf",
        &config(
            store.path(),
            &EVERY_KIND.replace("héllo wörld ✓", "changed"),
        ),
    )?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(changes);
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("0 to add, 1 to change, 0 to destroy"),
        "{}",
        plan.stdout
    );
    ws.apply()?.ok()?;
    let v = resource_values(&ws, "conformance_thing.a")?;
    assert_eq!(
        (v["id"].as_str(), v["revision"].as_i64(), v["s"].as_str()),
        (Some("thing-0001"), Some(2), Some("changed"))
    );
    assert!(!ws.plan_has_changes()?.0);

    // A new write-only value is noticed through its hash.
    ws.write(
        "main.tf",
        &config(
            store.path(),
            &EVERY_KIND
                .replace("héllo wörld ✓", "changed")
                .replace("write-only-value", "rotated"),
        ),
    )?;
    assert!(ws.plan_has_changes()?.0);
    ws.apply()?.ok()?;
    assert_eq!(resource_values(&ws, "conformance_thing.a")?["revision"], 3);

    // Replace: name forces a new object.
    let renamed = EVERY_KIND
        .replace("héllo wörld ✓", "changed")
        .replace("write-only-value", "rotated")
        .replace("\"alpha\"", "\"beta\"");
    ws.write("main.tf", &config(store.path(), &renamed))?;
    let (_, plan) = ws.plan_has_changes()?;
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("1 to add, 0 to change, 1 to destroy"),
        "{}",
        plan.stdout
    );
    ws.apply()?.ok()?;
    let v = resource_values(&ws, "conformance_thing.a")?;
    // A new object (revision starts again); ids are reused once freed.
    assert_eq!(
        (v["name"].as_str(), v["revision"].as_i64()),
        (Some("beta"), Some(1))
    );
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(store_files(store.path()), vec![format!("{id}.json")]);

    // Import: forget, import by id, plan is empty.
    ws.run(&["state", "rm", "conformance_thing.a"])?.ok()?;
    ws.run(&["import", "conformance_thing.a", &id])?.ok()?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(
        !changes,
        "plan after import must be empty:\n{}",
        plan.output()
    );

    // Importing something that does not exist is a clear error.
    ws.run(&["state", "rm", "conformance_thing.a"])?.ok()?;
    let bad = ws.run(&["import", "conformance_thing.a", "thing-9999"])?;
    assert!(!bad.success());
    assert!(
        bad.output().contains("No thing with id"),
        "{}",
        bad.output()
    );
    ws.run(&["import", "conformance_thing.a", &id])?.ok()?;

    ws.destroy()?.ok()?;
    assert!(
        store_files(store.path()).is_empty(),
        "destroy leaves nothing behind"
    );
    assert!(ws.resources()?.is_empty());
    Ok(())
}

#[test]
fn drift_shows_as_a_normal_diff() -> Result<()> {
    let (ws, store) = managed()?;
    ws.write(
        "main.tf",
        &config(
            store.path(),
            "resource \"conformance_thing\" \"d\" {\n  name = \"d\"\n  s = \"original\"\n}\n",
        ),
    )?;
    ws.apply()?.ok()?;
    let file = store.path().join("thing-0001.json");
    let text = std::fs::read_to_string(&file)?;
    std::fs::write(&file, text.replace("\"original\"", "\"edited outside\""))?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(changes);
    assert!(
        plan.stdout.contains("\"edited outside\" -> \"original\""),
        "{}",
        plan.stdout
    );

    std::fs::remove_file(&file)?;
    let (changes, plan) = ws.plan_has_changes()?;
    assert!(changes);
    assert!(plan.stdout.contains("will be created"), "{}", plan.stdout);
    ws.apply()?.ok()?;
    assert_eq!(store_files(store.path()).len(), 1);
    ws.destroy()?.ok()?;
    Ok(())
}

#[test]
fn error_after_create_leaves_object_tainted_not_leaked() -> Result<()> {
    let (ws, store) = managed()?;
    let body = |fail: bool| {
        format!("resource \"conformance_thing\" \"f\" {{\n  name = \"f\"\n  fail_after_create = {fail}\n}}\n")
    };
    ws.write("main.tf", &config(store.path(), &body(true)))?;
    let run = ws.apply()?;
    assert!(!run.success());
    assert!(
        run.output().contains("Injected failure"),
        "{}",
        run.output()
    );
    let state: Json = serde_json::from_str(&ws.state_file()?)?;
    let inst = &state["resources"][0]["instances"][0];
    assert_eq!(inst["status"], "tainted", "{state}");
    assert_eq!(inst["attributes"]["id"], "thing-0001");
    assert_eq!(
        store_files(store.path()),
        vec!["thing-0001.json"],
        "state and remote agree"
    );

    // The next apply replaces the tainted object and removes the old one.
    ws.write("main.tf", &config(store.path(), &body(false)))?;
    let run = ws.apply()?.ok()?;
    assert!(
        run.stdout.contains("1 added, 0 changed, 1 destroyed"),
        "{}",
        run.stdout
    );
    let state: Json = serde_json::from_str(&ws.state_file()?)?;
    let inst = &state["resources"][0]["instances"][0];
    assert!(inst.get("status").is_none_or(|s| s.is_null()), "{state}");
    let id = inst["attributes"]["id"].as_str().unwrap();
    assert_eq!(
        store_files(store.path()),
        vec![format!("{id}.json")],
        "exactly one object, the recorded one"
    );
    ws.destroy()?.ok()?;
    assert!(store_files(store.path()).is_empty());
    Ok(())
}

#[test]
fn create_timeout_fails_cleanly_with_partial_state() -> Result<()> {
    let (ws, store) = managed()?;
    ws.write(
        "main.tf",
        &config(
            store.path(),
            "resource \"conformance_thing\" \"t\" {\n  name = \"t\"\n  create_delay = \"5m\"\n  timeouts {\n    create = \"2s\"\n  }\n}\n",
        ),
    )?;
    let started = Instant::now();
    let run = ws.apply()?;
    assert!(!run.success());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the timeout was not enforced"
    );
    assert!(
        run.output().contains("Timed out after 2s"),
        "{}",
        run.output()
    );
    let state: Json = serde_json::from_str(&ws.state_file()?)?;
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["id"],
        "thing-0001"
    );
    ws.destroy()?.ok()?;
    assert!(store_files(store.path()).is_empty());
    Ok(())
}

#[test]
fn bad_input_gets_a_diagnostic_with_its_attribute() -> Result<()> {
    let (ws, store) = managed()?;
    ws.write(
        "main.tf",
        &config(
            store.path(),
            "resource \"conformance_thing\" \"v\" {\n  name = \"\"\n  create_delay = \"soon\"\n}\n",
        ),
    )?;
    let run = ws.run(&["plan"])?;
    assert!(!run.success());
    let out = run.output();
    assert!(out.contains("Empty name"), "{out}");
    assert!(out.contains("Invalid duration"), "{out}");
    // Terraform quotes the offending line when the diagnostic carries a path.
    assert!(out.contains("create_delay = \"soon\""), "{out}");
    assert!(store_files(store.path()).is_empty());
    Ok(())
}

#[test]
fn state_from_schema_version_0_is_upgraded() -> Result<()> {
    let (ws, store) = managed()?;
    // An object that exists remotely, recorded by an older provider version: `s` was called
    // `title`, and `obsolete` no longer exists.
    ws.write(
        "main.tf",
        &config(
            store.path(),
            "resource \"conformance_thing\" \"u\" {\n  name = \"u\"\n  s = \"kept\"\n}\n",
        ),
    )?;
    ws.apply()?.ok()?;
    let mut state: Json = serde_json::from_str(&ws.state_file()?)?;
    let inst = &mut state["resources"][0]["instances"][0];
    inst["schema_version"] = 0.into();
    let attrs = inst["attributes"].as_object_mut().unwrap();
    let s = attrs.remove("s").unwrap();
    attrs.insert("title".into(), s);
    attrs.insert("obsolete".into(), "gone".into());
    ws.write("terraform.tfstate", &state.to_string())?;

    let (changes, plan) = ws.plan_has_changes()?;
    assert!(
        !changes,
        "upgraded state must match the configuration:\n{}",
        plan.output()
    );
    ws.run(&["apply", "-refresh-only", "-auto-approve"])?.ok()?;
    let state: Json = serde_json::from_str(&ws.state_file()?)?;
    let inst = &state["resources"][0]["instances"][0];
    assert_eq!(inst["schema_version"], 1);
    assert_eq!(inst["attributes"]["s"], "kept");
    assert!(inst["attributes"].get("obsolete").is_none());
    assert!(inst["attributes"].get("title").is_none());
    ws.destroy()?.ok()?;
    Ok(())
}

#[test]
fn sigint_during_slow_apply_records_the_object() -> Result<()> {
    use std::os::unix::process::CommandExt;
    let (ws, store) = managed()?;
    ws.write(
        "main.tf",
        &config(
            store.path(),
            "resource \"conformance_thing\" \"s\" {\n  name = \"s\"\n  create_delay = \"5m\"\n}\n",
        ),
    )?;
    let mut cmd = ws.command(&["apply", "-auto-approve", "-no-color"]);
    // Its own process group, like a terminal's foreground job: Ctrl-C reaches terraform and
    // the provider alike.
    cmd.process_group(0);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn()?;
    let pgid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(60);
    while store_files(store.path()).is_empty() {
        assert!(Instant::now() < deadline, "object never created");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    unsafe {
        libc::kill(-pgid, libc::SIGINT);
    }
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(text.contains("Interrupt received"), "{text}");
    assert!(text.contains("Operation interrupted"), "{text}");
    assert!(
        !text.contains("Plugin did not respond"),
        "provider died: {text}"
    );
    let state: Json = serde_json::from_str(&ws.state_file()?)?;
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["id"], "thing-0001",
        "{state}"
    );
    ws.destroy()?.ok()?;
    assert!(store_files(store.path()).is_empty());
    Ok(())
}

#[test]
fn reattach_mode_runs_the_scenario_in_process() -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(
        terraform_provider_staging::tfplugin::server::start_in_process(
            Arc::new(stagecraft_conformance::ConformanceProvider),
            terraform_provider_staging::tfplugin::server::ServeConfig {
                address: "stagecraft/conformance".into(),
            },
        ),
    )?;
    let ws = Workspace::new(ProviderSource::Reattach {
        json: server.reattach_providers().to_string(),
    })?;
    assert!(server.reattach_providers().contains(ADDR));
    let store = tempfile::tempdir()?;
    ws.write("main.tf", &config(store.path(), EVERY_KIND))?;
    ws.apply()?.ok()?;
    assert_eq!(
        resource_values(&ws, "conformance_thing.a")?["tup"],
        serde_json::json!(["t", 42, false])
    );
    assert!(!ws.plan_has_changes()?.0);
    ws.destroy()?.ok()?;
    assert!(store_files(store.path()).is_empty());
    rt.block_on(server.shutdown());
    Ok(())
}

/// A nested-block list that is unknown while planning (a `dynamic` block over a value known
/// only after apply) validates, plans and applies; so does `terraform validate` of a dynamic
/// block over a variable (all variables are unknown there).
#[test]
fn unknown_nested_block_lists_validate_plan_and_apply() -> Result<()> {
    let (ws, store) = managed()?;
    ws.write(
        "main.tf",
        &config(
            store.path(),
            r#"
variable "keys" {
  type    = list(string)
  default = ["one", "two"]
}

resource "conformance_thing" "first" {
  name = "first"
}

resource "conformance_thing" "second" {
  name = "second"
  dynamic "items" {
    for_each = conformance_thing.first.id == "" ? [] : var.keys
    content {
      k = items.value
    }
  }
}
"#,
        ),
    )?;
    let validate = ws.run(&["validate"])?;
    assert!(validate.success(), "{}", validate.output());
    let plan = ws.run(&["plan"])?.ok()?;
    assert!(plan.stdout.contains("2 to add"), "{}", plan.stdout);
    ws.apply()?.ok()?;
    let v = resource_values(&ws, "conformance_thing.second")?;
    assert_eq!(v["items"][1]["k"], "two");
    assert_eq!(
        v["items"][1]["v"], "two-default",
        "the resource's own plan ran once the list was known"
    );
    assert!(!ws.plan_has_changes()?.0);
    ws.destroy()?.ok()?;
    Ok(())
}
