//! The reaper as an AWS Lambda custom runtime (`provided.al2023`): the same binary, named
//! `bootstrap` in the function's zip. When `AWS_LAMBDA_RUNTIME_API` is set, `main` calls
//! [`serve`], which loops: fetch the next invocation, run the reaper, post the result.
//!
//! The event may carry `{"dry_run": true}` and `{"now": "<RFC3339>"}`; anything else is ignored,
//! so the EventBridge Scheduler's default payload works. The response is the run's summary and
//! plan; every JSON line also goes to stdout, which Lambda sends to CloudWatch Logs.
//!
//! Runtime API (2018-06-01): `GET /runtime/invocation/next` (long poll; the request id in
//! `Lambda-Runtime-Aws-Request-Id`), `POST /runtime/invocation/{id}/response`,
//! `POST /runtime/invocation/{id}/error`, `POST /runtime/init/error`. Plain HTTP/1.1 on a
//! local address, so a small client over a TCP stream is all it takes.
use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::policy::parse_ts;
use super::targets::Clients;
use super::{run, Options};
use crate::tfplugin::Ctx;

pub const RUNTIME_API_ENV: &str = "AWS_LAMBDA_RUNTIME_API";

/// A response from the runtime API.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request with `Connection: close`; the body is read to the end of the stream.
pub async fn http(
    host: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(host).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stagecraft-reaper\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    s.flush().await?;
    let mut raw = vec![];
    s.read_to_end(&mut raw).await?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// What one invocation asks for.
pub fn options_from_event(event: &Json, base: &Options) -> Result<Options, String> {
    let mut o = base.clone();
    if let Some(d) = event.get("dry_run") {
        o.dry_run = d.as_bool().ok_or("dry_run must be true or false")?;
    }
    o.now = match event.get("now").and_then(Json::as_str) {
        Some(s) => parse_ts(s).ok_or_else(|| format!("now {s:?} is not RFC3339"))?,
        None => super::now(),
    };
    Ok(o)
}

/// Serves invocations until the runtime API goes away. Returns the process exit code.
pub async fn serve(api: &str) -> i32 {
    let aws = super::standalone_aws();
    let clients = Clients::new(&aws).await;
    let base = Options {
        dry_run: false,
        now: super::now(),
        guard: aws.settings.guard.clone(),
    };
    loop {
        let next = match http(api, "GET", "/2018-06-01/runtime/invocation/next", b"").await {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                eprintln!(
                    "runtime API answered {} to next invocation; exiting",
                    r.status
                );
                return 1;
            }
            Err(e) => {
                eprintln!("runtime API unreachable ({e}); exiting");
                return 1;
            }
        };
        let Some(id) = next.headers.get("lambda-runtime-aws-request-id").cloned() else {
            eprintln!("invocation without a request id; exiting");
            return 1;
        };
        let event: Json = serde_json::from_slice(&next.body).unwrap_or(Json::Null);
        let result = match options_from_event(&event, &base) {
            Err(e) => Err(("InvalidEvent", e)),
            Ok(opts) => {
                let mut print = |l: &Json| println!("{l}");
                match run(&Ctx::background(), &clients, &opts, &mut print).await {
                    Ok(r) => Ok(json!({
                        "dry_run": opts.dry_run,
                        "policies": r.policies,
                        "actions": r.planned,
                        "failed": r.failed,
                        "cloudwatch_calls": r.cloudwatch_calls,
                        "plan": r.plan,
                    })),
                    Err(d) => Err(("ReaperError", d.to_string())),
                }
            }
        };
        let (path, body) = match result {
            Ok(v) => (format!("/2018-06-01/runtime/invocation/{id}/response"), v),
            Err((kind, msg)) => (
                format!("/2018-06-01/runtime/invocation/{id}/error"),
                json!({"errorType": kind, "errorMessage": msg}),
            ),
        };
        let bytes = serde_json::to_vec(&body).expect("JSON serializes");
        if let Err(e) = http(api, "POST", &path, &bytes).await {
            eprintln!("could not post the result of {id}: {e}; exiting");
            return 1;
        }
    }
}
