#!/usr/bin/env python3
"""stagecraft's local AWS endpoint: App Runner and ECS Express Mode, everything else via moto.

One HTTP endpoint that AWS SDKs can use as ``AWS_ENDPOINT_URL``:

* ``X-Amz-Target: AppRunner.<Op>`` (AWS JSON 1.0) is served here, by the handler registered for
  ``("apprunner", Op)``; an operation without a handler is ``UnknownOperationException``. The
  App Runner section below implements the service API stagecraft uses (CreateService,
  DescribeService, UpdateService, DeleteService, PauseService, ResumeService, StartDeployment,
  ListServices, ListOperations, TagResource, UntagResource, ListTagsForResource) with the real
  service's asynchronous operations, statuses, defaults, validation and errors.
* ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>`` (AWS JSON 1.1) is served here when
  ``Op`` is one of ECS's Express-gateway operations (or has a registered handler); every other ECS
  operation goes to moto.
* CloudWatch over Smithy RPC v2 CBOR (what aws-sdk-cloudwatch speaks; moto does not serve it:
  ``POST /service/GraniteServiceVersion20100801/operation/<Op>``) is translated to AWS JSON 1.0 for moto
  and moto's answer back to CBOR (``forward_cbor_as_json``; CBOR codec in ``cborlite.py``).
* Every other request is forwarded to moto as it came (method, path and query, headers including
  the SigV4 ``Authorization``, body) and moto's answer is returned as it came (status, headers,
  body). Only the HTTP framing is redone (chunked bodies are de-chunked, ``Content-Length`` set).
* ``/_emulator/...`` is the control API: fault injection, call log, health, reset,
  configuration, App Runner state (see ``control`` below and localaws/README.md).

Handlers are plain functions ``fn(request: dict) -> dict`` registered with ``@handler(service,
operation)``; they raise ``AwsError(code, message, status)`` for AWS errors and may call
``current_context()`` for the region, account and operation of the call being served.

Python standard library only (plus ``cborlite.py`` next to it): it runs in moto's venv but imports
nothing from it.

CLI: ``python emulator.py --port 0 --moto-url http://127.0.0.1:5000`` prints ``READY <port>``
on stdout once listening. Environment: ``STAGECRAFT_APPRUNNER_DELAY`` (seconds an App Runner
operation takes, default 1.0), ``STAGECRAFT_APPRUNNER_DELETED_RETENTION`` (seconds a deleted
service is still described as DELETED, default 0).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import http.client
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

import cborlite  # localaws/cborlite.py (stdlib only), next to this file

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
MAX_HANG_SECONDS = 600.0
MAX_BODY_BYTES = 512 * 1024 * 1024

APPRUNNER_TARGET_PREFIX = "AppRunner"
ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"

# The ECS operations of ECS Express Mode (botocore 1.44 ecs model); moto implements none of them.
ECS_EXPRESS_OPERATIONS = frozenset(
    {
        "CreateExpressGatewayService",
        "DescribeExpressGatewayService",
        "UpdateExpressGatewayService",
        "DeleteExpressGatewayService",
    }
)

# X-Amz-Target prefixes -> signing names, for unsigned calls (no credential scope to read).
TARGET_PREFIX_SERVICES = {
    APPRUNNER_TARGET_PREFIX: "apprunner",
    ECS_TARGET_PREFIX: "ecs",
    "secretsmanager": "secretsmanager",
    "Logs_20140328": "logs",
    "GraniteServiceVersion20100801": "monitoring",
    "ResourceGroupsTaggingAPI_20170126": "tagging",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "AWSSecurityTokenServiceV20110615": "sts",
}

# CloudWatch over Smithy RPC v2 CBOR (what aws-sdk-cloudwatch speaks): moto serves CloudWatch
# only over AWS JSON 1.0 (X-Amz-Target, what boto3 sends) and the query protocol, so such calls
# are translated to JSON 1.0 and moto's answer back to CBOR (RequestHandler.forward_cbor_as_json).
CLOUDWATCH_TARGET_PREFIX = "GraniteServiceVersion20100801"
CBOR_RPC_PATH = re.compile(r"^/service/([A-Za-z0-9_.]+)/operation/([A-Za-z0-9_]+)$")
CBOR_AS_JSON_SERVICES = {CLOUDWATCH_TARGET_PREFIX: "monitoring"}
# Member names of CloudWatch's model (botocore cloudwatch/2010-08-01) whose values need their
# CBOR types in answers: JSON has only "number" where CBOR has int vs float and tag-1 timestamps.
# `Value` and `ExtendedStatistics` are strings/lists of strings elsewhere: only numbers convert.
CW_TIMESTAMP_MEMBERS = frozenset(
    {
        "AlarmConfigurationUpdatedTimestamp", "CreatedAt", "CreationDate", "EndDate", "EndTime",
        "ExpireDate", "LastModified", "LastUpdateDate", "LastUpdatedTimestamp", "StartDate",
        "StartTime", "StateTransitionedTimestamp", "StateUpdatedTimestamp", "Timestamp",
        "Timestamps", "UpdatedAt",
    }
)  # fmt: skip
CW_DOUBLE_MEMBERS = frozenset(
    {
        "AggregateValue", "ApproximateAggregateValue", "ApproximateValue", "Average", "Counts",
        "ExtendedStatistics", "MaxContributorValue", "Maximum", "Minimum", "SampleCount", "Sum",
        "Threshold", "UniqueContributors", "Value", "Values",
    }
)  # fmt: skip
CW_BLOB_MEMBERS = frozenset({"MetricWidgetImage"})

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]*)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")


# ---------------------------------------------------------------------------------------------
# Handler registry
# ---------------------------------------------------------------------------------------------


class AwsError(Exception):
    """An AWS error returned to the caller in the protocol's error shape.

    ``message_key`` is the body member that carries the message: ``message`` by default, or what
    the service's model names it (App Runner's exceptions have a ``Message`` member)."""

    def __init__(self, code: str, message: str = "", status: int = 400, message_key: str = "message"):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.message_key = message_key


Handler = Callable[[dict], dict]

# service (signing name) -> operation -> handler
HANDLERS: dict[str, dict[str, Handler]] = {"apprunner": {}, "ecs": {}}

# Called by POST /_emulator/reset so handler modules can drop their state.
RESET_HOOKS: list[Callable[[], None]] = []


def handler(service: str, operation: Optional[str] = None):
    """Decorator: ``@handler("apprunner")`` registers the function under its own name as the
    operation (``def ListServices(req)``); ``@handler("ecs", "CreateExpressGatewayService")``
    names the operation explicitly."""

    def register(fn: Handler) -> Handler:
        HANDLERS.setdefault(service, {})[operation or fn.__name__] = fn
        return fn

    return register


def on_reset(fn: Callable[[], None]) -> Callable[[], None]:
    RESET_HOOKS.append(fn)
    return fn


_context = threading.local()


def current_context() -> dict:
    """Facts about the call being served: service, operation, region, account_id, request_id."""
    return getattr(_context, "value", {})


# ---------------------------------------------------------------------------------------------
# Faults and call log
# ---------------------------------------------------------------------------------------------


class ControlError(Exception):
    pass


# Fault actions that apply to the asynchronous operation a call starts rather than to the call:
# "fail" lets the call succeed and the operation end failed; "stall" keeps the operation in
# progress until the fault is deleted (or its ``seconds`` pass).
ASYNC_FAULT_ACTIONS = frozenset({"fail", "stall"})
MAX_ASYNC_FAULT_SECONDS = 86400.0


class Faults:
    ACTIONS = ("error", "hang", "delay", "fail", "stall")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[dict] = []
        self._next_id = 1

    def add(self, spec: Any) -> dict:
        if not isinstance(spec, dict):
            raise ControlError("a fault is a JSON object")
        known = {"service", "operation", "action", "code", "message", "status", "seconds", "count"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ControlError(f"unknown fault fields: {', '.join(unknown)}")
        action = spec.get("action", "error")
        if action not in self.ACTIONS:
            raise ControlError(f"action must be one of {', '.join(self.ACTIONS)}")
        service = spec.get("service", "*")
        operation = spec.get("operation", "*")
        if not isinstance(service, str) or not service:
            raise ControlError("service must be a non-empty string ('*' = any)")
        if not isinstance(operation, str) or not operation:
            raise ControlError("operation must be a non-empty string ('*' = any)")
        if action in ASYNC_FAULT_ACTIONS:
            if service.lower() not in ("*", "apprunner"):
                raise ControlError(f"action {action} applies to App Runner's asynchronous operations: "
                                   "service must be 'apprunner' or '*'")
            if operation != "*" and operation not in APPRUNNER_ASYNC_OPERATIONS:
                raise ControlError(f"action {action} applies to asynchronous operations only: "
                                   f"operation must be '*' or one of {', '.join(sorted(APPRUNNER_ASYNC_OPERATIONS))}")
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ControlError("count must be a positive integer or null (forever)")
        status = spec.get("status", 500)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ControlError("status must be an integer from 400 to 599")
        if action in ASYNC_FAULT_ACTIONS:
            # fail: how long the failing operation runs (null = the configured App Runner delay);
            # stall: the longest it is held (null = until the fault is deleted).
            seconds = spec.get("seconds")
            limit = MAX_ASYNC_FAULT_SECONDS
        else:
            default_seconds = MAX_HANG_SECONDS if action == "hang" else 1.0
            seconds = spec.get("seconds", default_seconds)
            if seconds is None:
                seconds = default_seconds
            limit = MAX_HANG_SECONDS
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0
        ):
            raise ControlError("seconds must be a non-negative number")
        code = spec.get("code", "InternalFailure")
        message = spec.get("message", "Fault injected by the stagecraft emulator")
        if not isinstance(code, str) or not code or not isinstance(message, str):
            raise ControlError("code must be a non-empty string and message a string")
        with self._lock:
            fault = {
                "id": self._next_id,
                "service": service.lower(),
                "operation": operation,
                "action": action,
                "code": code,
                "message": message,
                "status": status,
                "seconds": None if seconds is None else float(min(seconds, limit)),
                "count": count,
                "applied": 0,
            }
            self._next_id += 1
            self._faults.append(fault)
            return dict(fault)

    def take(
        self, service: str, operation: Optional[str], asynchronous: bool = False
    ) -> Optional[dict]:
        """The first fault matching the call, counted as applied (and dropped when used up).

        ``asynchronous=False`` (a call arriving) considers the call faults (error, hang, delay);
        ``asynchronous=True`` (a handler starting an asynchronous operation) the operation
        faults (fail, stall). A used-up stall fault stays listed, matching nothing, until it is
        deleted: deleting it is what releases the operations it holds."""
        with self._lock:
            for fault in self._faults:
                if (fault["action"] in ASYNC_FAULT_ACTIONS) != asynchronous:
                    continue
                if fault["count"] == 0:
                    continue
                if fault["service"] not in ("*", service.lower()):
                    continue
                if fault["operation"] != "*" and fault["operation"] != operation:
                    continue
                fault["applied"] += 1
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] == 0 and fault["action"] != "stall":
                        self._faults.remove(fault)
                return dict(fault)
        return None

    def is_active(self, fault_id: int) -> bool:
        """Whether the fault is still listed (not deleted, not dropped by a reset)."""
        with self._lock:
            return any(f["id"] == fault_id for f in self._faults)

    def list(self) -> list[dict]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            for fault in self._faults:
                if fault["id"] == fault_id:
                    self._faults.remove(fault)
                    return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict] = []

    def start(self, **entry: Any) -> dict:
        entry.setdefault("status", None)
        entry.setdefault("fault", None)
        entry["duration"] = None
        entry["_started"] = time.monotonic()
        with self._lock:
            self._calls.append(entry)
        return entry

    def finish(self, entry: dict, status: Optional[int]) -> None:
        """status None: no response was sent (a hang, or the client went away)."""
        with self._lock:
            entry["status"] = status
            entry["duration"] = round(time.monotonic() - entry["_started"], 3)

    def list(self) -> list[dict]:
        with self._lock:
            return [{k: v for k, v in c.items() if not k.startswith("_")} for c in self._calls]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


# ---------------------------------------------------------------------------------------------
# Protocol helpers
# ---------------------------------------------------------------------------------------------


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _cbor_request_to_json(value: Any) -> Any:
    """A decoded rpc-v2-cbor request body as AWS JSON 1.0: timestamps (tag 1) become epoch
    seconds, blobs base64 text."""
    if isinstance(value, cborlite.Tag):
        return _cbor_request_to_json(value.value)
    if isinstance(value, dict):
        out = {str(k): _cbor_request_to_json(v) for k, v in value.items()}
        dims = out.get("Dimensions")
        if isinstance(dims, list) and all(isinstance(d, dict) for d in dims):
            # Dimensions are a set to CloudWatch, but moto 5.2 matches a query's dimensions to
            # the stored ones with sorted() over a broken Dimension.__lt__ (it compares a value
            # with a name), so the same set in another order may not match: one order for all.
            out["Dimensions"] = sorted(dims, key=lambda d: (str(d.get("Name")), str(d.get("Value"))))
        return out
    if isinstance(value, list):
        return [_cbor_request_to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if value is cborlite.Undefined:
        return None
    return value


def _epoch_seconds(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.timestamp()
    return None


def _json_answer_to_cbor(value: Any, key: str = "") -> Any:
    """A CloudWatch AWS JSON 1.0 answer as rpc-v2-cbor values; ``key`` is the member the value
    sits under (lists and maps pass it on to their items)."""
    if isinstance(value, dict):
        if key in CW_DOUBLE_MEMBERS:  # ExtendedStatistics: {"p99": 1.5}
            return {k: _json_answer_to_cbor(v, key) for k, v in value.items()}
        return {k: _json_answer_to_cbor(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_answer_to_cbor(v, key) for v in value]
    if key in CW_TIMESTAMP_MEMBERS:
        seconds = _epoch_seconds(value)
        if seconds is not None:
            return cborlite.timestamp(seconds)
    if key in CW_DOUBLE_MEMBERS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if key in CW_BLOB_MEMBERS and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value
    return value


class Call:
    """What the emulator knows about one request: who it is for and how it is framed."""

    def __init__(self, method: str, path: str, headers, body: bytes) -> None:
        self.method = method
        self.raw_path = path
        parsed = urllib.parse.urlsplit(path)
        self.path = parsed.path
        self.query = parsed.query
        self.body = body
        self.target = (headers.get("X-Amz-Target") or "").strip()
        self.content_type = (headers.get("Content-Type") or "").strip()
        auth = headers.get("Authorization") or ""
        scope = CREDENTIAL_SCOPE.search(auth)
        self.access_key = scope.group(1) if scope else None
        self.region = scope.group(3) if scope else DEFAULT_REGION
        target_prefix, _, target_op = self.target.rpartition(".")
        self.target_prefix = target_prefix
        if scope:
            self.service = scope.group(4).lower()
        elif target_prefix in TARGET_PREFIX_SERVICES:
            self.service = TARGET_PREFIX_SERVICES[target_prefix]
        else:
            self.service = "unknown"

        self.protocol = "rest"
        self.operation: Optional[str] = None
        self.cbor_json_target: Optional[str] = None  # "GraniteServiceVersion20100801.<Op>"
        if self.target:
            self.protocol = "json"
            self.operation = target_op or self.target
        elif (headers.get("smithy-protocol") or "").lower() == "rpc-v2-cbor":
            self.protocol = "cbor"
            match = re.search(r"/operation/([^/]+)$", self.path)
            self.operation = match.group(1) if match else None
            rpc = CBOR_RPC_PATH.match(self.path)
            if rpc and rpc.group(1) in CBOR_AS_JSON_SERVICES:
                # Served by translating to AWS JSON 1.0 for moto (forward_cbor_as_json).
                self.cbor_json_target = f"{rpc.group(1)}.{rpc.group(2)}"
                if not scope:
                    self.service = CBOR_AS_JSON_SERVICES[rpc.group(1)]
        else:
            action = self._query_action(headers)
            if action:
                self.protocol = "query"
                self.operation = action
            elif self.service == "s3":
                self.protocol = "s3"

        # Is it ours (served by the emulator) or moto's?
        self.local = False
        if target_prefix == APPRUNNER_TARGET_PREFIX:
            self.local, self.service = True, "apprunner"
        elif target_prefix == ECS_TARGET_PREFIX and (
            target_op in ECS_EXPRESS_OPERATIONS or target_op in HANDLERS.get("ecs", {})
        ):
            self.local, self.service = True, "ecs"

    def _query_action(self, headers) -> Optional[str]:
        params = urllib.parse.parse_qs(self.query)
        if "Action" in params:
            return params["Action"][0]
        if self.method == "POST" and self.content_type.lower().startswith(
            "application/x-www-form-urlencoded"
        ):
            try:
                form = urllib.parse.parse_qs(self.body.decode("utf-8"))
            except UnicodeDecodeError:
                return None
            if "Action" in form:
                return form["Action"][0]
        return None

    def json_content_type(self) -> str:
        if self.content_type.startswith("application/x-amz-json-"):
            return self.content_type
        return "application/x-amz-json-1.1" if self.service == "ecs" else "application/x-amz-json-1.0"

    def error_response(
        self, code: str, message: str, status: int, message_key: str = "message"
    ) -> tuple[int, list, bytes]:
        """(status, headers, body) of an AWS error in this call's protocol."""
        request_id = str(uuid.uuid4())
        sender = "Receiver" if status >= 500 else "Sender"
        headers = [("x-amzn-RequestId", request_id)]
        if self.protocol == "query":
            if self.service == "ec2":
                body = (
                    f"<Response><Errors><Error><Code>{_xml_escape(code)}</Code>"
                    f"<Message>{_xml_escape(message)}</Message></Error></Errors>"
                    f"<RequestID>{request_id}</RequestID></Response>"
                )
            else:
                body = (
                    f"<ErrorResponse><Error><Type>{sender}</Type><Code>{_xml_escape(code)}</Code>"
                    f"<Message>{_xml_escape(message)}</Message></Error>"
                    f"<RequestId>{request_id}</RequestId></ErrorResponse>"
                )
            headers.append(("Content-Type", "text/xml"))
            return status, headers, body.encode("utf-8")
        if self.protocol == "s3":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{_xml_escape(code)}</Code><Message>{_xml_escape(message)}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            )
            headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
            return status, headers, body.encode("utf-8")
        headers += [("x-amzn-ErrorType", code), ("x-amzn-query-error", f"{code};{sender}")]
        if self.protocol == "cbor":
            headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
            return status, headers, cborlite.dumps({"__type": code, "message": message})
        content_type = self.json_content_type() if self.protocol == "json" else "application/json"
        headers.append(("Content-Type", content_type))
        return status, headers, json.dumps({"__type": code, message_key: message}).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Configuration (GET/POST /_emulator/config)
