#!/usr/bin/env python3
"""`terraform show -json tfplan` -> a stable, reviewable snapshot (stdin -> stdout).

Keeps, per resource change sorted by address: the actions and the planned values, with values
only known after apply shown as "(known after apply)" and sensitive ones as "(sensitive)"; and
the output changes the same way. Drops what changes from run to run or machine to machine
(timestamps, Terraform and provider versions, prior state, configuration, variables).
"""
import json
import sys

UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"


def merge(after, unknown, sensitive):
    if sensitive is True:
        # A null stays null (write-only arguments are always null in plans).
        return None if after is None and unknown is not True else SENSITIVE
    if unknown is True:
        return UNKNOWN
    if isinstance(after, dict):
        keys = set(after) | (set(unknown) if isinstance(unknown, dict) else set())
        return {k: merge(after.get(k), unknown.get(k) if isinstance(unknown, dict) else None,
                         sensitive.get(k) if isinstance(sensitive, dict) else None)
                for k in sorted(keys)}
    if isinstance(after, list):
        n = max(len(after), len(unknown) if isinstance(unknown, list) else 0)
        return [merge(after[i] if i < len(after) else None,
                      unknown[i] if isinstance(unknown, list) and i < len(unknown) else None,
                      sensitive[i] if isinstance(sensitive, list) and i < len(sensitive) else None)
                for i in range(n)]
    return after


def normalize(plan):
    out = {"resource_changes": [], "output_changes": {}}
    for rc in sorted(plan.get("resource_changes", []), key=lambda r: r["address"]):
        ch = rc["change"]
        out["resource_changes"].append({
            "address": rc["address"],
            "mode": rc["mode"],
            "type": rc["type"],
            "actions": ch["actions"],
            "after": merge(ch.get("after"), ch.get("after_unknown"), ch.get("after_sensitive")),
        })
    for name, ch in sorted(plan.get("output_changes", {}).items()):
        out["output_changes"][name] = {
            "actions": ch["actions"],
            "after": merge(ch.get("after"), ch.get("after_unknown"), ch.get("after_sensitive")),
        }
    return out


def main():
    plan = json.load(sys.stdin)
    json.dump(normalize(plan), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
