#!/usr/bin/env python3
"""Compares the rebuilt hashicorp/aws subset (tests/aws-standin/schema/aws.schema.json) with a real
`terraform providers schema -json` dump, for the types we use.

    scripts/modules/compare_aws_schema.py [REAL_DUMP]     (default: ../shared/schemas/hashicorp-aws-6.47.0.json)

The real dump is read at test time only and never copied. Differences are sorted into:
  - drift: the rebuilt schema (hashicorp/aws 6.69.1) has attributes or blocks the 6.47.0 dump lacks,
    listed in KNOWN_DRIFT;
  - failures: anything else (a flag, a type, a nesting mode, min/max items, a missing attribute,
    a schema version).
Exit 0 when there are no failures, 1 otherwise, 0 with "skipped" when the dump is absent.
Prints one line per difference and a final `N passed, M failed` over the compared types.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OURS = os.path.join(ROOT, "tests", "aws-standin", "schema", "aws.schema.json")
DEFAULT_REAL = os.path.join(os.path.dirname(ROOT), "shared", "schemas", "hashicorp-aws-6.47.0.json")
ADDR = "registry.terraform.io/hashicorp/aws"

# Present in 6.69.1 (what the package is generated from) and not yet in 6.47.0: new arguments,
# not reconstruction errors. Each entry is "<type>.<path>" of something only in our schema, or
# "<type>.<path>:<flag>" for a flag that changed upstream between the two versions.
KNOWN_DRIFT = {
    "aws_db_instance.warning_event_categories",
    "aws_elasticache_replication_group.durability",
    "aws_elasticache_replication_group.auth_token_wo",
    "aws_elasticache_replication_group.auth_token_wo_version",
    "aws_cloudwatch_metric_alarm.evaluation_window",
    "aws_cloudwatch_metric_alarm.warm_up_configuration",
    "aws_ecs_service.deployment_configuration.lifecycle_hook.target_type",
    "aws_ecs_service.deployment_configuration.lifecycle_hook.timeout_configuration",
    "aws_secretsmanager_secret.type",
    "aws_sns_topic.maximum_message_size",
    "data.aws_vpc.ipv6_cidr_block_associations",
    "aws_autoscaling_group.instance_lifecycle_policy",
    "aws_ecs_capacity_provider.managed_instances_provider.auto_repair_configuration",
    "aws_ecs_capacity_provider.managed_instances_provider.instance_launch_template.capacity_reservations",
    "aws_ecs_capacity_provider.managed_instances_provider.instance_launch_template.local_storage_configuration",
    "aws_launch_template.network_interfaces.ena_queue_count",
    "aws_lambda_function.use_resource_timeout_for_propagation",
    # became optional upstream (with target_type) after 6.47
    "aws_ecs_service.deployment_configuration.lifecycle_hook.hook_target_arn",
    "aws_ecs_service.deployment_configuration.lifecycle_hook.role_arn",
}

FLAGS = ("required", "optional", "computed", "sensitive", "write_only", "deprecated")


def load(path):
    return json.load(open(path, encoding="utf-8"))["provider_schemas"][ADDR]


def compare_block(where, real, ours, out):
    ra, oa = real.get("attributes", {}), ours.get("attributes", {})
    for name in sorted(set(ra) | set(oa)):
        at = f"{where}.{name}"
        if name not in oa:
            out.append((at, "missing in rebuilt schema"))
            continue
        if name not in ra:
            out.append((at, "only in rebuilt schema"))
            continue
        r, o = ra[name], oa[name]
        if r.get("type") != o.get("type"):
            out.append((at, f"type {json.dumps(o.get('type'))} != real {json.dumps(r.get('type'))}"))
        for f in FLAGS:
            if bool(r.get(f)) != bool(o.get(f)):
                out.append((f"{at}:{f}", f"{f} {bool(o.get(f))} != real {bool(r.get(f))}"))
    rb, ob = real.get("block_types", {}), ours.get("block_types", {})
    for name in sorted(set(rb) | set(ob)):
        at = f"{where}.{name}"
        if name in ra or name in oa:
            out.append((at, "block in one schema, attribute in the other"))
            continue
        if name not in ob:
            out.append((at, "block missing in rebuilt schema"))
            continue
        if name not in rb:
            out.append((at, "only in rebuilt schema"))
            continue
        r, o = rb[name], ob[name]
        for k in ("nesting_mode", "min_items", "max_items"):
            if r.get(k, 0) != o.get(k, 0):
                out.append((f"{at}:{k}", f"{k} {o.get(k, 0)} != real {r.get(k, 0)}"))
        if bool(r["block"].get("deprecated")) != bool(o["block"].get("deprecated")):
            out.append((f"{at}:deprecated", "deprecated differs"))
        compare_block(at, r["block"], o["block"], out)


def main():
    real_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_REAL
    if not os.path.exists(real_path):
        print(f"schema-compare: skipped ({real_path} not present)")
        return 0
    real, ours = load(real_path), load(OURS)
    passed = failed = drift = 0
    pairs = [("provider", real["provider"], ours["provider"])]
    pairs += [(t, real["resource_schemas"].get(t), s) for t, s in ours["resource_schemas"].items()]
    pairs += [("data." + t, real["data_source_schemas"].get(t), s)
              for t, s in ours["data_source_schemas"].items()]
    for name, r, o in pairs:
        if r is None:
            print(f"FAIL {name}: not in the real schema")
            failed += 1
            continue
        diffs = []
        if r.get("version", 0) != o.get("version", 0):
            diffs.append((f"{name}:version", f"version {o.get('version', 0)} != real {r.get('version', 0)}"))
        compare_block(name, r["block"], o["block"], diffs)
        bad = []
        for at, msg in diffs:
            if at in KNOWN_DRIFT or at.split(":")[0] in KNOWN_DRIFT:
                drift += 1
                print(f"drift {at}: {msg}")
            else:
                bad.append((at, msg))
        if bad:
            failed += 1
            for at, msg in bad:
                print(f"FAIL {at}: {msg}")
        else:
            passed += 1
    print(f"schema-compare: {passed} passed, {failed} failed ({drift} known drift items)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
