"""Tests of CloudWatch over Smithy RPC v2 CBOR (what aws-sdk-cloudwatch speaks): the emulator
translates ``POST /service/GraniteServiceVersion20100801/operation/<Op>`` to moto's AWS JSON 1.0
and moto's answer back to CBOR. Raw CBOR requests built with localaws/cborlite.py, against a
started moto + emulator (test_emulator's helpers); every test begins with POST /_emulator/reset.

    target/localaws-venv/bin/python -m unittest discover -s localaws -p 'test_*.py' -v
"""

from __future__ import annotations

import math
import struct
import time
import unittest
import urllib.parse

import cborlite
import test_emulator as base

CW_PATH = "/service/GraniteServiceVersion20100801/operation/"
AUTH = base.FAKE_AUTH.format(service="monitoring")


def setUpModule() -> None:
    base.setUpModule()


def tearDownModule() -> None:
    base.tearDownModule()
    base._procs.clear()  # test_emulator starts (and stops) its own pair


def cw(operation: str, body=None, *, raw_body: bytes | None = None, signed: bool = True):
    """One rpc-v2-cbor CloudWatch call: (status, lower-cased headers, decoded CBOR answer)."""
    headers = {
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
        "X-Amz-Date": "20260101T000000Z",
    }
    if signed:
        headers["Authorization"] = AUTH
    data = raw_body if raw_body is not None else cborlite.dumps(body if body is not None else {})
    status, resp_headers, payload = base.raw("POST", CW_PATH + operation, headers, data)
    return status, resp_headers, (cborlite.loads(payload) if payload else None), payload


def query(params: dict) -> tuple[int, str]:
    """A query-protocol CloudWatch call (form-encoded ``Action=...``), forwarded to moto as is."""
    body = urllib.parse.urlencode({"Version": "2010-08-01", **params})
    status, _, payload = base.raw(
        "POST", "/",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": AUTH},
        body.encode(),
    )  # fmt: skip
    return status, payload.decode()


def metric_query(name: str, stat: str = "Sum") -> dict:
    return {
        "Id": "q1",
        "MetricStat": {
            "Metric": {"Namespace": "Stagecraft/Test", "MetricName": name,
                       "Dimensions": [{"Name": "Environment", "Value": "pr-1"}]},
            "Period": 60,
            "Stat": stat,
        },
    }  # fmt: skip


