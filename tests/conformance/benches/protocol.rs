//! Protocol-layer benchmark (not a timed test): prints medians and ratios against baselines
//! measured in the same run.
//!
//! - start-to-handshake: launching the provider until its handshake line, plaintext and with
//!   AutoMTLS, against launching a trivial process that prints one line;
//! - GetSchema latency over the real socket, against an empty RPC (GetFunctions) on the same
//!   connection;
//! - `terraform plan` of 100 conformance resources, against a plan of 1.
//!
//! Run: `make bench` (or `cargo bench -p stagecraft-conformance --bench protocol`).
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagecraft_testkit::terraform::{ProviderSource, Workspace};
use terraform_provider_staging::tfplugin::proto::tfplugin5 as pb;

const COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn binary() -> PathBuf {
    // Benches run from the package directory; the binary sits in the same profile directory
    // as the bench executable's parent.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("terraform-provider-conformance");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "stagecraft-conformance",
                "--bin",
                "terraform-provider-conformance",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

/// Starts `cmd`, returns the time until its first stdout line and the child.
fn time_first_line(mut cmd: Command) -> (Duration, std::process::Child, String) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (started.elapsed(), child, line)
}

fn provider_cmd(bin: &Path, client_cert: Option<&str>) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6,5");
    match client_cert {
        Some(pem) => cmd.env("PLUGIN_CLIENT_CERT", pem),
        None => cmd.env_remove("PLUGIN_CLIENT_CERT"),
    };
    cmd
}

fn client_cert_pem() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.self_signed(&key).unwrap().pem()
}

fn bench_handshake(bin: &Path, runs: usize) {
    let pem = client_cert_pem();
    let mut baseline = vec![];
    let mut plain = vec![];
    let mut mtls = vec![];
    for _ in 0..runs {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo 1"]);
        let (t, mut c, _) = time_first_line(sh);
        baseline.push(t);
        let _ = c.wait();

        for (cert, out) in [(None, &mut plain), (Some(pem.as_str()), &mut mtls)] {
            let (t, mut c, line) = time_first_line(provider_cmd(bin, cert));
            assert!(
                line.starts_with("1|5|unix|"),
                "unexpected handshake: {line}"
            );
            out.push(t);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    let (b, p, m) = (median(baseline), median(plain), median(mtls));
    println!("start-to-handshake (median of {runs}):");
    println!("  baseline `sh -c 'echo 1'`   {:>9.2?}", b);
    println!(
        "  provider, plaintext         {:>9.2?}   ratio {:.1}x baseline",
        p,
        p.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "  provider, AutoMTLS          {:>9.2?}   ratio {:.1}x baseline",
        m,
        m.as_secs_f64() / b.as_secs_f64()
    );
}

fn bench_get_schema(bin: &Path, calls: usize) {
    let (_, mut child, line) = time_first_line(provider_cmd(bin, None));
    let socket = line.split('|').nth(3).unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::try_from("http://[::]:50051")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }))
            .await
            .unwrap();
        let mut client =
            pb::provider_client::ProviderClient::new(channel).max_decoding_message_size(256 << 20);
        let mut schema = vec![];
        let mut empty = vec![];
        for _ in 0..calls {
            let t = Instant::now();
            let r = client
                .get_schema(pb::get_provider_schema::Request {})
                .await
                .unwrap();
            schema.push(t.elapsed());
            assert!(r
                .into_inner()
                .resource_schemas
                .contains_key("conformance_thing"));
            let t = Instant::now();
            client
                .get_functions(pb::get_functions::Request {})
                .await
                .unwrap();
            empty.push(t.elapsed());
        }
        let (s, e) = (median(schema), median(empty));
        println!("GetSchema latency (median of {calls}):");
        println!("  baseline empty RPC          {:>9.2?}", e);
        println!(
            "  GetSchema                   {:>9.2?}   ratio {:.2}x baseline",
            s,
            s.as_secs_f64() / e.as_secs_f64()
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}

fn plan_config(store: &Path, count: usize) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    conformance = {{ source = "stagecraft/conformance" }}
  }}
}}
provider "conformance" {{
  store_dir = "{}"
}}
resource "conformance_thing" "many" {{
  count = {count}
  name  = "thing-${{count.index}}"
  s     = "value"
  l     = ["a", "b"]
  m     = {{ k = "v" }}
  items {{
    k = "x"
  }}
}}
"#,
        store.display()
    )
}

fn bench_plan(bin: &Path, runs: usize) {
    let store = tempfile::tempdir().unwrap();
    let mut medians = vec![];
    for count in [1usize, 100] {
        let ws = Workspace::new(ProviderSource::DevOverride {
            address: "stagecraft/conformance".into(),
            dir: bin.parent().unwrap().to_path_buf(),
        })
        .unwrap();
        ws.write("main.tf", &plan_config(store.path(), count))
            .unwrap();
        let mut times = vec![];
        for _ in 0..runs {
            let t = Instant::now();
            let run = ws.run(&["plan", "-input=false"]).unwrap();
            assert!(run.success(), "{}", run.output());
            assert!(
                run.stdout.contains(&format!("{count} to add")),
                "{}",
                run.stdout
            );
            times.push(t.elapsed());
        }
        medians.push((count, median(times)));
    }
    println!("terraform plan (median of {runs}):");
    let base = medians[0].1;
    for (count, m) in &medians {
        println!(
            "  {count:>3} conformance resources    {:>9.2?}   ratio {:.2}x the 1-resource plan",
            m,
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let bin = binary();
    println!("provider binary: {}", bin.display());
    bench_handshake(&bin, if quick { 5 } else { 21 });
    bench_get_schema(&bin, if quick { 20 } else { 201 });
    bench_plan(&bin, if quick { 1 } else { 5 });
}
