//! The offline demo (`make demo`) runs to the end and leaves no process or port behind.
use std::path::Path;
use std::process::Command;

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn alive(pid: u32) -> bool {
    // A zombie is gone for our purposes; anything else in /proc is still running.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn demo_finishes_and_cleans_up() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_terraform-provider-staging"))
        .parent()
        .unwrap();
    let out = Command::new(root.join("scripts/demo.sh"))
        .env("STAGECRAFT_PROVIDER_DIR", bin_dir)
        .output()
        .expect("run scripts/demo.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "demo failed:\n{text}");
    assert!(text.contains("account_id = \"123456789012\""), "{text}");
    assert!(text.contains("service_url = \"https://"), "{text}");
    assert!(text.contains("status = \"RUNNING\""), "{text}");
    // The auto-destroy policy, evaluated against CloudWatch (rpc-v2-cbor through the emulator).
    assert!(text.contains("auto_destroy_status = \"active\""), "{text}");
    assert!(text.contains("destroy_after = \""), "{text}");
    assert!(text.contains("no changes"), "{text}");
    assert!(text.contains("demo finished"), "{text}");

    // Ports from "localaws: started http://127.0.0.1:P (moto http://127.0.0.1:Q)".
    let started = text
        .lines()
        .find(|l| l.starts_with("localaws: started"))
        .expect("start line");
    let ports: Vec<u16> = started
        .split("127.0.0.1:")
        .skip(1)
        .map(|s| {
            s.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(ports.len(), 2, "{started}");
    for p in ports {
        assert!(!port_open(p), "port {p} still open after the demo");
    }
    let pids = text
        .lines()
        .find(|l| l.starts_with("localaws pids:"))
        .expect("pid line");
    for part in pids.split_whitespace().filter(|w| w.contains('=')) {
        let pid: u32 = part.split('=').nth(1).unwrap().parse().unwrap();
        assert!(!alive(pid), "{part} still running after the demo");
    }
}