class CloudWatchCborTest(unittest.TestCase):
    def setUp(self) -> None:
        status, body = base.control("POST", "reset")
        self.assertEqual(status, 200, body)

    def calls(self) -> list[dict]:
        status, body = base.control("GET", "calls")
        self.assertEqual(status, 200)
        return body

    def put(self, name: str, at: float, value) -> None:
        status, headers, answer, _ = cw(
            "PutMetricData",
            {
                "Namespace": "Stagecraft/Test",
                "MetricData": [
                    {
                        "MetricName": name,
                        "Dimensions": [{"Name": "Environment", "Value": "pr-1"}],
                        "Timestamp": cborlite.timestamp(at),
                        "Value": value,
                        "Unit": "Count",
                    }
                ],
            },
        )
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer, {})
        self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(headers["content-type"], "application/cbor")

    def test_put_metric_data_then_get_metric_data(self) -> None:
        now = math.floor(time.time() / 60) * 60
        self.put("Requests", now - 120, 2.5)
        self.put("Requests", now - 60, 4)  # an integer value: still a double in the answer
        status, headers, answer, payload = cw(
            "GetMetricData",
            {
                "MetricDataQueries": [metric_query("Requests")],
                "StartTime": cborlite.timestamp(now - 600),
                "EndTime": cborlite.timestamp(now + 60),
                "ScanBy": "TimestampAscending",
            },
        )
        self.assertEqual(status, 200, answer)
        self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(headers["content-type"], "application/cbor")
        self.assertTrue(headers.get("x-amzn-requestid"))
        [result] = answer["MetricDataResults"]
        self.assertEqual(result["Id"], "q1")
        self.assertEqual(result["StatusCode"], "Complete")
        self.assertEqual(result["Timestamps"], [cborlite.timestamp(now - 120), cborlite.timestamp(now - 60)])
        self.assertEqual(result["Values"], [2.5, 4.0])
        self.assertTrue(all(type(v) is float for v in result["Values"]))
        # On the wire: tag 1 (0xc1) around a float64 (0xfb), doubles as float64.
        self.assertIn(b"\xc1\xfb", payload)
        self.assertIn(b"\xfb" + struct.pack(">d", 4.0), payload)

    def test_indefinite_length_request_as_the_rust_sdk_sends(self) -> None:
        # aws-smithy-cbor writes structures and lists with indefinite lengths (0xbf/0x9f ... 0xff).
        now = math.floor(time.time() / 60) * 60

        def text(s: str) -> bytes:
            return cborlite.dumps(s)

        datum = (b"\xbf" + text("MetricName") + text("Indef") + text("Value") + cborlite.dumps(7.0)
                 + text("Timestamp") + cborlite.dumps(cborlite.timestamp(now - 60))
                 + text("Dimensions") + b"\x9f" + b"\xbf" + text("Name") + text("Environment")
                 + text("Value") + text("pr-1") + b"\xff" + b"\xff" + b"\xff")  # fmt: skip
        body = b"\xbf" + text("Namespace") + text("Stagecraft/Test") + text("MetricData") + b"\x9f" + datum + b"\xff\xff"
        status, _, answer, _ = cw("PutMetricData", raw_body=body)
        self.assertEqual(status, 200, answer)
        status, _, answer, _ = cw(
            "GetMetricData",
            {"MetricDataQueries": [metric_query("Indef", "Maximum")],
             "StartTime": cborlite.timestamp(now - 600), "EndTime": cborlite.timestamp(now + 60)},
        )  # fmt: skip
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["MetricDataResults"][0]["Values"], [7.0])

    def test_dimension_order_does_not_matter(self) -> None:
        # moto 5.2's Dimension.__lt__ is broken: put with (ServiceName, ServiceID) and queried
        # with (ServiceID, ServiceName) did not match when the ID started with a letter.
        now = math.floor(time.time() / 60) * 60
        dims = [{"Name": "ServiceName", "Value": "adp-app"},
                {"Name": "ServiceID", "Value": "cfd9317041024f6c9eae0c8644670346"}]  # fmt: skip
        status, _, answer, _ = cw(
            "PutMetricData",
            {"Namespace": "AWS/AppRunner", "MetricData": [
                {"MetricName": "Requests", "Dimensions": dims, "Value": 3.0,
                 "Timestamp": cborlite.timestamp(now - 60)}]},
        )  # fmt: skip
        self.assertEqual(status, 200, answer)
        status, _, answer, _ = cw(
            "GetMetricData",
            {"MetricDataQueries": [{"Id": "q0", "MetricStat": {
                "Metric": {"Namespace": "AWS/AppRunner", "MetricName": "Requests",
                           "Dimensions": list(reversed(dims))},
                "Period": 3600, "Stat": "Sum"}}],
             "StartTime": cborlite.timestamp(now - 7200), "EndTime": cborlite.timestamp(now + 60)},
        )  # fmt: skip
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["MetricDataResults"][0]["Values"], [3.0])

    def test_list_metrics(self) -> None:
        self.put("Listed", time.time() - 30, 1.0)
        status, _, answer, _ = cw("ListMetrics", {"Namespace": "Stagecraft/Test"})
        self.assertEqual(status, 200, answer)
        self.assertEqual(
            answer["Metrics"],
            [{"Namespace": "Stagecraft/Test", "MetricName": "Listed",
              "Dimensions": [{"Name": "Environment", "Value": "pr-1"}]}],
        )  # fmt: skip

    def test_alarms_round_trip(self) -> None:
        status, _, answer, _ = cw(
            "PutMetricAlarm",
            {"AlarmName": "idle-pr-1", "Namespace": "Stagecraft/Test", "MetricName": "Requests",
             "Dimensions": [{"Name": "Environment", "Value": "pr-1"}], "Statistic": "Sum",
             "Period": 3600, "EvaluationPeriods": 2, "Threshold": 1, "ActionsEnabled": False,
             "ComparisonOperator": "LessThanThreshold"},
        )  # fmt: skip
        self.assertEqual(status, 200, answer)
        status, _, answer, _ = cw("DescribeAlarms", {"AlarmNames": ["idle-pr-1"]})
        self.assertEqual(status, 200, answer)
        [alarm] = answer["MetricAlarms"]
        self.assertEqual(alarm["AlarmName"], "idle-pr-1")
        self.assertEqual(alarm["Threshold"], 1.0)
        self.assertIs(type(alarm["Threshold"]), float)
        self.assertEqual((alarm["Period"], alarm["EvaluationPeriods"]), (3600, 2))
        self.assertIs(alarm["ActionsEnabled"], False)
        self.assertEqual(alarm["Dimensions"], [{"Name": "Environment", "Value": "pr-1"}])
        stamp = alarm["StateUpdatedTimestamp"]
        self.assertIsInstance(stamp, cborlite.Tag)
        self.assertEqual(stamp.tag, 1)
        self.assertLess(abs(stamp.value - time.time()), 60)
        status, _, answer, _ = cw("DeleteAlarms", {"AlarmNames": ["idle-pr-1"]})
        self.assertEqual((status, answer), (200, {}))
        status, _, answer, _ = cw("DescribeAlarms", {})
        self.assertEqual(answer, {"CompositeAlarms": [], "MetricAlarms": []})

    def test_error_shape(self) -> None:
        status, headers, answer, _ = cw("GetDashboard", {"DashboardName": "missing"})
        self.assertEqual(status, 404)
        self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(headers["content-type"], "application/cbor")
        self.assertEqual(answer, {"__type": "ResourceNotFound", "message": "Dashboard does not exist"})
        self.assertEqual(headers["x-amzn-query-error"], "ResourceNotFound;Sender")

    def test_moto_failure_becomes_a_cbor_error(self) -> None:
        # moto answers an HTML 500 for a GetMetricData without EndTime; the client still gets CBOR.
        status, headers, answer, _ = cw("GetMetricData", {"MetricDataQueries": []})
        self.assertEqual(status, 500)
        self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(answer["__type"], "InternalFailure")
        self.assertIn("moto answered HTTP 500", answer["message"])

    def test_malformed_cbor_is_a_serialization_exception(self) -> None:
        for body in (b"\xbf\x61", b"\x83\x01", b"\x01"):  # truncated map, short array, not a map
            with self.subTest(body=body):
                status, headers, answer, _ = cw("ListMetrics", raw_body=body)
                self.assertEqual(status, 400)
                self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")
                self.assertEqual(answer["__type"], "SerializationException")

    def test_call_log_and_faults_see_monitoring_and_the_operation(self) -> None:
        base.control("POST", "faults", {"service": "monitoring", "operation": "PutMetricData",
                                        "action": "error", "code": "Throttling", "status": 400,
                                        "message": "slow down", "count": 1})  # fmt: skip
        body = {"Namespace": "Stagecraft/Test", "MetricData": [{"MetricName": "F", "Value": 1.0}]}
        status, headers, answer, _ = cw("PutMetricData", body)
        self.assertEqual(status, 400)
        self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")
        self.assertEqual(answer, {"__type": "Throttling", "message": "slow down"})
        self.assertEqual(cw("PutMetricData", body)[0], 200)  # used up
        self.assertEqual(cw("ListMetrics", {}, signed=False)[0], 200)  # unsigned: still monitoring
        self.assertEqual(
            [(c["service"], c["operation"], c["status"], c["fault"], c["local"], c["path"])
             for c in self.calls()],
            [("monitoring", "PutMetricData", 400, "error", False, CW_PATH + "PutMetricData"),
             ("monitoring", "PutMetricData", 200, None, False, CW_PATH + "PutMetricData"),
             ("monitoring", "ListMetrics", 200, None, False, CW_PATH + "ListMetrics")],
        )  # fmt: skip

    def test_query_and_json_protocols_still_work_and_share_state(self) -> None:
        now = math.floor(time.time() / 60) * 60
        self.put("Shared", now - 60, 3.0)
        status, xml = query({"Action": "ListMetrics", "Namespace": "Stagecraft/Test"})
        self.assertEqual(status, 200, xml)
        self.assertIn("<MetricName>Shared</MetricName>", xml)
        status, xml = query({"Action": "DescribeAlarms", "AlarmNames.member.1": "nope"})
        self.assertEqual(status, 200, xml)
        self.assertIn("<MetricAlarms", xml)
        # boto3 (AWS JSON 1.0 with X-Amz-Target) is forwarded unchanged.
        data = base.client("cloudwatch").get_metric_data(
            MetricDataQueries=[metric_query("Shared")],
            StartTime=now - 600,
            EndTime=now + 60,
        )
        self.assertEqual(data["MetricDataResults"][0]["Values"], [3.0])
        self.assertEqual([c["operation"] for c in self.calls()],
                         ["PutMetricData", "ListMetrics", "DescribeAlarms", "GetMetricData"])