# ---------------------------------------------------------------------------------------------


class EmulatorConfig:
    """Tunables of the emulated services. Startup values come from the environment; POST
    /_emulator/config changes them; POST /_emulator/reset restores the startup values."""

    # name -> (environment variable, default, maximum)
    FIELDS = {
        # How long an App Runner operation (create, update, pause, resume, delete, deployment)
        # stays in progress, in seconds. Read when an operation starts.
        "apprunner_delay": ("STAGECRAFT_APPRUNNER_DELAY", 1.0, 3600.0),
        # How long a deleted App Runner service still answers DescribeService/ListOperations
        # with Status DELETED (as the real service does for a while) before it is gone
        # (ResourceNotFoundException). 0 = gone as soon as the deletion completes.
        "apprunner_deleted_retention": ("STAGECRAFT_APPRUNNER_DELETED_RETENTION", 0.0, 86400.0),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._startup = {name: default for name, (_, default, _) in self.FIELDS.items()}
        self._values = dict(self._startup)

    def load_environment(self, environ) -> None:
        """Startup values from the environment; ValueError names a bad variable."""
        startup = {}
        for name, (variable, default, maximum) in self.FIELDS.items():
            text = environ.get(variable)
            if text is None or not text.strip():
                startup[name] = default
                continue
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{variable}={text!r} is not a number of seconds") from None
            if not 0 <= value <= maximum:
                raise ValueError(f"{variable}={text!r} must be from 0 to {maximum:g} seconds")
            startup[name] = value
        with self._lock:
            self._startup = startup
            self._values = dict(startup)

    def get(self, name: str) -> float:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self._values)

    def update(self, spec: Any) -> dict:
        if not isinstance(spec, dict):
            raise ControlError("the configuration is a JSON object")
        unknown = sorted(set(spec) - set(self.FIELDS))
        if unknown:
            raise ControlError(
                f"unknown configuration fields: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(self.FIELDS))})"
            )
        for name, value in spec.items():
            maximum = self.FIELDS[name][2]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
                raise ControlError(f"{name} must be a number of seconds from 0 to {maximum:g}")
        with self._lock:
            for name, value in spec.items():
                self._values[name] = float(value)
            return dict(self._values)

    def reset(self) -> None:
        with self._lock:
            self._values = dict(self._startup)


