"""Tests of the local AWS emulator against a real moto server, through boto3.

    target/localaws-venv/bin/python -m unittest discover -s localaws -v

Starts one moto + emulator pair on free loopback ports for the module; every test begins with
POST /_emulator/reset (faults, call log and moto's state cleared).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000"
)

_procs: list[subprocess.Popen] = []
ENDPOINT = ""
MOTO_URL = ""


def _start(args: list[str], name: str) -> tuple[subprocess.Popen, int]:
    with open(os.path.join(_logdir(), f"{name}.log"), "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args, "--exit-with-parent"],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _procs.append(proc)
    deadline = time.monotonic() + 60
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(b"READY "):
                return proc, int(line.split()[1])
        if proc.poll() is not None:
            break
    raise RuntimeError(f"{name} did not start (exit {proc.poll()}, last line {line!r})")


def _logdir() -> str:
    path = os.environ.get("LOCALAWS_TEST_LOGS") or os.path.join(
        os.path.dirname(HERE), "target", "localaws-test-logs"
    )
    os.makedirs(path, exist_ok=True)
    return path


def setUpModule() -> None:
    global ENDPOINT, MOTO_URL
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    _, moto_port = _start([os.path.join(HERE, "run_moto.py"), "--port", "0"], "moto")
    MOTO_URL = f"http://127.0.0.1:{moto_port}"
    _, port = _start(
        [os.path.join(HERE, "emulator.py"), "--port", "0", "--moto-url", MOTO_URL], "emulator"
    )
    ENDPOINT = f"http://127.0.0.1:{port}"


def tearDownModule() -> None:
    for proc in _procs:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
    for proc in _procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        proc.stdout.close()


def control(method: str, path: str, body=None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{ENDPOINT}/_emulator/{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def client(service: str, **config):
    config.setdefault("retries", {"total_max_attempts": 1})
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config),
    )


def raw(method: str, path: str, headers: dict, body=None, chunked: bool = False):
    conn = http.client.HTTPConnection("127.0.0.1", int(ENDPOINT.rsplit(":", 1)[1]), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response["Error"]["Code"]


class EmulatorTest(unittest.TestCase):
    def setUp(self) -> None:
        status, body = control("POST", "reset")
        self.assertEqual(status, 200, body)

    def calls(self) -> list[dict]:
        status, body = control("GET", "calls")
        self.assertEqual(status, 200)
        return body

    def assertCalled(self, service: str, operation: str, status: int, local: bool | None = None):
        matches = [c for c in self.calls() if c["service"] == service and c["operation"] == operation]
        self.assertTrue(matches, f"no call {service}.{operation} in {self.calls()}")
        self.assertEqual(matches[-1]["status"], status, matches)
        if local is not None:
            self.assertEqual(matches[-1]["local"], local, matches)

    # -- control API ------------------------------------------------------------------------

    def test_health(self) -> None:
        status, body = control("GET", "health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["moto"], "up")
        self.assertEqual(body["moto_url"], MOTO_URL)
        self.assertIn("ListServices", body["services"]["apprunner"])

    def test_bad_fault_specs_are_rejected(self) -> None:
        for spec in (
            {"action": "explode"},
            {"action": "error", "count": 0},
            {"action": "error", "status": 200},
            {"action": "delay", "seconds": -1},
            {"action": "error", "colour": "red"},
            [],
        ):
            status, body = control("POST", "faults", spec)
            self.assertEqual(status, 400, (spec, body))
        status, _ = control("GET", "nothing-here")
        self.assertEqual(status, 404)

    def test_fault_list_and_delete_by_id(self) -> None:
        _, a = control("POST", "faults", {"service": "sts", "action": "error"})
        _, b = control("POST", "faults", {"service": "rds", "action": "delay", "seconds": 0.1})
        _, listed = control("GET", "faults")
        self.assertEqual([f["id"] for f in listed], [a["id"], b["id"]])
        self.assertEqual(control("DELETE", f"faults/{a['id']}")[0], 200)
        self.assertEqual(control("DELETE", f"faults/{a['id']}")[0], 404)
        self.assertEqual([f["id"] for f in control("GET", "faults")[1]], [b["id"]])
        control("DELETE", "faults")
        self.assertEqual(control("GET", "faults")[1], [])

    # -- forwarding to moto -----------------------------------------------------------------

    def test_secretsmanager_is_forwarded(self) -> None:
        sm = client("secretsmanager")
        arn = sm.create_secret(Name="stage/config", SecretString='{"k":"v"}')["ARN"]
        self.assertIn(":secretsmanager:us-east-1:", arn)
        self.assertEqual(sm.get_secret_value(SecretId="stage/config")["SecretString"], '{"k":"v"}')
        self.assertCalled("secretsmanager", "CreateSecret", 200, local=False)
        self.assertCalled("secretsmanager", "GetSecretValue", 200, local=False)

    def test_sts_is_forwarded(self) -> None:
        self.assertEqual(client("sts").get_caller_identity()["Account"], "123456789012")
        self.assertCalled("sts", "GetCallerIdentity", 200, local=False)

    def test_rds_query_protocol_is_forwarded(self) -> None:
        rds = client("rds")
        self.assertEqual(rds.describe_db_instances()["DBInstances"], [])
        rds.create_db_instance(
            DBInstanceIdentifier="staging-db",
            DBInstanceClass="db.t3.micro",
            Engine="mysql",
            MasterUsername="admin",
            MasterUserPassword="password123",
            AllocatedStorage=20,
        )
        dbs = rds.describe_db_instances()["DBInstances"]
        self.assertEqual([d["DBInstanceIdentifier"] for d in dbs], ["staging-db"])
        self.assertCalled("rds", "CreateDBInstance", 200, local=False)
        self.assertCalled("rds", "DescribeDBInstances", 200, local=False)

    def test_other_ecs_operations_go_to_moto(self) -> None:
        ecs = client("ecs")
        ecs.create_cluster(clusterName="staging")
        self.assertEqual(len(ecs.list_clusters()["clusterArns"]), 1)
        self.assertCalled("ecs", "ListClusters", 200, local=False)

    def test_moto_errors_come_back_unchanged(self) -> None:
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            client("secretsmanager").get_secret_value(SecretId="missing")
        self.assertEqual(error_code(cm.exception), "ResourceNotFoundException")
        via_emulator = cm.exception.response["ResponseMetadata"]["HTTPStatusCode"]
        direct = boto3.client(
            "secretsmanager", endpoint_url=MOTO_URL, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            direct.get_secret_value(SecretId="missing")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], via_emulator)
        self.assertCalled("secretsmanager", "GetSecretValue", via_emulator, local=False)

    def test_s3_rest_headers_bodies_and_head(self) -> None:
        s3 = client("s3", s3={"addressing_style": "path"})
        s3.create_bucket(Bucket="stagecraft-artifacts")
        payload = os.urandom(300_000)
        s3.put_object(Bucket="stagecraft-artifacts", Key="a/b.bin", Body=payload, Metadata={"x": "1"})
        head = s3.head_object(Bucket="stagecraft-artifacts", Key="a/b.bin")
        self.assertEqual(head["ContentLength"], len(payload))
        self.assertEqual(head["Metadata"], {"x": "1"})
        got = s3.get_object(Bucket="stagecraft-artifacts", Key="a/b.bin")["Body"].read()
        self.assertEqual(got, payload)

    def test_chunked_request_body_is_forwarded(self) -> None:
        body = json.dumps({"Name": "chunked", "SecretString": "x" * 70_000}).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.CreateSecret",
            "Authorization": FAKE_AUTH.format(service="secretsmanager"),
            "X-Amz-Date": "20260101T000000Z",
        }
        chunks = (body[i : i + 10_000] for i in range(0, len(body), 10_000))
        status, _, data = raw("POST", "/", headers, body=chunks, chunked=True)
        self.assertEqual(status, 200, data)
        value = client("secretsmanager").get_secret_value(SecretId="chunked")["SecretString"]
        self.assertEqual(value, "x" * 70_000)

    def test_keep_alive_connection_serves_several_requests(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", int(ENDPOINT.rsplit(":", 1)[1]), timeout=30)
        try:
            for target in ("AppRunner.ListServices", "AppRunner.Nope", "AppRunner.ListServices"):
                conn.request(
                    "POST", "/", body=b"{}",
                    headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
                )
                resp = conn.getresponse()
                resp.read()
                self.assertIn(resp.status, (200, 400))
            conn.request("GET", "/_emulator/health")
            self.assertEqual(conn.getresponse().status, 200)
        finally:
            conn.close()

    # -- our services -----------------------------------------------------------------------

    def test_apprunner_list_services_is_served_locally(self) -> None:
        resp = client("apprunner").list_services()
        self.assertEqual(resp["ServiceSummaryList"], [])
        self.assertEqual(resp["ResponseMetadata"]["HTTPHeaders"]["content-type"], "application/x-amz-json-1.0")
        self.assertCalled("apprunner", "ListServices", 200, local=True)

    def test_unknown_apprunner_operation(self) -> None:
        # App Runner operations stagecraft does not use have no handler (see test_apprunner.py
        # for the ones it does).
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            client("apprunner").list_connections()
        self.assertEqual(error_code(cm.exception), "UnknownOperationException")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertCalled("apprunner", "ListConnections", 400, local=True)

    def test_ecs_express_operations_are_claimed(self) -> None:
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            client("ecs").describe_express_gateway_service(
                serviceArn="arn:aws:ecs:us-east-1:123456789012:service/default/web"
            )
        self.assertEqual(error_code(cm.exception), "UnknownOperationException")
        self.assertCalled("ecs", "DescribeExpressGatewayService", 400, local=True)

    def test_malformed_json_is_a_serialization_exception(self) -> None:
        for body in (b"{not json", b"[1, 2]"):
            status, headers, data = raw(
                "POST",
                "/",
                {"X-Amz-Target": "AppRunner.ListServices", "Content-Type": "application/x-amz-json-1.0"},
                body=body,
            )
            self.assertEqual(status, 400)
            self.assertEqual(headers["x-amzn-errortype"], "SerializationException")
            self.assertEqual(json.loads(data)["__type"], "SerializationException")
            self.assertTrue(json.loads(data)["message"])
        # An empty body is an empty input, as the SDKs send for operations without members.
        status, _, data = raw("POST", "/", {"X-Amz-Target": "AppRunner.ListServices"}, body=b"")
        self.assertEqual((status, json.loads(data)), (200, {"ServiceSummaryList": []}))

    # -- faults -----------------------------------------------------------------------------

    def test_error_fault_applies_count_times(self) -> None:
        status, fault = control(
            "POST",
            "faults",
            {
                "service": "secretsmanager",
                "operation": "CreateSecret",
                "action": "error",
                "code": "LimitExceededException",
                "message": "injected",
                "status": 400,
                "count": 2,
            },
        )
        self.assertEqual(status, 200, fault)
        sm = client("secretsmanager")
        for i in range(2):
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                sm.create_secret(Name=f"s{i}", SecretString="v")
            self.assertEqual(error_code(cm.exception), "LimitExceededException")
            self.assertEqual(cm.exception.response["Error"]["Message"], "injected")
        # Other operations of the service are not affected.
        self.assertEqual(sm.list_secrets()["SecretList"], [])
        sm.create_secret(Name="s2", SecretString="v")  # count used up
        self.assertEqual(control("GET", "faults")[1], [])
        statuses = [(c["operation"], c["status"], c["fault"]) for c in self.calls()]
        self.assertEqual(
            statuses,
            [
                ("CreateSecret", 400, "error"),
                ("CreateSecret", 400, "error"),
                ("ListSecrets", 200, None),
                ("CreateSecret", 200, None),
            ],
        )

    def test_error_fault_shapes_per_protocol(self) -> None:
        cases = [
            ("rds", lambda: client("rds").describe_db_instances()),  # query (XML)
            ("sts", lambda: client("sts").get_caller_identity()),  # query (XML)
            ("monitoring", lambda: client("cloudwatch").list_metrics()),  # rpc-v2-cbor
            ("apprunner", lambda: client("apprunner").list_services()),  # our JSON 1.0
            ("s3", lambda: client("s3").list_buckets()),  # rest-xml
        ]
        for service, call in cases:
            with self.subTest(service=service):
                control("POST", "faults", {"service": service, "action": "error", "code": "Throttling",
                                           "status": 400, "count": 1})
                with self.assertRaises(botocore.exceptions.ClientError) as cm:
                    call()
                self.assertEqual(error_code(cm.exception), "Throttling")
                self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
                call()  # the fault is used up

    def test_wildcard_fault_with_server_error_status(self) -> None:
        control("POST", "faults", {"service": "*", "operation": "*", "action": "error", "count": 1})
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            client("sts").get_caller_identity()
        self.assertEqual(error_code(cm.exception), "InternalFailure")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)

    def test_delay_fault(self) -> None:
        control("POST", "faults", {"service": "sts", "action": "delay", "seconds": 0.6, "count": 1})
        sts = client("sts")
        start = time.monotonic()
        sts.get_caller_identity()
        self.assertGreaterEqual(time.monotonic() - start, 0.6)
        start = time.monotonic()
        sts.get_caller_identity()
        self.assertLess(time.monotonic() - start, 0.6)
        self.assertEqual([c["fault"] for c in self.calls()], ["delay", None])

    def test_hang_fault_does_not_block_other_requests(self) -> None:
        control("POST", "faults", {"service": "sts", "operation": "GetCallerIdentity", "action": "hang",
                                   "count": 1})
        outcome: dict = {}

        def hung_call() -> None:
            start = time.monotonic()
            try:
                client("sts", read_timeout=4, connect_timeout=2).get_caller_identity()
                outcome["result"] = "answered"
            except botocore.exceptions.ReadTimeoutError:
                outcome["result"] = "timeout"
            except Exception as e:  # noqa: BLE001
                outcome["result"] = repr(e)
            outcome["elapsed"] = time.monotonic() - start

        thread = threading.Thread(target=hung_call)
        thread.start()
        time.sleep(0.3)
        # While that request hangs, others are served at once.
        start = time.monotonic()
        sm = client("secretsmanager")
        sm.create_secret(Name="meanwhile", SecretString="v")
        self.assertEqual(client("apprunner").list_services()["ServiceSummaryList"], [])
        self.assertEqual(control("GET", "health")[0], 200)
        self.assertLess(time.monotonic() - start, 3.0)
        self.assertTrue(thread.is_alive(), "the hung call should still be waiting")
        thread.join(timeout=30)
        self.assertEqual(outcome.get("result"), "timeout", outcome)
        self.assertGreaterEqual(outcome["elapsed"], 3.9)
        # The fault was used once; the same call now goes through.
        self.assertEqual(client("sts").get_caller_identity()["Account"], "123456789012")
        # The server noticed the client going away and let go of the request (no response sent).
        deadline = time.monotonic() + 5
        while True:
            hung = [c for c in self.calls() if c["fault"] == "hang"]
            self.assertEqual(len(hung), 1)
            if hung[0]["duration"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIsNone(hung[0]["status"])
        self.assertIsNotNone(hung[0]["duration"], "the hang outlived its client")
        self.assertLess(hung[0]["duration"], 10)

    # -- call log ---------------------------------------------------------------------------

    def test_call_log_records_and_clears(self) -> None:
        client("sts").get_caller_identity()
        client("apprunner").list_services()
        client("cloudwatch").list_metrics()
        calls = self.calls()
        self.assertEqual(
            [(c["service"], c["operation"], c["status"]) for c in calls],
            [("sts", "GetCallerIdentity", 200), ("apprunner", "ListServices", 200),
             ("monitoring", "ListMetrics", 200)],
        )
        self.assertEqual(control("DELETE", "calls")[0], 200)
        self.assertEqual(self.calls(), [])


if __name__ == "__main__":
    unittest.main()