class CborLiteTest(unittest.TestCase):
    def test_round_trip(self) -> None:
        value = {"a": [1, -1, 0, 23, 24, 255, 256, 65536, 2**32, 2**64 - 1, -(2**64), 2**70, -(2**70)],
                 "b": b"\x00\xff", "c": "héllo", "d": [True, False, None, 1.5, -0.0],
                 "t": cborlite.timestamp(1700000000), "e": {}, "f": []}  # fmt: skip
        self.assertEqual(cborlite.loads(cborlite.dumps(value)), value)

    def test_known_encodings(self) -> None:
        self.assertEqual(cborlite.dumps(0), b"\x00")
        self.assertEqual(cborlite.dumps(-1), b"\x20")
        self.assertEqual(cborlite.dumps(1000), b"\x19\x03\xe8")
        self.assertEqual(cborlite.dumps("a"), b"\x61a")
        self.assertEqual(cborlite.dumps({"a": 1}), b"\xa1\x61a\x01")
        self.assertEqual(cborlite.dumps(cborlite.timestamp(1)), b"\xc1\xfb\x3f\xf0" + b"\x00" * 6)

    def test_decodes_half_single_floats_and_indefinite_items(self) -> None:
        self.assertEqual(cborlite.loads(b"\xf9\x3c\x00"), 1.0)
        self.assertEqual(cborlite.loads(b"\xf9\xc4\x00"), -4.0)
        self.assertEqual(cborlite.loads(b"\xf9\x00\x01"), 5.960464477539063e-8)
        self.assertEqual(cborlite.loads(b"\xf9\x7c\x00"), math.inf)
        self.assertTrue(math.isnan(cborlite.loads(b"\xf9\x7e\x00")))
        self.assertEqual(cborlite.loads(b"\xfa\x47\xc3\x50\x00"), 100000.0)
        self.assertEqual(cborlite.loads(b"\x9f\x01\x82\x02\x03\xff"), [1, [2, 3]])
        self.assertEqual(cborlite.loads(b"\xbf\x61a\x01\xff"), {"a": 1})
        self.assertEqual(cborlite.loads(b"\x7f\x62ab\x61c\xff"), "abc")
        self.assertEqual(cborlite.loads(b"\x5f\x41\x01\x41\x02\xff"), b"\x01\x02")
        self.assertEqual(cborlite.loads(b"\xc1\x1a\x65\x53\xf1\x00"), cborlite.Tag(1, 1700000000))

    def test_rejects_bad_input(self) -> None:
        for data in (b"", b"\x18", b"\x62a", b"\xff", b"\x01\x02", b"\x1c", b"\x9f\x01", b"\x62\xff\xfe"):
            with self.subTest(data=data), self.assertRaises(cborlite.CBORDecodeError):
                cborlite.loads(data)


if __name__ == "__main__":
    unittest.main()