CONFIG = EmulatorConfig()


# ---------------------------------------------------------------------------------------------
# App Runner (AWS JSON 1.0, botocore model apprunner/2020-05-15)
# ---------------------------------------------------------------------------------------------
#
# Services live in memory. Operations are asynchronous as in the real service: CreateService,
# UpdateService, DeleteService, PauseService, ResumeService and StartDeployment return at once
# with the service in OPERATION_IN_PROGRESS and an OperationId; the operation completes
# CONFIG["apprunner_delay"] seconds later. Time advances lazily: every App Runner call and every
# control-API read first completes the operations that are due, so there are no timer threads.

APPRUNNER_ASYNC_OPERATIONS = frozenset(
    {"CreateService", "UpdateService", "DeleteService", "PauseService", "ResumeService",
     "StartDeployment"}
)

_RX = re.ASCII  # the model's patterns are Java regexes: \w is ASCII there


def _ar_string(min_len=None, max_len=None, pattern=None, enum=None, sensitive=False) -> dict:
    return {
        "type": "string",
        "min": min_len,
        "max": max_len,
        "pattern": pattern,
        "regex": re.compile(pattern, _RX) if pattern else None,
        "enum": enum,
        "sensitive": sensitive,
    }


def _ar_int(lo=None, hi=None) -> dict:
    return {"type": "integer", "min": lo, "max": hi}


def _ar_struct(members: dict, required=()) -> dict:
    return {"type": "structure", "members": members, "required": tuple(required)}


_AR_BOOL = {"type": "boolean"}
_AR_STRING = _ar_string(0, 51200, ".*")
_AR_RESOURCE_ARN = _ar_string(
    1, 1011, r"arn:aws(-[\w]+)*:[a-z0-9-\\.]{0,63}:[a-z0-9-\\.]{0,63}:[0-9]{12}:(\w|\/|-){1,1011}"
)
_AR_ROLE_ARN = _ar_string(
    29,
    1024,
    r"arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):iam::[0-9]{12}:(role|role\/service-role)\/[\w+=,.@\-/]{1,1000}",
)
_AR_IMAGE_IDENTIFIER_PATTERN = (
    r"([0-9]{12}.dkr.ecr.[a-z\-]+-[0-9]{1}.amazonaws.com\/((?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*"
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*)(:([\w\d+\-=._:\/@])+|@([\w\d\:]+))?)|(^public\.ecr\.aws\/.+\/"
    r"((?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)(:([\w\d+\-=._:\/@])+|"
    r"@([\w\d\:]+))?)"
)
_AR_ENV_VARS = {
    "type": "map",
    "key": _ar_string(1, 51200, ".*", sensitive=True),
    "value": _ar_string(0, 51200, ".*", sensitive=True),
}
_AR_ENV_SECRETS = {
    "type": "map",
    "key": _ar_string(1, 2048, sensitive=True),
    "value": _ar_string(1, 2048, sensitive=True),
}
_AR_START_COMMAND = _ar_string(pattern=r"[^\x0a\x0d]+", sensitive=True)

# The request shapes the emulator serves, transcribed from botocore's apprunner/2020-05-15 model
# (members, required members, lengths, ranges, patterns, enums). Shape names refer to this table.
AR_SHAPES: dict[str, dict] = {
    "ServiceName": _ar_string(4, 40, r"[A-Za-z0-9][A-Za-z0-9-_]{3,39}"),
    "AppRunnerResourceArn": _AR_RESOURCE_ARN,
    "SourceConfiguration": _ar_struct(
        {
            "CodeRepository": "CodeRepository",
            "ImageRepository": "ImageRepository",
            "AutoDeploymentsEnabled": _AR_BOOL,
            "AuthenticationConfiguration": "AuthenticationConfiguration",
        }
    ),
    "CodeRepository": _ar_struct(
        {
            "RepositoryUrl": _AR_STRING,
            "SourceCodeVersion": "SourceCodeVersion",
            "CodeConfiguration": "CodeConfiguration",
            "SourceDirectory": _ar_string(1, 4096, r"[^\x00]+"),
        },
        required=("RepositoryUrl", "SourceCodeVersion"),
    ),
    "SourceCodeVersion": _ar_struct(
        {"Type": _ar_string(enum=("BRANCH",)), "Value": _AR_STRING}, required=("Type", "Value")
    ),
    "CodeConfiguration": _ar_struct(
        {
            "ConfigurationSource": _ar_string(enum=("REPOSITORY", "API")),
            "CodeConfigurationValues": "CodeConfigurationValues",
        },
        required=("ConfigurationSource",),
    ),
    "CodeConfigurationValues": _ar_struct(
        {
            "Runtime": _ar_string(
                enum=("PYTHON_3", "NODEJS_12", "NODEJS_14", "CORRETTO_8", "CORRETTO_11",
                      "NODEJS_16", "GO_1", "DOTNET_6", "PHP_81", "RUBY_31", "PYTHON_311",
                      "NODEJS_18", "NODEJS_22")
            ),
            "BuildCommand": _ar_string(pattern=r"[^\x0a\x0d]+", sensitive=True),
            "StartCommand": _AR_START_COMMAND,
            "Port": _AR_STRING,
            "RuntimeEnvironmentVariables": _AR_ENV_VARS,
            "RuntimeEnvironmentSecrets": _AR_ENV_SECRETS,
        },
        required=("Runtime",),
    ),
    "ImageRepository": _ar_struct(
        {
            "ImageIdentifier": _ar_string(1, 1024, _AR_IMAGE_IDENTIFIER_PATTERN),
            "ImageConfiguration": "ImageConfiguration",
            "ImageRepositoryType": _ar_string(enum=("ECR", "ECR_PUBLIC")),
        },
        required=("ImageIdentifier", "ImageRepositoryType"),
    ),
    "ImageConfiguration": _ar_struct(
        {
            "RuntimeEnvironmentVariables": _AR_ENV_VARS,
            "StartCommand": _AR_START_COMMAND,
            "Port": _AR_STRING,
            "RuntimeEnvironmentSecrets": _AR_ENV_SECRETS,
        }
    ),
    "AuthenticationConfiguration": _ar_struct(
        {"ConnectionArn": _AR_RESOURCE_ARN, "AccessRoleArn": _AR_ROLE_ARN}
    ),
    "InstanceConfiguration": _ar_struct(
        {
            "Cpu": _ar_string(3, 9, r"256|512|1024|2048|4096|(0.25|0.5|1|2|4) vCPU"),
            "Memory": _ar_string(
                3, 6, r"512|1024|2048|3072|4096|6144|8192|10240|12288|(0.5|1|2|3|4|6|8|10|12) GB"
            ),
            "InstanceRoleArn": _AR_ROLE_ARN,
        }
    ),
    "Tag": _ar_struct({"Key": _ar_string(1, 128, r"^(?!aws:).+"), "Value": _ar_string(0, 256, ".*")}),
    "TagList": {"type": "list", "member": "Tag"},
    "TagKeyList": {"type": "list", "member": _ar_string(1, 128, r"^(?!aws:).+")},
    "EncryptionConfiguration": _ar_struct(
        {
            "KmsKey": _ar_string(
                0,
                256,
                r"arn:aws(-[\w]+)*:kms:[a-z\-]+-[0-9]{1}:[0-9]{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-"
                r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            )
        },
        required=("KmsKey",),
    ),
    "HealthCheckConfiguration": _ar_struct(
        {
            "Protocol": _ar_string(enum=("TCP", "HTTP")),
            "Path": _ar_string(1),
            "Interval": _ar_int(1, 20),
            "Timeout": _ar_int(1, 20),
            "HealthyThreshold": _ar_int(1, 20),
            "UnhealthyThreshold": _ar_int(1, 20),
        }
    ),
    "NetworkConfiguration": _ar_struct(
        {
            "EgressConfiguration": _ar_struct(
                {"EgressType": _ar_string(enum=("DEFAULT", "VPC")), "VpcConnectorArn": _AR_RESOURCE_ARN}
            ),
            "IngressConfiguration": _ar_struct({"IsPubliclyAccessible": _AR_BOOL}),
            "IpAddressType": _ar_string(enum=("IPV4", "DUAL_STACK")),
        }
    ),
    "ServiceObservabilityConfiguration": _ar_struct(
        {"ObservabilityEnabled": _AR_BOOL, "ObservabilityConfigurationArn": _AR_RESOURCE_ARN},
        required=("ObservabilityEnabled",),
    ),
    "NextToken": _ar_string(1, 1024, ".*"),
    "MaxResults": _ar_int(1, 20),
}


