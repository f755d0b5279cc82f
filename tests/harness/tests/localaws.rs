//! LocalAws end to end: start, health, faults, call log, and nothing left behind after drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use stagecraft_testkit::localaws::{port_is_open, LocalAws};

/// A minimal AWS JSON 1.0 call (App Runner needs no signature for the emulator).
fn apprunner(aws: &LocalAws, operation: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", aws.emulator_port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Amz-Target: AppRunner.{operation}\r\n\
         Content-Type: application/x-amz-json-1.0\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/apprunner/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}",
        port = aws.emulator_port(),
        len = body.len(),
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn local_aws_serves_injects_faults_logs_calls_and_cleans_up() {
    let aws = LocalAws::start().expect("start local AWS");
    let (emulator_port, moto_port) = (aws.emulator_port(), aws.moto_port());
    assert_eq!(
        aws.endpoint_url(),
        format!("http://127.0.0.1:{emulator_port}")
    );
    assert_eq!(aws.moto_url(), format!("http://127.0.0.1:{moto_port}"));

    let health = aws.health().unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["moto"], "up");

    let env = aws.env();
    let get = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("AWS_ENDPOINT_URL"), Some(aws.endpoint_url()));
    assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("testing"));
    assert_eq!(get("AWS_SECRET_ACCESS_KEY"), Some("testing"));
    assert_eq!(get("AWS_REGION"), Some("us-east-1"));
    assert_eq!(get("STAGECRAFT_MOTO_URL"), Some(aws.moto_url()));

    // Routing: our handler answers.
    let (status, body) = apprunner(&aws, "ListServices", "{}");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"ServiceSummaryList": []}"#)
    );

    // A fault applies `count` times, then the call goes through again.
    let fault = aws
        .inject_fault(&json!({
            "service": "apprunner", "operation": "ListServices", "action": "error",
            "code": "InternalServiceErrorException", "message": "boom", "status": 500, "count": 1
        }))
        .unwrap();
    assert!(fault["id"].as_u64().is_some(), "{fault}");
    assert_eq!(aws.faults().unwrap().len(), 1);
    let (status, body) = apprunner(&aws, "ListServices", "{}");
    assert_eq!(status, 500);
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["__type"], "InternalServiceErrorException");
    assert_eq!(err["message"], "boom");
    assert!(aws.faults().unwrap().is_empty());
    assert_eq!(apprunner(&aws, "ListServices", "{}").0, 200);

    // Bad fault specs are refused.
    assert!(aws.inject_fault(&json!({"action": "explode"})).is_err());

    // clear_faults drops forever-faults.
    aws.inject_fault(&json!({"service": "*", "action": "error", "code": "Nope", "status": 400}))
        .unwrap();
    assert_eq!(apprunner(&aws, "ListServices", "{}").0, 400);
    aws.clear_faults().unwrap();
    assert_eq!(apprunner(&aws, "ListServices", "{}").0, 200);

    // Errors of our services: unknown operation, malformed JSON.
    let (status, body) = apprunner(&aws, "ListConnections", "{}");
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
    let (status, body) = apprunner(&aws, "CreateService", "{}");
    assert_eq!(status, 400);
    assert!(body.contains("InvalidRequestException"), "{body}");
    let (status, body) = apprunner(&aws, "ListServices", "{oops");
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"), "{body}");

    // Call log.
    let calls = aws.calls().unwrap();
    type Row<'a> = (&'a str, Option<&'a str>, Option<u16>, Option<&'a str>);
    let summary: Vec<Row> = calls
        .iter()
        .map(|c| {
            (
                c.service.as_str(),
                c.operation.as_deref(),
                c.status,
                c.fault.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("apprunner", Some("ListServices"), Some(200), None),
            ("apprunner", Some("ListServices"), Some(500), Some("error")),
            ("apprunner", Some("ListServices"), Some(200), None),
            ("apprunner", Some("ListServices"), Some(400), Some("error")),
            ("apprunner", Some("ListServices"), Some(200), None),
            ("apprunner", Some("ListConnections"), Some(400), None),
            ("apprunner", Some("CreateService"), Some(400), None),
            ("apprunner", Some("ListServices"), Some(400), None),
        ]
    );
    assert!(calls.iter().all(|c| c.local));
    aws.clear_calls().unwrap();
    assert!(aws.calls().unwrap().is_empty());

    // Forwarded calls reach moto and are logged too: an STS query-protocol call, with a fake
    // SigV4 header whose credential scope names the service (moto does not check signatures).
    let mut stream = TcpStream::connect(("127.0.0.1", emulator_port)).unwrap();
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("<Account>123456789012</Account>"),
        "{response}"
    );
    let calls = aws.calls().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].service, "sts");
    assert_eq!(calls[0].operation.as_deref(), Some("GetCallerIdentity"));
    assert_eq!(calls[0].status, Some(200));
    assert!(!calls[0].local);

    aws.reset().unwrap();
    assert!(aws.calls().unwrap().is_empty());

    assert!(port_is_open(emulator_port) && port_is_open(moto_port));
    drop(aws);
    assert!(
        !port_is_open(emulator_port),
        "emulator port {emulator_port} still open after drop"
    );
    assert!(
        !port_is_open(moto_port),
        "moto port {moto_port} still open after drop"
    );
}

#[test]
fn two_instances_are_independent() {
    let a = LocalAws::start().unwrap();
    let b = LocalAws::start().unwrap();
    assert_ne!(a.endpoint_url(), b.endpoint_url());
    assert_ne!(a.moto_url(), b.moto_url());
    a.inject_fault(&json!({"service": "*", "action": "error"}))
        .unwrap();
    assert_eq!(a.faults().unwrap().len(), 1);
    assert!(b.faults().unwrap().is_empty());
}
