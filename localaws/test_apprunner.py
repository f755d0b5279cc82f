"""Tests of the emulator's App Runner API, through boto3, against a started moto + emulator.

    target/localaws-venv/bin/python -m unittest discover -s localaws -p 'test_*.py' -v

Starts its own moto + emulator pair with test_emulator's helpers; every test begins with
POST /_emulator/reset and sets a short App Runner operation delay through /_emulator/config.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
import unittest

import boto3
import botocore.exceptions
from botocore.config import Config

import test_emulator as base

DELAY = 0.2  # seconds an App Runner operation stays in progress in these tests
STARTUP_DELAY = "0.25"  # STAGECRAFT_APPRUNNER_DELAY the emulator is started with
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/shop/web:staging"
ACCESS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/apprunner-ecr-access"
INSTANCE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/shop-staging-instance"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shop/staging-AbCdEf"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def setUpModule() -> None:
    previous = os.environ.get("STAGECRAFT_APPRUNNER_DELAY")
    os.environ["STAGECRAFT_APPRUNNER_DELAY"] = STARTUP_DELAY
    try:
        base.setUpModule()
    finally:
        if previous is None:
            os.environ.pop("STAGECRAFT_APPRUNNER_DELAY", None)
        else:
            os.environ["STAGECRAFT_APPRUNNER_DELAY"] = previous


def tearDownModule() -> None:
    base.tearDownModule()
    base._procs.clear()  # test_emulator starts (and stops) its own pair


def apprunner(region: str = base.REGION, validate: bool = True):
    """boto3's App Runner client; ``validate=False`` lets invalid input reach the emulator."""
    return boto3.client(
        "apprunner",
        endpoint_url=base.ENDPOINT,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate),
    )


def image_source(**image_config) -> dict:
    source = {
        "ImageRepository": {
            "ImageIdentifier": IMAGE,
            "ImageRepositoryType": "ECR",
        },
        "AuthenticationConfiguration": {"AccessRoleArn": ACCESS_ROLE},
    }
    if image_config:
        source["ImageRepository"]["ImageConfiguration"] = image_config
    return source