def _ar_path(path: str) -> str:
    """A member path as AWS validation messages spell it (lowerCamelCase segments)."""
    return ".".join(part[:1].lower() + part[1:] for part in path.split("."))


def _ar_validate(value: Any, shape: Any, path: str, errors: list) -> Any:
    """Check ``value`` against a shape of AR_SHAPES; returns a copy with only modeled members.

    Type mismatches raise SerializationException (the JSON does not fit the model); constraint
    violations are collected in ``errors`` as AWS phrases them."""
    if isinstance(shape, str):
        shape = AR_SHAPES[shape]
    kind = shape["type"]
    where = _ar_path(path)
    if kind == "structure":
        if not isinstance(value, dict):
            raise AwsError("SerializationException", f"Expected an object at '{where}'")
        out = {}
        for member in shape["required"]:
            if value.get(member) is None:
                errors.append(
                    f"Value null at '{_ar_path(path + '.' + member if path else member)}' failed to "
                    "satisfy constraint: Member must not be null"
                )
        for member, member_shape in shape["members"].items():
            if value.get(member) is not None:
                out[member] = _ar_validate(
                    value[member], member_shape, f"{path}.{member}" if path else member, errors
                )
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise AwsError("SerializationException", f"Expected a list at '{where}'")
        return [
            _ar_validate(item, shape["member"], f"{path}.{i + 1}.member", errors)
            for i, item in enumerate(value)
        ]
    if kind == "map":
        if not isinstance(value, dict):
            raise AwsError("SerializationException", f"Expected an object at '{where}'")
        out = {}
        for key, item in value.items():
            _ar_validate(key, shape["key"], path, errors)
            out[key] = _ar_validate(item, shape["value"], path, errors)
        return out
    if kind == "boolean":
        if not isinstance(value, bool):
            raise AwsError("SerializationException", f"Expected a boolean at '{where}'")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise AwsError("SerializationException", f"Expected an integer at '{where}'")
        if shape["min"] is not None and value < shape["min"]:
            errors.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value "
                f"greater than or equal to {shape['min']}"
            )
        if shape["max"] is not None and value > shape["max"]:
            errors.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value "
                f"less than or equal to {shape['max']}"
            )
        return value
    # string
    if not isinstance(value, str):
        raise AwsError("SerializationException", f"Expected a string at '{where}'")
    shown = "Value" if shape["sensitive"] else f"Value '{value}'"
    if shape["min"] is not None and len(value) < shape["min"]:
        errors.append(
            f"{shown} at '{where}' failed to satisfy constraint: Member must have length greater "
            f"than or equal to {shape['min']}"
        )
    elif shape["max"] is not None and len(value) > shape["max"]:
        errors.append(
            f"{shown} at '{where}' failed to satisfy constraint: Member must have length less than "
            f"or equal to {shape['max']}"
        )
    elif shape["regex"] is not None and not shape["regex"].fullmatch(value):
        errors.append(
            f"{shown} at '{where}' failed to satisfy constraint: Member must satisfy regular "
            f"expression pattern: {shape['pattern']}"
        )
    if shape["enum"] is not None and value not in shape["enum"]:
        errors.append(
            f"{shown} at '{where}' failed to satisfy constraint: Member must satisfy enum value "
            f"set: [{', '.join(shape['enum'])}]"
        )
    return value


def _ar_invalid(message: str) -> AwsError:
    return AwsError("InvalidRequestException", message, 400, message_key="Message")


def _ar_request(req: dict, members: dict, required=()) -> dict:
    """Validate a request against its members; InvalidRequestException lists the violations."""
    errors: list[str] = []
    out = _ar_validate(req, _ar_struct(members, required), "", errors)
    if errors:
        count = len(errors)
        raise _ar_invalid(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors)
        )
    return out


# InstanceConfiguration: accepted spellings -> how DescribeService reports them (CPU units, MB).
AR_CPU_UNITS = {
    "256": "256", "512": "512", "1024": "1024", "2048": "2048", "4096": "4096",
    "0.25 vCPU": "256", "0.5 vCPU": "512", "1 vCPU": "1024", "2 vCPU": "2048", "4 vCPU": "4096",
}
AR_MEMORY_MB = {
    "512": "512", "1024": "1024", "2048": "2048", "3072": "3072", "4096": "4096", "6144": "6144",
    "8192": "8192", "10240": "10240", "12288": "12288",
    "0.5 GB": "512", "1 GB": "1024", "2 GB": "2048", "3 GB": "3072", "4 GB": "4096",
    "6 GB": "6144", "8 GB": "8192", "10 GB": "10240", "12 GB": "12288",
}
# The CPU/memory combinations App Runner supports (CPU units -> memory MB).
AR_CPU_MEMORY = {
    "256": ("512", "1024"),
    "512": ("1024",),
    "1024": ("2048", "3072", "4096"),
    "2048": ("4096", "6144"),
    "4096": ("8192", "10240", "12288"),
}
AR_DEFAULT_CPU, AR_DEFAULT_MEMORY = "1024", "2048"  # 1 vCPU, 2 GB
AR_HEALTH_CHECK_DEFAULTS = {
    "Protocol": "TCP", "Path": "/", "Interval": 5, "Timeout": 2, "HealthyThreshold": 1,
    "UnhealthyThreshold": 5,
}
AR_DEFAULT_PORT = "8080"
AR_RESERVED_ENV_PREFIX = "AWSAPPRUNNER"
AR_AUTOSCALING_ARN = re.compile(
    r"arn:aws(-[\w]+)*:apprunner:([a-z0-9-]+):([0-9]{12}):autoscalingconfiguration/"
    r"([A-Za-z0-9][A-Za-z0-9\-_]{3,31})(?:/([0-9]+)(?:/([0-9a-f]{32}))?)?",
    _RX,
)
AR_ECR_ACCOUNT = re.compile(r"([0-9]{12})\.dkr\.ecr\.")


def _ar_now() -> float:
    return round(time.time(), 3)


class AppRunnerStore:
    """App Runner services and their operations, per region; one lock for all of it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.services: dict[str, dict] = {}  # ARN -> service record
        self.deleted_count = 0  # services whose deletion completed since the last reset
        self.faults: Optional[Faults] = None  # set by the server: stall faults are looked up there

    def reset(self) -> None:
        with self.lock:
            self.services.clear()
            self.deleted_count = 0

    # -- time ---------------------------------------------------------------------------------

    def advance(self, now: Optional[float] = None) -> None:
        """Complete the operations that are due; forget deleted services past their retention."""
        now = _ar_now() if now is None else now
        with self.lock:
            for svc in list(self.services.values()):
                while svc["pending"] is not None and self._settle(svc, svc["pending"], now):
                    pass
                if svc["status"] == "DELETED":
                    retention = CONFIG.get("apprunner_deleted_retention")
                    if svc["deleted_at"] + retention <= now:
                        del self.services[svc["arn"]]

    def _settle(self, svc: dict, op: dict, now: float) -> bool:
        """Move ``op`` on if its time has come; True when it changed (look again)."""
        if op["stall_fault"] is not None:
            released_at = None
            if op["stall_until"] is not None and now >= op["stall_until"]:
                released_at = op["stall_until"]
            elif self.faults is None or not self.faults.is_active(op["stall_fault"]):
                released_at = now
            if released_at is None:
                return False
            op["stall_fault"] = None
            op["due"] = max(op["due"], released_at)
        if now < op["due"]:
            return False
        at = round(op["due"], 3)
        kind, failed = op["Type"], op["fail_message"] is not None
        op["UpdatedAt"] = at
        if op["Status"] == "ROLLBACK_IN_PROGRESS":
            self._finish(svc, op, "ROLLBACK_SUCCEEDED", op["prev_status"], at)
            return True
        if kind == "CREATE_SERVICE":
            self._finish(svc, op, "FAILED" if failed else "SUCCEEDED",
                         "CREATE_FAILED" if failed else "RUNNING", at)
        elif kind in ("UPDATE_SERVICE", "START_DEPLOYMENT"):
            if not failed:
                # An update applied to a paused service leaves it paused; a rebuilt failed
                # service runs.
                self._finish(svc, op, "SUCCEEDED",
                             "PAUSED" if op["prev_status"] == "PAUSED" else "RUNNING", at)
            elif op["prev_status"] == "CREATE_FAILED":
                # Nothing to roll back to: the service stays failed.
                svc["config"] = op["prev_config"]
                self._finish(svc, op, "FAILED", "CREATE_FAILED", at)
            else:
                # The real service rolls back to the last good revision, which takes a while;
                # the operation reports ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCEEDED.
                svc["config"] = op["prev_config"]
                op["Status"] = "ROLLBACK_IN_PROGRESS"
                op["due"] = at + op["duration"]
                op["UpdatedAt"] = at
                return True
        elif kind == "PAUSE_SERVICE":
            self._finish(svc, op, "FAILED" if failed else "SUCCEEDED",
                         "RUNNING" if failed else "PAUSED", at)
        elif kind == "RESUME_SERVICE":
            self._finish(svc, op, "FAILED" if failed else "SUCCEEDED",
                         "PAUSED" if failed else "RUNNING", at)
        elif kind == "DELETE_SERVICE":
            if failed:
                self._finish(svc, op, "FAILED", "DELETE_FAILED", at)
            else:
                self._finish(svc, op, "SUCCEEDED", "DELETED", at)
                svc["deleted_at"] = at
                self.deleted_count += 1
        return True

    @staticmethod
    def _finish(svc: dict, op: dict, op_status: str, service_status: str, at: float) -> None:
        op["Status"] = op_status
        op["EndedAt"] = at
        op["UpdatedAt"] = at
        svc["status"] = service_status
        svc["updated_at"] = at
        svc["pending"] = None

    # -- operations ---------------------------------------------------------------------------

    def start(self, svc: dict, kind: str, prev_config: Optional[dict] = None) -> dict:
        """Start an asynchronous operation on ``svc``; applies a fail/stall fault if one matches."""
        now = _ar_now()
        ctx = current_context()
        take = ctx.get("take_async_fault")
        fault = take() if take is not None else None
        duration = CONFIG.get("apprunner_delay")
        op = {
            "Id": str(uuid.uuid4()),
            "Type": kind,
            "Status": "IN_PROGRESS",
            "TargetArn": svc["arn"],
            "StartedAt": now,
            "EndedAt": None,
            "UpdatedAt": now,
            "duration": duration,
            "due": now + duration,
            "prev_status": svc["status"],
            "prev_config": prev_config,
            "fail_message": None,
            "stall_fault": None,
            "stall_until": None,
            "fault": None,
        }
        if fault is not None:
            op["fault"] = {"id": fault["id"], "action": fault["action"], "message": fault["message"]}
            if fault["action"] == "fail":
                op["fail_message"] = fault["message"]
                if fault["seconds"] is not None:
                    op["duration"] = fault["seconds"]
                    op["due"] = now + fault["seconds"]
            else:  # stall
                op["stall_fault"] = fault["id"]
                if fault["seconds"] is not None:
                    op["stall_until"] = now + fault["seconds"]
        svc["ops"].append(op)
        svc["pending"] = op
        svc["status"] = "OPERATION_IN_PROGRESS"
        svc["updated_at"] = now
        return op

    # -- lookups ------------------------------------------------------------------------------

    def find(self, arn: str, region: str, *, deleted_ok: bool = False) -> dict:
        svc = self.services.get(arn)
        if svc is None or svc["region"] != region or (svc["status"] == "DELETED" and not deleted_ok):
            raise AwsError(
                "ResourceNotFoundException",
                f"Resource with ARN {arn} doesn't exist in your account",
                400,
                message_key="Message",
            )
        return svc

    # -- views --------------------------------------------------------------------------------

    @staticmethod
    def describe(svc: dict) -> dict:
        """The Service shape (DescribeService, CreateService, ... responses)."""
        config = json.loads(json.dumps(svc["config"]))
        out = {
            "ServiceName": svc["name"],
            "ServiceId": svc["id"],
            "ServiceArn": svc["arn"],
            "ServiceUrl": svc["url"],
            "CreatedAt": svc["created_at"],
            "UpdatedAt": svc["updated_at"],
        }
        if svc["deleted_at"] is not None:
            out["DeletedAt"] = svc["deleted_at"]
        out["Status"] = svc["status"]
        for key in ("SourceConfiguration", "InstanceConfiguration", "EncryptionConfiguration",
                    "HealthCheckConfiguration", "AutoScalingConfigurationSummary",
                    "NetworkConfiguration", "ObservabilityConfiguration"):
            if key in config:
                out[key] = config[key]
        return out

    @staticmethod
    def summary(svc: dict) -> dict:
        return {
            "ServiceName": svc["name"],
            "ServiceId": svc["id"],
            "ServiceArn": svc["arn"],
            "ServiceUrl": svc["url"],
            "CreatedAt": svc["created_at"],
            "UpdatedAt": svc["updated_at"],
            "Status": svc["status"],
        }

    @staticmethod
    def operation(op: dict, internal: bool = False) -> dict:
        out = {k: op[k] for k in ("Id", "Type", "Status", "TargetArn", "StartedAt")}
        if op["EndedAt"] is not None:
            out["EndedAt"] = op["EndedAt"]
        out["UpdatedAt"] = op["UpdatedAt"]
        if internal:
            # Not in the API: what the emulator knows about why (fault message, stall).
            out["Message"] = op["fail_message"]
            out["Fault"] = op["fault"]
            out["Stalled"] = op["stall_fault"] is not None
        return out

    def control_view(self) -> dict:
        """GET /_emulator/apprunner/services."""
        with self.lock:
            self.advance()
            live = [s for s in self.services.values() if s["status"] != "DELETED"]
            services = []
            for svc in sorted(live, key=lambda s: (s["created_at"], s["arn"])):
                view = self.describe(svc)
                view["Region"] = svc["region"]
                view["Tags"] = [{"Key": k, "Value": v} for k, v in svc["tags"].items()]
                view["Operations"] = [self.operation(op, internal=True) for op in reversed(svc["ops"])]
                services.append(view)
            return {
                "services": services,
                "count": len(services),
                "deleted_count": self.deleted_count,
                "deleted_retained": sorted(
                    s["arn"] for s in self.services.values() if s["status"] == "DELETED"
                ),
            }


APPRUNNER = AppRunnerStore()


@on_reset
def _reset_apprunner() -> None:
    APPRUNNER.reset()


def _ar_scope() -> tuple[str, str]:
    ctx = current_context()
    return ctx.get("region") or DEFAULT_REGION, ctx.get("account_id") or DEFAULT_ACCOUNT_ID


def _ar_state_error(svc: dict, action: str) -> AwsError:
    status = svc["status"]
    if status == "OPERATION_IN_PROGRESS":
        why = f"an operation ({svc['pending']['Type']}) is in progress on it"
    else:
        why = f"it is in {status} status"
    return AwsError(
        "InvalidStateException",
        f"You can't {action} service {svc['arn']} because {why}.",
        400,
        message_key="Message",
    )


def _ar_page(items: list, req: dict) -> tuple[list, Optional[str]]:
    start = 0
    token = req.get("NextToken")
    if token is not None:
        try:
            start = int(base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii"))
            if start < 0 or start > len(items):
                raise ValueError
        except (ValueError, UnicodeError, binascii.Error):
            raise _ar_invalid("The NextToken is not valid.") from None
    size = req.get("MaxResults")
    end = len(items) if size is None else min(len(items), start + size)
    next_token = None
    if end < len(items):
        next_token = base64.urlsafe_b64encode(str(end).encode("ascii")).decode("ascii")
    return items[start:end], next_token


def _ar_check_source(source: dict, account: str) -> dict:
    """Semantic checks of a SourceConfiguration (after the model's); returns it with the
    defaults the service fills in."""
    code, image = source.get("CodeRepository"), source.get("ImageRepository")
    if (code is None) == (image is None):
        raise _ar_invalid(
            "SourceConfiguration must contain exactly one of CodeRepository and ImageRepository."
        )
    auth = source.get("AuthenticationConfiguration") or {}
    if image is not None:
        identifier, kind = image["ImageIdentifier"], image["ImageRepositoryType"]
        public = identifier.startswith("public.ecr.aws/")
        if kind == "ECR" and public:
            raise _ar_invalid(
                f"ImageIdentifier {identifier} is an Amazon ECR Public image; set ImageRepositoryType "
                "to ECR_PUBLIC."
            )
        if kind == "ECR_PUBLIC" and not public:
            raise _ar_invalid(
                f"ImageIdentifier {identifier} is not an Amazon ECR Public image; set "
                "ImageRepositoryType to ECR."
            )
        if kind == "ECR" and not auth.get("AccessRoleArn"):
            raise _ar_invalid(
                "Authentication configuration is invalid: an AccessRoleArn is required to pull an "
                "image from a private Amazon ECR repository."
            )
        config = image.setdefault("ImageConfiguration", {})
        config.setdefault("Port", AR_DEFAULT_PORT)
        values = config
        match = AR_ECR_ACCOUNT.match(identifier)
        auto_default = kind == "ECR" and match is not None and match.group(1) == account
        if source.get("AutoDeploymentsEnabled") and kind == "ECR_PUBLIC":
            raise _ar_invalid(
                "Automatic deployments aren't supported for images in Amazon ECR Public; set "
                "AutoDeploymentsEnabled to false."
            )
    else:
        if not auth.get("ConnectionArn"):
            raise _ar_invalid(
                "Authentication configuration is invalid: a ConnectionArn is required for a source "
                "code repository."
            )
        code_config = code.get("CodeConfiguration") or {}
        values = code_config.get("CodeConfigurationValues") or {}
        if code_config.get("ConfigurationSource") == "API" and not values:
            raise _ar_invalid(
                "CodeConfigurationValues are required when ConfigurationSource is API."
            )
        auto_default = True
    for name in values.get("RuntimeEnvironmentVariables") or {}:
        if name.upper().startswith(AR_RESERVED_ENV_PREFIX):
            raise _ar_invalid(
                f"Environment variable names starting with {AR_RESERVED_ENV_PREFIX} are reserved."
            )
    for name in values.get("RuntimeEnvironmentSecrets") or {}:
        if name.upper().startswith(AR_RESERVED_ENV_PREFIX):
            raise _ar_invalid(
                f"Environment variable names starting with {AR_RESERVED_ENV_PREFIX} are reserved."
            )
    source.setdefault("AutoDeploymentsEnabled", auto_default)
    return source


def _ar_instance(config: dict) -> dict:
    """InstanceConfiguration as the service reports it: Cpu in CPU units, Memory in MB."""
    cpu = AR_CPU_UNITS.get(config.get("Cpu", AR_DEFAULT_CPU))
    memory = AR_MEMORY_MB.get(config.get("Memory", AR_DEFAULT_MEMORY))
    if cpu is None:
        raise _ar_invalid(f"Cpu value {config['Cpu']} is not supported.")
    if memory is None:
        raise _ar_invalid(f"Memory value {config['Memory']} is not supported.")
    if memory not in AR_CPU_MEMORY[cpu]:
        raise _ar_invalid(
            f"The combination of Cpu {config.get('Cpu', AR_DEFAULT_CPU)} and Memory "
            f"{config.get('Memory', AR_DEFAULT_MEMORY)} is not supported."
        )
    out = {"Cpu": cpu, "Memory": memory}
    if config.get("InstanceRoleArn"):
        out["InstanceRoleArn"] = config["InstanceRoleArn"]
    return out


def _ar_network(config: dict) -> dict:
    egress = dict(config.get("EgressConfiguration") or {})
    egress.setdefault("EgressType", "DEFAULT")
    if egress["EgressType"] == "VPC" and not egress.get("VpcConnectorArn"):
        raise _ar_invalid("A VpcConnectorArn is required when EgressType is VPC.")
    if egress["EgressType"] == "DEFAULT" and egress.get("VpcConnectorArn"):
        raise _ar_invalid("VpcConnectorArn can be set only when EgressType is VPC.")
    ingress = dict(config.get("IngressConfiguration") or {})
    ingress.setdefault("IsPubliclyAccessible", True)
    return {
        "EgressConfiguration": egress,
        "IngressConfiguration": ingress,
        "IpAddressType": config.get("IpAddressType", "IPV4"),
    }


def _ar_autoscaling(arn: Optional[str], region: str, account: str) -> dict:
    if arn is None:
        return {
            "AutoScalingConfigurationArn": f"arn:aws:apprunner:{region}:{account}:autoscalingconfiguration/"
            "DefaultConfiguration/1/00000000000000000000000000000001",
            "AutoScalingConfigurationName": "DefaultConfiguration",
            "AutoScalingConfigurationRevision": 1,
            "Status": "ACTIVE",
            "HasAssociatedService": True,
            "IsDefault": True,
        }
    match = AR_AUTOSCALING_ARN.fullmatch(arn)
    if match is None or match.group(2) != region or match.group(3) != account:
        raise _ar_invalid(f"AutoScalingConfigurationArn {arn} is invalid.")
    name, revision = match.group(4), int(match.group(5) or 1)
    suffix = match.group(6) or uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{revision}").hex
    return {
        "AutoScalingConfigurationArn": f"arn:aws:apprunner:{region}:{account}:autoscalingconfiguration/"
        f"{name}/{revision}/{suffix}",
        "AutoScalingConfigurationName": name,
        "AutoScalingConfigurationRevision": revision,
        "Status": "ACTIVE",
        "HasAssociatedService": True,
        "IsDefault": name == "DefaultConfiguration" and revision == 1,
    }


def _ar_tags(tags: list) -> list:
    for tag in tags:
        if "Key" not in tag:
            raise _ar_invalid("Each tag must have a Key.")
    return tags


_AR_SERVICE_MEMBERS = {
    "SourceConfiguration": "SourceConfiguration",
    "InstanceConfiguration": "InstanceConfiguration",
    "AutoScalingConfigurationArn": "AppRunnerResourceArn",
    "HealthCheckConfiguration": "HealthCheckConfiguration",
    "NetworkConfiguration": "NetworkConfiguration",
    "ObservabilityConfiguration": "ServiceObservabilityConfiguration",
}


@handler("apprunner")
def CreateService(req: dict) -> dict:
    req = _ar_request(
        req,
        {"ServiceName": "ServiceName", **_AR_SERVICE_MEMBERS, "Tags": "TagList",
         "EncryptionConfiguration": "EncryptionConfiguration"},
        required=("ServiceName", "SourceConfiguration"),
    )
    region, account = _ar_scope()
    name = req["ServiceName"]
    config = {
        "SourceConfiguration": _ar_check_source(req["SourceConfiguration"], account),
        "InstanceConfiguration": _ar_instance(req.get("InstanceConfiguration") or {}),
        "HealthCheckConfiguration": {**AR_HEALTH_CHECK_DEFAULTS, **(req.get("HealthCheckConfiguration") or {})},
        "AutoScalingConfigurationSummary": _ar_autoscaling(req.get("AutoScalingConfigurationArn"), region, account),
        "NetworkConfiguration": _ar_network(req.get("NetworkConfiguration") or {}),
        "ObservabilityConfiguration": req.get("ObservabilityConfiguration") or {"ObservabilityEnabled": False},
    }
    if "EncryptionConfiguration" in req:
        config["EncryptionConfiguration"] = req["EncryptionConfiguration"]
    tags = _ar_tags(req.get("Tags") or [])
    with APPRUNNER.lock:
        APPRUNNER.advance()
        for other in APPRUNNER.services.values():
            if other["region"] == region and other["name"] == name and other["status"] != "DELETED":
                raise _ar_invalid(f"Service with the provided name already exists: {name}")
        service_id = uuid.uuid4().hex
        now = _ar_now()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        subdomain = "".join(alphabet[b % len(alphabet)] for b in os.urandom(10))
        svc = {
            "arn": f"arn:aws:apprunner:{region}:{account}:service/{name}/{service_id}",
            "name": name,
            "id": service_id,
            "region": region,
            "url": f"{subdomain}.{region}.awsapprunner.com",
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
            "status": "OPERATION_IN_PROGRESS",
            "config": config,
            "tags": {t["Key"]: t.get("Value", "") for t in tags},
            "ops": [],
            "pending": None,
        }
        APPRUNNER.services[svc["arn"]] = svc
        op = APPRUNNER.start(svc, "CREATE_SERVICE")
        return {"Service": APPRUNNER.describe(svc), "OperationId": op["Id"]}


@handler("apprunner")
def DescribeService(req: dict) -> dict:
    req = _ar_request(req, {"ServiceArn": "AppRunnerResourceArn"}, required=("ServiceArn",))
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region, deleted_ok=True)
        return {"Service": APPRUNNER.describe(svc)}


@handler("apprunner")
def UpdateService(req: dict) -> dict:
    req = _ar_request(
        req, {"ServiceArn": "AppRunnerResourceArn", **_AR_SERVICE_MEMBERS}, required=("ServiceArn",)
    )
    region, account = _ar_scope()
    if not any(member in req for member in _AR_SERVICE_MEMBERS):
        raise _ar_invalid("No configurations provided in the UpdateService request")
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region)
        if svc["status"] not in ("RUNNING", "PAUSED", "CREATE_FAILED"):
            raise _ar_state_error(svc, "update")
        old = svc["config"]
        new = json.loads(json.dumps(old))
        if "SourceConfiguration" in req:
            source = req["SourceConfiguration"]
            had_image = "ImageRepository" in old["SourceConfiguration"]
            if ("ImageRepository" in source and not had_image) or ("CodeRepository" in source and had_image):
                raise _ar_invalid(
                    "You can't switch a service between a source code repository and a source image "
                    "repository."
                )
            # The repository member given replaces the stored one as a whole (ImageConfiguration
            # included); AuthenticationConfiguration is kept unless given; AutoDeploymentsEnabled
            # falls back to its default for the new source unless given.
            merged = {k: v for k, v in new["SourceConfiguration"].items()
                      if k not in ("CodeRepository", "ImageRepository", "AutoDeploymentsEnabled")}
            merged.update(source)
            if "CodeRepository" not in source and "ImageRepository" not in source:
                for key in ("CodeRepository", "ImageRepository"):
                    if key in new["SourceConfiguration"]:
                        merged[key] = new["SourceConfiguration"][key]
                if "AutoDeploymentsEnabled" not in source:
                    merged["AutoDeploymentsEnabled"] = new["SourceConfiguration"]["AutoDeploymentsEnabled"]
            new["SourceConfiguration"] = _ar_check_source(merged, account)
        if "InstanceConfiguration" in req:
            new["InstanceConfiguration"] = _ar_instance(
                {**new["InstanceConfiguration"], **req["InstanceConfiguration"]}
            )
        if "HealthCheckConfiguration" in req:
            new["HealthCheckConfiguration"] = {
                **new["HealthCheckConfiguration"], **req["HealthCheckConfiguration"]
            }
        if "AutoScalingConfigurationArn" in req:
            new["AutoScalingConfigurationSummary"] = _ar_autoscaling(
                req["AutoScalingConfigurationArn"], region, account
            )
        if "NetworkConfiguration" in req:
            network = req["NetworkConfiguration"]
            new["NetworkConfiguration"] = _ar_network(
                {
                    "EgressConfiguration": network.get(
                        "EgressConfiguration", new["NetworkConfiguration"]["EgressConfiguration"]
                    ),
                    "IngressConfiguration": {
                        **new["NetworkConfiguration"]["IngressConfiguration"],
                        **network.get("IngressConfiguration", {}),
                    },
                    "IpAddressType": network.get(
                        "IpAddressType", new["NetworkConfiguration"]["IpAddressType"]
                    ),
                }
            )
        if "ObservabilityConfiguration" in req:
            new["ObservabilityConfiguration"] = req["ObservabilityConfiguration"]
        svc["config"] = new  # the desired configuration; a failed update rolls it back
        op = APPRUNNER.start(svc, "UPDATE_SERVICE", prev_config=old)
        return {"Service": APPRUNNER.describe(svc), "OperationId": op["Id"]}


@handler("apprunner")
def DeleteService(req: dict) -> dict:
    req = _ar_request(req, {"ServiceArn": "AppRunnerResourceArn"}, required=("ServiceArn",))
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region)
        if svc["status"] == "OPERATION_IN_PROGRESS":
            raise _ar_state_error(svc, "delete")
        op = APPRUNNER.start(svc, "DELETE_SERVICE")
        return {"Service": APPRUNNER.describe(svc), "OperationId": op["Id"]}


@handler("apprunner")
def PauseService(req: dict) -> dict:
    req = _ar_request(req, {"ServiceArn": "AppRunnerResourceArn"}, required=("ServiceArn",))
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region)
        if svc["status"] != "RUNNING":
            raise _ar_state_error(svc, "pause")
        op = APPRUNNER.start(svc, "PAUSE_SERVICE")
        return {"Service": APPRUNNER.describe(svc), "OperationId": op["Id"]}


@handler("apprunner")
def ResumeService(req: dict) -> dict:
    req = _ar_request(req, {"ServiceArn": "AppRunnerResourceArn"}, required=("ServiceArn",))
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region)
        if svc["status"] != "PAUSED":
            raise _ar_state_error(svc, "resume")
        op = APPRUNNER.start(svc, "RESUME_SERVICE")
        return {"Service": APPRUNNER.describe(svc), "OperationId": op["Id"]}


@handler("apprunner")
def StartDeployment(req: dict) -> dict:
    req = _ar_request(req, {"ServiceArn": "AppRunnerResourceArn"}, required=("ServiceArn",))
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region)
        # StartDeployment's model has no InvalidStateException: state errors are invalid requests.
        if svc["status"] == "PAUSED":
            raise _ar_invalid(
                f"You can't deploy to service {svc['arn']} while it is paused; resume it first."
            )
        if svc["status"] not in ("RUNNING", "CREATE_FAILED"):
            error = _ar_state_error(svc, "start a deployment on")
            raise _ar_invalid(error.message)
        op = APPRUNNER.start(svc, "START_DEPLOYMENT", prev_config=json.loads(json.dumps(svc["config"])))
        return {"OperationId": op["Id"]}


@handler("apprunner")
def ListServices(req: dict) -> dict:
    req = _ar_request(req, {"NextToken": "NextToken", "MaxResults": "MaxResults"})
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        services = sorted(
            (s for s in APPRUNNER.services.values() if s["region"] == region and s["status"] != "DELETED"),
            key=lambda s: (s["created_at"], s["arn"]),
        )
        page, token = _ar_page([APPRUNNER.summary(s) for s in services], req)
    out: dict = {"ServiceSummaryList": page}
    if token is not None:
        out["NextToken"] = token
    return out


@handler("apprunner")
def ListOperations(req: dict) -> dict:
    req = _ar_request(
        req,
        {"ServiceArn": "AppRunnerResourceArn", "NextToken": "NextToken", "MaxResults": "MaxResults"},
        required=("ServiceArn",),
    )
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = APPRUNNER.find(req["ServiceArn"], region, deleted_ok=True)
        ops = [APPRUNNER.operation(op) for op in reversed(svc["ops"])]  # newest first
        page, token = _ar_page(ops, req)
    out: dict = {"OperationSummaryList": page}
    if token is not None:
        out["NextToken"] = token
    return out


def _ar_tagged(arn: str, region: str, action: str) -> dict:
    svc = APPRUNNER.find(arn, region, deleted_ok=True)
    if svc["status"] == "DELETED" and action != "list":
        raise _ar_state_error(svc, f"{action} tags of")
    return svc


@handler("apprunner")
def TagResource(req: dict) -> dict:
    req = _ar_request(
        req, {"ResourceArn": "AppRunnerResourceArn", "Tags": "TagList"}, required=("ResourceArn", "Tags")
    )
    region, _ = _ar_scope()
    tags = _ar_tags(req["Tags"])
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = _ar_tagged(req["ResourceArn"], region, "change")
        for tag in tags:
            svc["tags"][tag["Key"]] = tag.get("Value", "")
    return {}


@handler("apprunner")
def UntagResource(req: dict) -> dict:
    req = _ar_request(
        req,
        {"ResourceArn": "AppRunnerResourceArn", "TagKeys": "TagKeyList"},
        required=("ResourceArn", "TagKeys"),
    )
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = _ar_tagged(req["ResourceArn"], region, "change")
        for key in req["TagKeys"]:
            svc["tags"].pop(key, None)
    return {}


@handler("apprunner")
def ListTagsForResource(req: dict) -> dict:
    req = _ar_request(req, {"ResourceArn": "AppRunnerResourceArn"}, required=("ResourceArn",))
    region, _ = _ar_scope()
    with APPRUNNER.lock:
        APPRUNNER.advance()
        svc = _ar_tagged(req["ResourceArn"], region, "list")
        return {"Tags": [{"Key": k, "Value": v} for k, v in svc["tags"].items()]}


# ---------------------------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------------------------


class BadRequest(Exception):
    pass


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, moto_url: str, quiet: bool = False):
        super().__init__(address, RequestHandler)
        self.moto_url = moto_url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.moto_url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"--moto-url must be http://host:port, not {moto_url!r}")
        self.moto_host = parsed.hostname
        self.moto_port = parsed.port or 80
        self.faults = Faults()
        self.calls = CallLog()
        CONFIG.load_environment(os.environ)  # ValueError: a bad STAGECRAFT_APPRUNNER_* value
        APPRUNNER.faults = self.faults
        self.stopping = threading.Event()
        self.quiet = quiet
        self.forward_timeout = MAX_HANG_SECONDS + 60

    def moto_is_up(self) -> bool:
        try:
            with socket.create_connection((self.moto_host, self.moto_port), timeout=1.0):
                return True
        except OSError:
            return False


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, a keep-alive client
    # that delays its ACK (Linux: 40 ms) stalls every response. TCP_NODELAY on accepted sockets.
    disable_nagle_algorithm = True
    server: EmulatorServer

    # BaseHTTPRequestHandler dispatches on do_<METHOD>.
    def do_GET(self) -> None:
        try:
            self.serve()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True  # the client went away mid-request; nothing to answer

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- framing ------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        transfer_encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in transfer_encoding:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\n"):
                    raise BadRequest("truncated chunk size line")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunk size") from None
                if size == 0:
                    while True:  # trailers, up to the empty line
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    raise BadRequest("body too large")
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise BadRequest("truncated chunk")
                chunks.append(chunk)
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise BadRequest("missing CRLF after chunk")
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if n < 0 or n > MAX_BODY_BYTES:
            raise BadRequest("bad Content-Length")
        body = self.rfile.read(n)
        if len(body) != n:
            raise BadRequest("truncated body")
        return body

    def respond(self, status: int, headers: list, body: bytes, reason: Optional[str] = None) -> None:
        self.send_response_only(status, reason)
        has_date = False
        for name, value in headers:
            if name.lower() == "date":
                has_date = True
            self.send_header(name, value)
        if not has_date:
            self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def respond_json(self, status: int, value: Any) -> None:
        body = json.dumps(value, indent=None).encode("utf-8")
        self.respond(status, [("Content-Type", "application/json")], body)

    # -- dispatch -----------------------------------------------------------------------------

    def serve(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        try:
            body = self.read_body()
        except BadRequest as e:
            self.close_connection = True
            self.respond_json(400, {"__type": "BadRequest", "message": str(e)})
            return
        if path == "/_emulator" or path.startswith("/_emulator/"):
            self.control(path, body)
            return

        call = Call(self.command, self.path, self.headers, body)
        entry = self.server.calls.start(
            service=call.service,
            operation=call.operation,
            method=self.command,
            path=call.path,
            local=call.local,
        )
        status: Optional[int] = None

        def take_async_fault() -> Optional[dict]:
            """For a handler starting an asynchronous operation: the fail/stall fault for it."""
            fault = self.server.faults.take(call.service, call.operation, asynchronous=True)
            if fault is not None:
                entry["fault"] = fault["action"]
            return fault

        try:
            fault = self.server.faults.take(call.service, call.operation)
            if fault is not None:
                entry["fault"] = fault["action"]
                if fault["action"] == "delay":
                    if self.server.stopping.wait(fault["seconds"]):
                        self.close_connection = True
                        return
                elif fault["action"] == "hang":
                    self.hang(fault["seconds"])
                    self.close_connection = True
                    return
                else:
                    status, headers, err = call.error_response(
                        fault["code"], fault["message"], fault["status"]
                    )
                    self.respond(status, headers, err)
                    return
            if call.local:
                status = self.serve_local(call, take_async_fault)
            elif call.cbor_json_target and self.command == "POST":
                status = self.forward_cbor_as_json(call)
            else:
                status = self.forward(body)
        finally:
            self.server.calls.finish(entry, status)

    def hang(self, seconds: float) -> None:
        """Hold the request without answering until the client goes away, the time is up or
        the server stops."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while not self.server.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                readable, _, _ = select.select([sock], [], [], min(left, 0.2))
                if readable:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return  # client closed its end
                    time.sleep(0.2)  # pipelined bytes; keep holding
            except (OSError, ValueError):
                return

    def serve_local(self, call: Call, take_async_fault: Optional[Callable[[], Optional[dict]]] = None) -> int:
        request_id = str(uuid.uuid4())
        _context.value = {
            "service": call.service,
            "operation": call.operation,
            "region": call.region,
            "account_id": DEFAULT_ACCOUNT_ID,
            "access_key": call.access_key,
            "request_id": request_id,
            "take_async_fault": take_async_fault,
        }
        try:
            fn = HANDLERS.get(call.service, {}).get(call.operation or "")
            if fn is None:
                raise AwsError(
                    "UnknownOperationException",
                    f"Operation {call.target} is not supported by the stagecraft emulator",
                )
            if self.command != "POST":
                raise AwsError("UnknownOperationException", f"{self.command} is not supported")
            text = call.body.strip()
            try:
                request = json.loads(text) if text else {}
            except (ValueError, UnicodeDecodeError) as e:
                raise AwsError("SerializationException", f"Malformed JSON body: {e}") from None
            if not isinstance(request, dict):
                raise AwsError("SerializationException", "The request body must be a JSON object")
            result = fn(request)
            if result is None:
                result = {}
            body = json.dumps(result).encode("utf-8")
            headers = [("Content-Type", call.json_content_type()), ("x-amzn-RequestId", request_id)]
            self.respond(200, headers, body)
            return 200
        except AwsError as e:
            status, headers, body = call.error_response(e.code, e.message, e.status, e.message_key)
        except Exception as e:  # a bug in a handler: AWS's answer to that is InternalFailure
            traceback.print_exc()
            status, headers, body = call.error_response(
                "InternalFailure", f"emulator handler failed: {type(e).__name__}: {e}", 500
            )
        finally:
            _context.value = {}
        self.respond(status, headers, body)
        return status

    def forward(self, body: bytes) -> int:
        conn = http.client.HTTPConnection(
            self.server.moto_host, self.server.moto_port, timeout=self.server.forward_timeout
        )
        try:
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                has_host = had_length = False
                for name, value in self.headers.items():
                    lower = name.lower()
                    if lower == "host":
                        has_host = True
                    if lower in ("content-length", "transfer-encoding"):
                        had_length = True
                    if lower in HOP_BY_HOP or lower in ("content-length", "expect"):
                        continue
                    conn.putheader(name, value)
                if not has_host:
                    conn.putheader("Host", f"{self.server.moto_host}:{self.server.moto_port}")
                if had_length or body:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                status, headers, err = Call(self.command, self.path, self.headers, body).error_response(
                    "ServiceUnavailable", f"emulator could not reach moto: {e}", 502
                )
                self.respond(status, headers, err)
                return status
            headers = []
            original_length = None
            for name, value in resp.getheaders():
                lower = name.lower()
                if lower == "content-length":
                    original_length = value
                    continue
                if lower in HOP_BY_HOP:
                    continue
                headers.append((name, value))
            if self.command == "HEAD" or resp.status in (204, 304):
                # No body was sent; keep the length moto announced (e.g. HEAD on an S3 object).
                self.send_response_only(resp.status, resp.reason)
                for name, value in headers:
                    self.send_header(name, value)
                if original_length is not None and resp.status != 204:
                    self.send_header("Content-Length", original_length)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
            else:
                self.respond(resp.status, headers, data, reason=resp.reason)
            return resp.status
        finally:
            conn.close()

    def forward_cbor_as_json(self, call: Call) -> int:
        """A Smithy RPC v2 CBOR call of a service moto serves only over AWS JSON 1.0 (CloudWatch):
        the body goes to moto as JSON with ``X-Amz-Target: <prefix>.<Op>`` (the other headers,
        SigV4 included, as they came) and moto's answer comes back as CBOR: same status, output
        or error (``{"__type", "message"}``, ``__type`` without the ``namespace#``)."""
        cbor_headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        try:
            request = cborlite.loads(call.body) if call.body else {}
        except cborlite.CBORDecodeError as e:
            status, headers, err = call.error_response(
                "SerializationException", f"Malformed CBOR body: {e}", 400
            )
            self.respond(status, headers, err)
            return status
        if not isinstance(request, dict):
            status, headers, err = call.error_response(
                "SerializationException", "The request body must be a CBOR map", 400
            )
            self.respond(status, headers, err)
            return status
        payload = json.dumps(_cbor_request_to_json(request)).encode("utf-8")
        conn = http.client.HTTPConnection(
            self.server.moto_host, self.server.moto_port, timeout=self.server.forward_timeout
        )
        try:
            conn.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
            has_host = False
            for name, value in self.headers.items():
                lower = name.lower()
                if lower == "host":
                    has_host = True
                if lower in HOP_BY_HOP or lower in (
                    "content-length", "content-type", "expect", "accept", "smithy-protocol",
                    "x-amz-target",
                ):  # fmt: skip
                    continue
                conn.putheader(name, value)
            if not has_host:
                conn.putheader("Host", f"{self.server.moto_host}:{self.server.moto_port}")
            if call.access_key is None and not self.headers.get("Authorization"):
                # moto routes by the credential scope; an unsigned call gets a placeholder one.
                conn.putheader(
                    "Authorization",
                    f"AWS4-HMAC-SHA256 Credential=testing/20000101/{call.region}/{call.service}/"
                    "aws4_request, SignedHeaders=host, Signature=unsigned",
                )
            conn.putheader("Content-Type", "application/x-amz-json-1.0")
            conn.putheader("X-Amz-Target", call.cbor_json_target)
            conn.putheader("Content-Length", str(len(payload)))
            conn.endheaders(payload)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            status, headers, err = call.error_response(
                "ServiceUnavailable", f"emulator could not reach moto: {e}", 502
            )
            self.respond(status, headers, err)
            return status
        finally:
            conn.close()
        request_id = resp.getheader("x-amzn-RequestId") or str(uuid.uuid4())
        headers = [("x-amzn-RequestId", request_id)]
        try:
            answer = json.loads(data) if data.strip() else {}
        except (ValueError, UnicodeDecodeError):
            answer = None
        if 200 <= resp.status < 300 and isinstance(answer, dict):
            payload = cborlite.dumps(_json_answer_to_cbor(answer))
            self.respond(resp.status, headers + cbor_headers, payload)
            return resp.status
        if 200 <= resp.status < 300:
            code, status = "InternalFailure", 500
            message = "moto answered with a body that is not JSON"
        elif isinstance(answer, dict):
            code = str(answer.get("__type") or resp.getheader("x-amzn-ErrorType") or "UnknownError")
            message = str(answer.get("message") or answer.get("Message") or "")
            status = resp.status
        else:
            code = "InternalFailure" if resp.status >= 500 else "UnknownError"
            text = re.sub(r"<[^>]*>|\s+", " ", data.decode("utf-8", "replace")).strip()
            message = f"moto answered HTTP {resp.status}: {text[:300]}"
            status = resp.status
        code = code.split(":", 1)[0].rsplit("#", 1)[-1]
        status, err_headers, body = call.error_response(code, message, status)
        query_error = resp.getheader("x-amzn-query-error")
        if query_error:  # awsQueryCompatible: the query-protocol code, as moto gave it
            err_headers = [(k, v) for k, v in err_headers if k.lower() != "x-amzn-query-error"]
            err_headers.append(("x-amzn-query-error", query_error))
        err_headers = [(k, v) for k, v in err_headers if k.lower() != "x-amzn-requestid"] + headers
        self.respond(status, err_headers, body)
        return status

    # -- control API --------------------------------------------------------------------------

    def control(self, path: str, body: bytes) -> None:
        server = self.server
        method = self.command
        parts = [p for p in path.split("/") if p][1:]  # drop "_emulator"
        try:
            if parts == ["health"] and method in ("GET", "HEAD"):
                self.respond_json(
                    200,
                    {
                        "status": "ok",
                        "pid": os.getpid(),
                        "moto_url": server.moto_url,
                        "moto": "up" if server.moto_is_up() else "down",
                        "services": {s: sorted(ops) for s, ops in HANDLERS.items()},
                    },
                )
            elif parts == ["faults"] and method == "GET":
                self.respond_json(200, server.faults.list())
            elif parts == ["faults"] and method == "POST":
                try:
                    spec = json.loads(body or b"null")
                except ValueError as e:
                    raise ControlError(f"malformed JSON: {e}") from None
                self.respond_json(200, server.faults.add(spec))
            elif parts == ["faults"] and method == "DELETE":
                server.faults.clear()
                self.respond_json(200, {"cleared": True})
            elif len(parts) == 2 and parts[0] == "faults" and method == "DELETE":
                try:
                    fault_id = int(parts[1])
                except ValueError:
                    raise ControlError("fault id must be an integer") from None
                if not server.faults.remove(fault_id):
                    self.respond_json(404, {"error": f"no fault {fault_id}"})
                    return
                self.respond_json(200, {"removed": fault_id})
            elif parts == ["calls"] and method == "GET":
                self.respond_json(200, server.calls.list())
            elif parts == ["calls"] and method == "DELETE":
                server.calls.clear()
                self.respond_json(200, {"cleared": True})
            elif parts == ["config"] and method == "GET":
                self.respond_json(200, CONFIG.snapshot())
            elif parts == ["config"] and method == "POST":
                try:
                    spec = json.loads(body or b"null")
                except ValueError as e:
                    raise ControlError(f"malformed JSON: {e}") from None
                self.respond_json(200, CONFIG.update(spec))
            elif parts == ["apprunner", "services"] and method == "GET":
                self.respond_json(200, APPRUNNER.control_view())
            elif parts == ["reset"] and method == "POST":
                server.faults.clear()
                server.calls.clear()
                CONFIG.reset()
                for hook in RESET_HOOKS:
                    hook()
                moto = self.reset_moto()
                self.respond_json(200 if moto else 502, {"reset": True, "moto_reset": moto})
            else:
                self.respond_json(404, {"error": f"no control endpoint {method} {path}"})
        except ControlError as e:
            self.respond_json(400, {"error": str(e)})

    def reset_moto(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.server.moto_host, self.server.moto_port, timeout=30)
            conn.request("POST", "/moto-api/reset", body=b"")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--moto-url", required=True, help="moto server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the process that started this one goes away",
    )
    args = parser.parse_args(argv)

    try:
        server = EmulatorServer((args.host, args.port), args.moto_url, quiet=args.quiet)
    except ValueError as e:
        parser.error(str(e))
    parent = os.getppid()

    def stop(signum, frame):  # noqa: ARG001
        server.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    print(f"READY {server.server_address[1]}", flush=True)
    while not server.stopping.wait(0.5):
        if args.exit_with_parent and os.getppid() != parent:
            server.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