class AppRunnerTest(unittest.TestCase):
    def setUp(self) -> None:
        status, body = base.control("POST", "reset")
        self.assertEqual(status, 200, body)
        status, body = base.control("POST", "config", {"apprunner_delay": DELAY})
        self.assertEqual(status, 200, body)
        self.ar = apprunner()

    # -- helpers ----------------------------------------------------------------------------

    def create(self, name: str = "shop-staging", client=None, **kwargs) -> tuple[str, str]:
        kwargs.setdefault("SourceConfiguration", image_source())
        resp = (client or self.ar).create_service(ServiceName=name, **kwargs)
        return resp["Service"]["ServiceArn"], resp["OperationId"]

    def wait(self, arn: str, client=None, timeout: float = 10.0) -> dict:
        """DescribeService until the service is no longer OPERATION_IN_PROGRESS."""
        deadline = time.monotonic() + timeout
        while True:
            service = (client or self.ar).describe_service(ServiceArn=arn)["Service"]
            if service["Status"] != "OPERATION_IN_PROGRESS":
                return service
            self.assertLess(time.monotonic(), deadline, f"{arn} still in progress")
            time.sleep(0.05)

    def running(self, name: str = "shop-staging", **kwargs) -> str:
        arn, _ = self.create(name, **kwargs)
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")
        return arn

    def operations(self, arn: str) -> list[dict]:
        return self.ar.list_operations(ServiceArn=arn)["OperationSummaryList"]

    def assertError(self, code: str, call, *args, **kwargs) -> botocore.exceptions.ClientError:
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            call(*args, **kwargs)
        self.assertEqual(cm.exception.response["Error"]["Code"], code, cm.exception.response)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertTrue(cm.exception.response["Error"]["Message"], cm.exception.response)
        return cm.exception

    def emulator_services(self) -> dict:
        status, body = base.control("GET", "apprunner/services")
        self.assertEqual(status, 200, body)
        return body

    def fault(self, **spec) -> dict:
        status, body = base.control("POST", "faults", {"service": "apprunner", **spec})
        self.assertEqual(status, 200, body)
        return body

    # -- create, describe, list -------------------------------------------------------------

    def test_create_is_asynchronous_and_describe_returns_everything_set(self) -> None:
        before = time.time()
        resp = self.ar.create_service(
            ServiceName="shop-staging",
            SourceConfiguration={
                "ImageRepository": {
                    "ImageIdentifier": IMAGE,
                    "ImageRepositoryType": "ECR",
                    "ImageConfiguration": {
                        "Port": "3000",
                        "StartCommand": "node server.js",
                        "RuntimeEnvironmentVariables": {"NODE_ENV": "staging", "LOG_LEVEL": "debug"},
                        "RuntimeEnvironmentSecrets": {"DATABASE_URL": SECRET_ARN + ":DATABASE_URL::"},
                    },
                },
                "AutoDeploymentsEnabled": False,
                "AuthenticationConfiguration": {"AccessRoleArn": ACCESS_ROLE},
            },
            InstanceConfiguration={"Cpu": "1 vCPU", "Memory": "2 GB", "InstanceRoleArn": INSTANCE_ROLE},
            HealthCheckConfiguration={"Protocol": "HTTP", "Path": "/health"},
            Tags=[{"Key": "Environment", "Value": "Staging"}, {"Key": "Team", "Value": "shop"}],
        )
        created = resp["Service"]
        self.assertRegex(resp["OperationId"], UUID)
        self.assertEqual(created["Status"], "OPERATION_IN_PROGRESS")
        self.assertRegex(created["ServiceId"], r"^[0-9a-f]{32}$")
        self.assertEqual(
            created["ServiceArn"],
            f"arn:aws:apprunner:us-east-1:{ACCOUNT}:service/shop-staging/{created['ServiceId']}",
        )
        self.assertRegex(created["ServiceUrl"], r"^[a-z0-9]{10}\.us-east-1\.awsapprunner\.com$")
        self.assertIsInstance(created["CreatedAt"], datetime.datetime)
        self.assertGreaterEqual(created["CreatedAt"].timestamp(), before - 1)

        service = self.wait(created["ServiceArn"])
        self.assertEqual(service["Status"], "RUNNING")
        self.assertGreater(service["UpdatedAt"], service["CreatedAt"])
        self.assertEqual(
            service["SourceConfiguration"],
            {
                "ImageRepository": {
                    "ImageIdentifier": IMAGE,
                    "ImageRepositoryType": "ECR",
                    "ImageConfiguration": {
                        "Port": "3000",
                        "StartCommand": "node server.js",
                        "RuntimeEnvironmentVariables": {"NODE_ENV": "staging", "LOG_LEVEL": "debug"},
                        "RuntimeEnvironmentSecrets": {"DATABASE_URL": SECRET_ARN + ":DATABASE_URL::"},
                    },
                },
                "AutoDeploymentsEnabled": False,
                "AuthenticationConfiguration": {"AccessRoleArn": ACCESS_ROLE},
            },
        )
        # Cpu/Memory as the service reports them: CPU units and MB.
        self.assertEqual(
            service["InstanceConfiguration"],
            {"Cpu": "1024", "Memory": "2048", "InstanceRoleArn": INSTANCE_ROLE},
        )
        # The health check with the service's defaults for what was not given.
        self.assertEqual(
            service["HealthCheckConfiguration"],
            {"Protocol": "HTTP", "Path": "/health", "Interval": 5, "Timeout": 2,
             "HealthyThreshold": 1, "UnhealthyThreshold": 5},
        )
        self.assertEqual(
            service["NetworkConfiguration"],
            {"EgressConfiguration": {"EgressType": "DEFAULT"},
             "IngressConfiguration": {"IsPubliclyAccessible": True}, "IpAddressType": "IPV4"},
        )
        self.assertEqual(service["ObservabilityConfiguration"], {"ObservabilityEnabled": False})
        summary = service["AutoScalingConfigurationSummary"]
        self.assertEqual(summary["AutoScalingConfigurationName"], "DefaultConfiguration")
        self.assertEqual(
            summary["AutoScalingConfigurationArn"],
            f"arn:aws:apprunner:us-east-1:{ACCOUNT}:autoscalingconfiguration/DefaultConfiguration/1/"
            "00000000000000000000000000000001",
        )
        self.assertNotIn("DeletedAt", service)
        self.assertNotIn("EncryptionConfiguration", service)

        # ListServices: the summary; ListOperations: the create, succeeded.
        summaries = self.ar.list_services()["ServiceSummaryList"]
        self.assertEqual(len(summaries), 1)
        self.assertEqual(
            {k: summaries[0][k] for k in ("ServiceName", "ServiceId", "ServiceArn", "ServiceUrl", "Status")},
            {k: service[k] for k in ("ServiceName", "ServiceId", "ServiceArn", "ServiceUrl", "Status")},
        )
        (op,) = self.operations(service["ServiceArn"])
        self.assertEqual(
            (op["Id"], op["Type"], op["Status"], op["TargetArn"]),
            (resp["OperationId"], "CREATE_SERVICE", "SUCCEEDED", service["ServiceArn"]),
        )
        self.assertGreaterEqual(op["EndedAt"], op["StartedAt"])
        self.assertAlmostEqual((op["EndedAt"] - op["StartedAt"]).total_seconds(), DELAY, delta=0.01)
        tags = self.ar.list_tags_for_resource(ResourceArn=service["ServiceArn"])["Tags"]
        self.assertEqual(tags, [{"Key": "Environment", "Value": "Staging"}, {"Key": "Team", "Value": "shop"}])

        # Timestamps travel as epoch seconds (JSON numbers), as the JSON protocol sends them.
        status, _, data = base.raw(
            "POST", "/",
            {"X-Amz-Target": "AppRunner.DescribeService", "Content-Type": "application/x-amz-json-1.0",
             "Authorization": base.FAKE_AUTH.format(service="apprunner")},
            body=json.dumps({"ServiceArn": service["ServiceArn"]}).encode(),
        )
        self.assertEqual(status, 200)
        self.assertIsInstance(json.loads(data)["Service"]["CreatedAt"], float)

    def test_minimal_create_gets_the_service_defaults(self) -> None:
        arn = self.running(
            "public-image",
            SourceConfiguration={"ImageRepository": {
                "ImageIdentifier": "public.ecr.aws/nginx/nginx:latest", "ImageRepositoryType": "ECR_PUBLIC"}},
        )
        service = self.ar.describe_service(ServiceArn=arn)["Service"]
        self.assertEqual(service["InstanceConfiguration"], {"Cpu": "1024", "Memory": "2048"})
        self.assertEqual(service["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"], {"Port": "8080"})
        # ECR Public: automatic deployments default to off; same-account ECR: on.
        self.assertFalse(service["SourceConfiguration"]["AutoDeploymentsEnabled"])
        self.assertEqual(
            service["HealthCheckConfiguration"],
            {"Protocol": "TCP", "Path": "/", "Interval": 5, "Timeout": 2, "HealthyThreshold": 1,
             "UnhealthyThreshold": 5},
        )
        private = self.running("private-image", InstanceConfiguration={"Cpu": "0.25 vCPU", "Memory": "0.5 GB"})
        service = self.ar.describe_service(ServiceArn=private)["Service"]
        self.assertTrue(service["SourceConfiguration"]["AutoDeploymentsEnabled"])
        self.assertEqual(service["InstanceConfiguration"], {"Cpu": "256", "Memory": "512"})

    def test_region_comes_from_the_credential_scope(self) -> None:
        west = apprunner("eu-west-1")
        arn, _ = self.create(client=west)
        self.assertTrue(arn.startswith(f"arn:aws:apprunner:eu-west-1:{ACCOUNT}:service/shop-staging/"), arn)
        service = self.wait(arn, client=west)
        self.assertTrue(service["ServiceUrl"].endswith(".eu-west-1.awsapprunner.com"))
        # Another region neither lists nor finds it, and its name is free there.
        self.assertEqual(self.ar.list_services()["ServiceSummaryList"], [])
        self.assertError("ResourceNotFoundException", self.ar.describe_service, ServiceArn=arn)
        self.create()
        self.assertError("InvalidRequestException", self.create, client=west)

    def test_duplicate_name_is_an_invalid_request(self) -> None:
        self.create()
        err = self.assertError("InvalidRequestException", self.create)
        self.assertEqual(
            err.response["Error"]["Message"], "Service with the provided name already exists: shop-staging"
        )
        self.assertEqual(self.emulator_services()["count"], 1)

    def test_list_services_pages(self) -> None:
        arns = [self.create(f"svc-{i}")[0] for i in range(3)]
        first = self.ar.list_services(MaxResults=2)
        self.assertEqual([s["ServiceArn"] for s in first["ServiceSummaryList"]], arns[:2])
        second = self.ar.list_services(MaxResults=2, NextToken=first["NextToken"])
        self.assertEqual([s["ServiceArn"] for s in second["ServiceSummaryList"]], arns[2:])
        self.assertNotIn("NextToken", second)
        self.assertError("InvalidRequestException", self.ar.list_services, NextToken="bogus")
        self.assertError("InvalidRequestException", apprunner(validate=False).list_services, MaxResults=21)

    # -- update, pause, resume, deploy ------------------------------------------------------

    def test_update_is_asynchronous_and_blocks_other_operations(self) -> None:
        arn = self.running(InstanceConfiguration={"Cpu": "1 vCPU", "Memory": "2 GB"})
        base.control("POST", "config", {"apprunner_delay": 1.0})  # time for the calls below
        resp = self.ar.update_service(
            ServiceArn=arn,
            SourceConfiguration=image_source(Port="8000", RuntimeEnvironmentVariables={"FEATURE_X": "on"}),
            InstanceConfiguration={"Cpu": "0.5 vCPU", "Memory": "1 GB"},
            HealthCheckConfiguration={"Protocol": "HTTP", "Path": "/ready", "Interval": 10},
        )
        self.assertEqual(resp["Service"]["Status"], "OPERATION_IN_PROGRESS")
        self.assertRegex(resp["OperationId"], UUID)
        # While it runs, everything else is refused with InvalidStateException.
        err = self.assertError("InvalidStateException", self.ar.update_service, ServiceArn=arn,
                               InstanceConfiguration={"Cpu": "1 vCPU", "Memory": "2 GB"})
        self.assertIn("UPDATE_SERVICE", err.response["Error"]["Message"])
        self.assertError("InvalidStateException", self.ar.pause_service, ServiceArn=arn)
        self.assertError("InvalidStateException", self.ar.delete_service, ServiceArn=arn)
        self.assertError("InvalidRequestException", self.ar.start_deployment, ServiceArn=arn)
        ops = self.operations(arn)
        self.assertEqual([(o["Type"], o["Status"]) for o in ops],
                         [("UPDATE_SERVICE", "IN_PROGRESS"), ("CREATE_SERVICE", "SUCCEEDED")])
        self.assertNotIn("EndedAt", ops[0])

        service = self.wait(arn)
        self.assertEqual(service["Status"], "RUNNING")
        self.assertEqual(service["InstanceConfiguration"], {"Cpu": "512", "Memory": "1024"})
        self.assertEqual(
            service["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"],
            {"Port": "8000", "RuntimeEnvironmentVariables": {"FEATURE_X": "on"}},
        )
        self.assertEqual(
            service["HealthCheckConfiguration"],
            {"Protocol": "HTTP", "Path": "/ready", "Interval": 10, "Timeout": 2, "HealthyThreshold": 1,
             "UnhealthyThreshold": 5},
        )
        self.assertEqual([(o["Id"], o["Status"]) for o in self.operations(arn)][0],
                         (resp["OperationId"], "SUCCEEDED"))

        # An update without any configuration, or switching image -> code, is invalid.
        self.assertError("InvalidRequestException", self.ar.update_service, ServiceArn=arn)
        self.assertError(
            "InvalidRequestException", self.ar.update_service, ServiceArn=arn,
            SourceConfiguration={"CodeRepository": {
                "RepositoryUrl": "https://github.com/acme/shop",
                "SourceCodeVersion": {"Type": "BRANCH", "Value": "main"}}},
        )
        # Only the instance configuration: the rest is kept.
        base.control("POST", "config", {"apprunner_delay": DELAY})
        self.ar.update_service(ServiceArn=arn, InstanceConfiguration={"Memory": "1 GB", "Cpu": "0.25 vCPU"})
        service = self.wait(arn)
        self.assertEqual(service["InstanceConfiguration"], {"Cpu": "256", "Memory": "1024"})
        self.assertEqual(service["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]["Port"], "8000")

    def test_pause_resume_round_trip(self) -> None:
        arn = self.running()
        resp = self.ar.pause_service(ServiceArn=arn)
        self.assertEqual(resp["Service"]["Status"], "OPERATION_IN_PROGRESS")
        self.assertEqual(self.wait(arn)["Status"], "PAUSED")
        err = self.assertError("InvalidStateException", self.ar.pause_service, ServiceArn=arn)
        self.assertIn("PAUSED", err.response["Error"]["Message"])
        # No deployments while paused (StartDeployment's model has no InvalidStateException).
        self.assertError("InvalidRequestException", self.ar.start_deployment, ServiceArn=arn)
        # A configuration update while paused applies and leaves the service paused.
        self.ar.update_service(ServiceArn=arn, InstanceConfiguration={"Cpu": "2 vCPU", "Memory": "4 GB"})
        service = self.wait(arn)
        self.assertEqual((service["Status"], service["InstanceConfiguration"]["Cpu"]), ("PAUSED", "2048"))
        # Paused services are still listed.
        self.assertEqual([s["Status"] for s in self.ar.list_services()["ServiceSummaryList"]], ["PAUSED"])

        resp = self.ar.resume_service(ServiceArn=arn)
        self.assertEqual(resp["Service"]["Status"], "OPERATION_IN_PROGRESS")
        self.assertRegex(resp["OperationId"], UUID)
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")
        self.assertError("InvalidStateException", self.ar.resume_service, ServiceArn=arn)
        self.assertEqual(
            [(o["Type"], o["Status"]) for o in self.operations(arn)],
            [("RESUME_SERVICE", "SUCCEEDED"), ("UPDATE_SERVICE", "SUCCEEDED"),
             ("PAUSE_SERVICE", "SUCCEEDED"), ("CREATE_SERVICE", "SUCCEEDED")],
        )

    def test_start_deployment(self) -> None:
        arn = self.running()
        base.control("POST", "config", {"apprunner_delay": 0.5})
        op_id = self.ar.start_deployment(ServiceArn=arn)["OperationId"]
        self.assertError("InvalidRequestException", self.ar.start_deployment, ServiceArn=arn)
        self.assertEqual(self.ar.describe_service(ServiceArn=arn)["Service"]["Status"], "OPERATION_IN_PROGRESS")
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")
        latest = self.operations(arn)[0]
        self.assertEqual((latest["Id"], latest["Type"], latest["Status"]), (op_id, "START_DEPLOYMENT", "SUCCEEDED"))

    def test_list_operations_pages_newest_first(self) -> None:
        arn = self.running()
        for _ in range(2):
            self.ar.start_deployment(ServiceArn=arn)
            self.wait(arn)
        everything = self.operations(arn)
        self.assertEqual([o["Type"] for o in everything],
                         ["START_DEPLOYMENT", "START_DEPLOYMENT", "CREATE_SERVICE"])
        self.assertEqual(sorted(everything, key=lambda o: o["StartedAt"], reverse=True), everything)
        first = self.ar.list_operations(ServiceArn=arn, MaxResults=2)
        second = self.ar.list_operations(ServiceArn=arn, MaxResults=2, NextToken=first["NextToken"])
        self.assertEqual(first["OperationSummaryList"] + second["OperationSummaryList"], everything)
        self.assertError(
            "ResourceNotFoundException", self.ar.list_operations,
            ServiceArn=f"arn:aws:apprunner:us-east-1:{ACCOUNT}:service/nope/{'0' * 32}",
        )

    # -- delete -----------------------------------------------------------------------------

    def test_delete_then_the_service_is_gone(self) -> None:
        arn = self.running()
        base.control("POST", "config", {"apprunner_delay": 0.5})  # time for the calls below
        resp = self.ar.delete_service(ServiceArn=arn)
        self.assertEqual(resp["Service"]["Status"], "OPERATION_IN_PROGRESS")
        self.assertRegex(resp["OperationId"], UUID)
        # During the deletion the name is still taken and the service still listed.
        self.assertError("InvalidRequestException", self.create)
        self.assertEqual(len(self.ar.list_services()["ServiceSummaryList"]), 1)
        self.assertError("InvalidStateException", self.ar.delete_service, ServiceArn=arn)
        self.assertError("ResourceNotFoundException", self.wait, arn)
        self.assertError("ResourceNotFoundException", self.ar.delete_service, ServiceArn=arn)
        self.assertError("ResourceNotFoundException", self.ar.list_operations, ServiceArn=arn)
        self.assertError("ResourceNotFoundException", self.ar.list_tags_for_resource, ResourceArn=arn)
        self.assertEqual(self.ar.list_services()["ServiceSummaryList"], [])
        view = self.emulator_services()
        self.assertEqual((view["services"], view["count"], view["deleted_count"]), ([], 0, 1))
        # The name is free again.
        self.running()

    def test_deleted_services_can_stay_visible_for_a_while(self) -> None:
        base.control("POST", "config", {"apprunner_deleted_retention": 1.0})
        arn = self.running()
        self.ar.delete_service(ServiceArn=arn)
        service = self.wait(arn)
        self.assertEqual(service["Status"], "DELETED")
        self.assertIn("DeletedAt", service)
        self.assertEqual([o["Type"] for o in self.operations(arn)][0], "DELETE_SERVICE")
        self.assertEqual(self.ar.list_services()["ServiceSummaryList"], [])
        self.assertError("ResourceNotFoundException", self.ar.delete_service, ServiceArn=arn)
        view = self.emulator_services()
        self.assertEqual((view["services"], view["deleted_count"], view["deleted_retained"]), ([], 1, [arn]))
        self.running()  # the name is free while the old one is still described
        deadline = time.monotonic() + 5
        while self.emulator_services()["deleted_retained"] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertError("ResourceNotFoundException", self.ar.describe_service, ServiceArn=arn)
        self.assertEqual(self.emulator_services()["deleted_retained"], [])

    # -- tags -------------------------------------------------------------------------------

    def test_tags(self) -> None:
        arn, _ = self.create(Tags=[{"Key": "Environment", "Value": "Staging"}])
        self.ar.tag_resource(ResourceArn=arn, Tags=[{"Key": "Owner", "Value": "shop"},
                                                    {"Key": "Environment", "Value": "staging"}])
        self.assertEqual(self.ar.list_tags_for_resource(ResourceArn=arn)["Tags"],
                         [{"Key": "Environment", "Value": "staging"}, {"Key": "Owner", "Value": "shop"}])
        self.ar.untag_resource(ResourceArn=arn, TagKeys=["Environment", "Missing"])
        self.assertEqual(self.ar.list_tags_for_resource(ResourceArn=arn)["Tags"],
                         [{"Key": "Owner", "Value": "shop"}])
        self.assertError("InvalidRequestException", self.ar.tag_resource, ResourceArn=arn,
                         Tags=[{"Key": "aws:reserved", "Value": "x"}])
        unknown = f"arn:aws:apprunner:us-east-1:{ACCOUNT}:service/nope/{'0' * 32}"
        self.assertError("ResourceNotFoundException", self.ar.tag_resource, ResourceArn=unknown,
                         Tags=[{"Key": "a", "Value": "b"}])
        self.assertError("ResourceNotFoundException", self.ar.untag_resource, ResourceArn=unknown, TagKeys=["a"])
        self.assertError("ResourceNotFoundException", self.ar.list_tags_for_resource, ResourceArn=unknown)
        self.assertEqual(self.emulator_services()["services"][0]["Tags"], [{"Key": "Owner", "Value": "shop"}])

    # -- validation -------------------------------------------------------------------------

    def test_validation_errors(self) -> None:
        ar = apprunner(validate=False)  # let boto3 send what the service must refuse
        private = image_source()
        cases = {
            "name starts with a dash": dict(ServiceName="-shop", SourceConfiguration=private),
            "name too short": dict(ServiceName="abc", SourceConfiguration=private),
            "name with a dot": dict(ServiceName="shop.staging", SourceConfiguration=private),
            "no source configuration": dict(ServiceName="shop"),
            "empty source configuration": dict(ServiceName="shop", SourceConfiguration={}),
            "both repositories": dict(ServiceName="shop", SourceConfiguration={
                **private, "CodeRepository": {"RepositoryUrl": "https://github.com/acme/shop",
                                              "SourceCodeVersion": {"Type": "BRANCH", "Value": "main"}}}),
            "image without a type": dict(ServiceName="shop", SourceConfiguration={
                "ImageRepository": {"ImageIdentifier": IMAGE}}),
            "not an ECR image": dict(ServiceName="shop", SourceConfiguration={
                "ImageRepository": {"ImageIdentifier": "docker.io/library/nginx:latest",
                                    "ImageRepositoryType": "ECR"},
                "AuthenticationConfiguration": {"AccessRoleArn": ACCESS_ROLE}}),
            "private ECR without an access role": dict(ServiceName="shop", SourceConfiguration={
                "ImageRepository": {"ImageIdentifier": IMAGE, "ImageRepositoryType": "ECR"}}),
            "public image typed ECR": dict(ServiceName="shop", SourceConfiguration={
                "ImageRepository": {"ImageIdentifier": "public.ecr.aws/nginx/nginx:latest",
                                    "ImageRepositoryType": "ECR"},
                "AuthenticationConfiguration": {"AccessRoleArn": ACCESS_ROLE}}),
            "auto deployments from ECR Public": dict(ServiceName="shop", SourceConfiguration={
                "ImageRepository": {"ImageIdentifier": "public.ecr.aws/nginx/nginx:latest",
                                    "ImageRepositoryType": "ECR_PUBLIC"},
                "AutoDeploymentsEnabled": True}),
            "cpu not allowed": dict(ServiceName="shop", SourceConfiguration=private,
                                    InstanceConfiguration={"Cpu": "3 vCPU"}),
            "cpu in a wrong unit": dict(ServiceName="shop", SourceConfiguration=private,
                                        InstanceConfiguration={"Cpu": "1000"}),
            "memory not allowed": dict(ServiceName="shop", SourceConfiguration=private,
                                       InstanceConfiguration={"Memory": "5 GB"}),
            "cpu/memory combination": dict(ServiceName="shop", SourceConfiguration=private,
                                           InstanceConfiguration={"Cpu": "0.25 vCPU", "Memory": "4 GB"}),
            "default cpu with too little memory": dict(ServiceName="shop", SourceConfiguration=private,
                                                       InstanceConfiguration={"Memory": "1 GB"}),
            "bad instance role": dict(ServiceName="shop", SourceConfiguration=private,
                                      InstanceConfiguration={"InstanceRoleArn": "role/shop"}),
            "health check interval": dict(ServiceName="shop", SourceConfiguration=private,
                                          HealthCheckConfiguration={"Interval": 21}),
            "health check protocol": dict(ServiceName="shop", SourceConfiguration=private,
                                          HealthCheckConfiguration={"Protocol": "HTTPS"}),
            "reserved tag key": dict(ServiceName="shop", SourceConfiguration=private,
                                     Tags=[{"Key": "aws:cloudformation:stack-name", "Value": "x"}]),
            "reserved variable name": dict(ServiceName="shop", SourceConfiguration={
                **private, "ImageRepository": {**private["ImageRepository"], "ImageConfiguration": {
                    "RuntimeEnvironmentVariables": {"AWSAPPRUNNER_X": "1"}}}}),
            "VPC egress without a connector": dict(ServiceName="shop", SourceConfiguration=private,
                                                   NetworkConfiguration={"EgressConfiguration": {"EgressType": "VPC"}}),
        }
        for case, kwargs in cases.items():
            with self.subTest(case):
                self.assertError("InvalidRequestException", ar.create_service, **kwargs)
        self.assertEqual(self.emulator_services()["count"], 0)

        err = self.assertError("InvalidRequestException", ar.create_service, ServiceName="shop",
                               SourceConfiguration=private, InstanceConfiguration={"Cpu": "3 vCPU"})
        self.assertEqual(
            err.response["Error"]["Message"],
            "1 validation error detected: Value '3 vCPU' at 'instanceConfiguration.cpu' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "256|512|1024|2048|4096|(0.25|0.5|1|2|4) vCPU",
        )
        # Malformed or foreign ARNs.
        self.assertError("InvalidRequestException", ar.describe_service, ServiceArn="shop-staging")
        self.assertError("ResourceNotFoundException", ar.describe_service,
                         ServiceArn=f"arn:aws:apprunner:us-east-1:{ACCOUNT}:service/shop/{'0' * 32}")
        # JSON that does not fit the model at all.
        status, headers, data = base.raw(
            "POST", "/",
            {"X-Amz-Target": "AppRunner.CreateService", "Content-Type": "application/x-amz-json-1.0"},
            body=json.dumps({"ServiceName": 5, "SourceConfiguration": private}).encode(),
        )
        self.assertEqual((status, headers["x-amzn-errortype"]), (400, "SerializationException"))

    def test_errors_use_the_models_message_member(self) -> None:
        status, headers, data = base.raw(
            "POST", "/",
            {"X-Amz-Target": "AppRunner.DescribeService", "Content-Type": "application/x-amz-json-1.0",
             "Authorization": base.FAKE_AUTH.format(service="apprunner")},
            body=json.dumps({"ServiceArn": f"arn:aws:apprunner:us-east-1:{ACCOUNT}:service/x/{'0' * 32}"}).encode(),
        )
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-errortype"], "ResourceNotFoundException")
        body = json.loads(data)
        self.assertEqual(body["__type"], "ResourceNotFoundException")
        self.assertTrue(body["Message"])

    # -- faults -----------------------------------------------------------------------------

    def test_fail_fault_on_create_ends_create_failed(self) -> None:
        fault = self.fault(operation="CreateService", action="fail", count=1,
                           message="Health check failed on port 3000")
        arn, op_id = self.create()  # the call itself succeeds
        service = self.wait(arn)
        self.assertEqual(service["Status"], "CREATE_FAILED")
        (op,) = self.operations(arn)
        self.assertEqual((op["Id"], op["Type"], op["Status"]), (op_id, "CREATE_SERVICE", "FAILED"))
        self.assertIn("EndedAt", op)
        # The API has no reason field; the emulator exposes the message on its control API.
        (view,) = self.emulator_services()["services"]
        self.assertEqual(view["Status"], "CREATE_FAILED")
        self.assertEqual(view["Operations"][0]["Message"], "Health check failed on port 3000")
        self.assertEqual(view["Operations"][0]["Fault"]["id"], fault["id"])
        calls = [(c["operation"], c["status"], c["fault"]) for c in base.control("GET", "calls")[1]
                 if c["operation"] == "CreateService"]
        self.assertEqual(calls, [("CreateService", 200, "fail")])
        # A failed service counts, keeps its name, can't be paused, but can be rebuilt or deleted.
        self.assertError("InvalidRequestException", self.create)
        self.assertError("InvalidStateException", self.ar.pause_service, ServiceArn=arn)
        self.ar.update_service(ServiceArn=arn, SourceConfiguration=image_source(Port="3000"))
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")
        self.ar.delete_service(ServiceArn=arn)
        self.assertError("ResourceNotFoundException", self.wait, arn)

    def test_fail_fault_on_update_rolls_back(self) -> None:
        arn = self.running(InstanceConfiguration={"Cpu": "1 vCPU", "Memory": "2 GB"})
        self.fault(operation="UpdateService", action="fail", message="Deployment failed: container exited")
        resp = self.ar.update_service(ServiceArn=arn, InstanceConfiguration={"Cpu": "2 vCPU", "Memory": "4 GB"})
        self.assertEqual(resp["Service"]["InstanceConfiguration"]["Cpu"], "2048")  # what was asked for
        seen = []
        deadline = time.monotonic() + 10
        while True:
            status = self.ar.describe_service(ServiceArn=arn)["Service"]["Status"]
            op = self.operations(arn)[0]  # read after: if it is still running, so was the service
            if not seen or seen[-1] != op["Status"]:
                seen.append(op["Status"])
            if op["Status"] not in ("IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
                break
            self.assertEqual(status, "OPERATION_IN_PROGRESS")
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.03)
        self.assertEqual(seen, ["IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCEEDED"])
        self.assertEqual(op["Id"], resp["OperationId"])
        service = self.ar.describe_service(ServiceArn=arn)["Service"]
        # The service runs the previous configuration again.
        self.assertEqual((service["Status"], service["InstanceConfiguration"]["Cpu"]), ("RUNNING", "1024"))
        self.assertEqual(self.emulator_services()["services"][0]["Operations"][0]["Message"],
                         "Deployment failed: container exited")

    def test_fail_fault_on_pause_and_delete(self) -> None:
        arn = self.running()
        self.fault(operation="PauseService", action="fail", count=1)
        self.ar.pause_service(ServiceArn=arn)
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")
        self.assertEqual(self.operations(arn)[0]["Status"], "FAILED")
        self.fault(operation="DeleteService", action="fail", count=1, message="could not release the ENI")
        self.ar.delete_service(ServiceArn=arn)
        self.assertEqual(self.wait(arn)["Status"], "DELETE_FAILED")
        self.assertEqual([(o["Type"], o["Status"]) for o in self.operations(arn)][0], ("DELETE_SERVICE", "FAILED"))
        # DELETE_FAILED: retry the deletion.
        self.ar.delete_service(ServiceArn=arn)
        self.assertError("ResourceNotFoundException", self.wait, arn)
        self.assertEqual(self.emulator_services()["deleted_count"], 1)

    def test_stall_fault_holds_the_operation_until_cleared(self) -> None:
        fault = self.fault(operation="CreateService", action="stall", count=1)
        arn, _ = self.create()
        other = self.running("other-service")  # count 1: the next create is not held
        self.assertEqual(self.ar.describe_service(ServiceArn=other)["Service"]["Status"], "RUNNING")
        time.sleep(3 * DELAY)
        self.assertEqual(self.ar.describe_service(ServiceArn=arn)["Service"]["Status"], "OPERATION_IN_PROGRESS")
        self.assertEqual(self.operations(arn)[0]["Status"], "IN_PROGRESS")
        self.assertError("InvalidStateException", self.ar.delete_service, ServiceArn=arn)
        # The used-up fault stays listed: deleting it releases the operation.
        (listed,) = base.control("GET", "faults")[1]
        self.assertEqual((listed["id"], listed["action"], listed["count"]), (fault["id"], "stall", 0))
        self.assertTrue(self.emulator_services()["services"][0]["Operations"][0]["Stalled"])
        self.assertEqual(base.control("DELETE", f"faults/{fault['id']}")[0], 200)
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")

    def test_stall_fault_with_seconds_releases_by_itself(self) -> None:
        self.fault(operation="PauseService", action="stall", seconds=0.5, count=1)
        arn = self.running()
        start = time.monotonic()
        self.ar.pause_service(ServiceArn=arn)
        self.assertEqual(self.wait(arn)["Status"], "PAUSED")
        self.assertGreaterEqual(time.monotonic() - start, 0.5)

    def test_async_faults_apply_to_operations_that_start(self) -> None:
        fault = self.fault(operation="*", action="fail", count=1)
        # Calls that start nothing (reads, refused requests) leave the fault alone.
        self.ar.list_services()
        self.assertError("InvalidRequestException", apprunner(validate=False).create_service,
                         ServiceName="x!", SourceConfiguration=image_source())
        self.assertEqual(base.control("GET", "faults")[1][0]["count"], 1)
        arn, _ = self.create()
        self.assertEqual(self.wait(arn)["Status"], "CREATE_FAILED")
        self.assertEqual(base.control("GET", "faults")[1], [])
        self.assertEqual(fault["seconds"], None)

    def test_error_and_hang_faults_apply_to_app_runner_calls(self) -> None:
        self.fault(operation="CreateService", action="error", code="InternalServiceErrorException",
                   status=500, count=1, message="try again")
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            self.create()
        self.assertEqual(cm.exception.response["Error"]["Code"], "InternalServiceErrorException")
        self.assertEqual(self.emulator_services()["count"], 0)  # nothing was created
        self.fault(operation="DescribeService", action="hang", seconds=5, count=1)
        arn, _ = self.create()
        with self.assertRaises(botocore.exceptions.ReadTimeoutError):
            base.client("apprunner", read_timeout=0.5).describe_service(ServiceArn=arn)
        self.assertEqual(self.wait(arn)["Status"], "RUNNING")

    def test_async_fault_specs_are_checked(self) -> None:
        for spec in (
            {"service": "rds", "action": "fail"},
            {"service": "apprunner", "operation": "DescribeService", "action": "stall"},
            {"service": "apprunner", "action": "stall", "seconds": -1},
        ):
            with self.subTest(spec=spec):
                status, body = base.control("POST", "faults", spec)
                self.assertEqual(status, 400, body)

    # -- configuration ----------------------------------------------------------------------

    def test_config_api(self) -> None:
        status, body = base.control("POST", "reset")
        self.assertEqual(status, 200)
        # Reset restores the startup values, which come from STAGECRAFT_APPRUNNER_DELAY.
        self.assertEqual(base.control("GET", "config")[1],
                         {"apprunner_delay": float(STARTUP_DELAY), "apprunner_deleted_retention": 0.0})
        for bad in ({"apprunner_delay": -1}, {"apprunner_delay": "1"}, {"apprunner_delay": True},
                    {"apprunner_speed": 1}, [1]):
            with self.subTest(bad=bad):
                self.assertEqual(base.control("POST", "config", bad)[0], 400)
        status, body = base.control("POST", "config", {"apprunner_delay": 0})
        self.assertEqual((status, body["apprunner_delay"]), (200, 0.0))
        arn, _ = self.create()
        self.assertEqual(self.ar.describe_service(ServiceArn=arn)["Service"]["Status"], "RUNNING")


if __name__ == "__main__":
    unittest.main()
