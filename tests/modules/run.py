#!/usr/bin/env python3
"""Offline test suite of the HCL modules and environments (issue 6).

    tests/modules/run.py            # everything
    tests/modules/run.py --update   # rewrite plan snapshots and README tables, then check
    tests/modules/run.py --no-scan  # skip checkov and trivy (they need target/modules-venv)

hashicorp/aws cannot be downloaded here: a stand-in plugin (tests/aws-standin, our own protocol
layer serving the schema rebuilt by scripts/modules/gen_aws_schema.py) is installed as
registry.terraform.io/hashicorp/aws through a filesystem mirror in a throwaway CLI config, beside
the real stagecraft/staging binary. Everything runs on copies in a temporary directory, which is
removed at the end. Prints `modules: N passed, M failed` and exits non-zero on any failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "modules")
SNAPSHOTS = os.path.join(HERE, "snapshots")
SCRIPTS = os.path.join(ROOT, "scripts", "modules")
VENV = os.path.join(ROOT, "target", "modules-venv")
sys.path.insert(0, SCRIPTS)
import normalize_plan  # noqa: E402

AWS_VERSION = "6.69.1"  # the hashicorp/aws release the rebuilt schema comes from
STAGING_VERSION = "0.1.0"
MODULES = ["app-runner-app", "ecs-app", "auto-destroy", "staging-mirror"]
ENVIRONMENTS = ["staging", "production"]
EXAMPLES = ["examples/app-runner-app", "examples/ecs-app", "modules/auto-destroy/examples/basic",
            "modules/staging-mirror/examples/basic"]
TREES = ["modules", "environments", "examples/app-runner-app", "examples/ecs-app"]
# Dummy values for the ephemeral secret variables; they must appear in no output or snapshot.
SECRET_VARS = {
    "TF_VAR_db_password": "Dummy-Db-Password-4f1c9e",
    "TF_VAR_admin_token": "Dummy-Admin-Token-7d2a5b-0123456789abcdef0123",
    "TF_VAR_togetherhood_db_password": "Dummy-Db-Password-4f1c9e",
    "TF_VAR_whatsapp_saas_db_password": "Dummy-Pg-Password-8a3e1d",
    "TF_VAR_whatsapp_saas_admin_token": "Dummy-Admin-Token-7d2a5b-0123456789abcdef0123",
}


class Suite:
    def __init__(self, args):
        self.args = args
        self.passed = 0
        self.failed = []
        self.tmp = tempfile.mkdtemp(prefix="stagecraft-modules-")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
        self.plans = {}
        self.modules = MODULES

    # -- reporting ------------------------------------------------------------------------

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed.append(name)
            print(f"FAIL {name}")
            if detail:
                print("     " + detail.strip().replace("\n", "\n     ")[:6000])
        sys.stdout.flush()
        return ok

    def run(self, cmd, cwd, env=None, timeout=600):
        e = dict(self.env)
        if env:
            e.update(env)
        p = subprocess.run(cmd, cwd=cwd, env=e, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr

    def tf(self, cwd, *args, env=None):
        a = list(args)
        if a[0] not in ("fmt", "version", "show") or (a[0] == "show" and "-json" not in a):
            a.append("-no-color")
        return self.run(["terraform"] + a, cwd, env)

    # -- setup ----------------------------------------------------------------------------

    def setup(self):
        # The same invocation as scripts/test.sh's build, so that it reuses those artifacts:
        # building only these packages unifies features differently and compiles the AWS SDK twice.
        code, out = self.run(["cargo", "build", "--quiet", "--workspace", "--all-targets"], ROOT, timeout=3000)
        if not self.check("build stand-in and stagecraft/staging", code == 0, out):
            return False
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        mirror = os.path.join(self.tmp, "mirror")
        for host, ns, typ, ver, binary in [
            ("registry.terraform.io", "hashicorp", "aws", AWS_VERSION, "terraform-provider-aws"),
            ("registry.terraform.io", "stagecraft", "staging", STAGING_VERSION, "terraform-provider-staging"),
        ]:
            d = os.path.join(mirror, host, ns, typ, ver, "linux_amd64")
            os.makedirs(d)
            shutil.copy2(os.path.join(target, "debug", binary), os.path.join(d, f"terraform-provider-{typ}_v{ver}"))
        rc = os.path.join(self.tmp, "terraformrc")
        with open(rc, "w") as f:
            f.write('provider_installation {\n  filesystem_mirror {\n    path    = "%s"\n'
                    '    include = ["registry.terraform.io/hashicorp/aws", "registry.terraform.io/stagecraft/staging"]\n'
                    '  }\n}\ndisable_checkpoint = true\n' % mirror)
        self.env.update({"TF_CLI_CONFIG_FILE": rc, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
                         "TF_INPUT": "0", "TF_PLUGIN_CACHE_DIR": ""})
        self.env.pop("TF_PLUGIN_CACHE_DIR")
        # A copy of the tree: init writes .terraform and lock files (the stand-in's hash must never
        # reach a committed lock file).
        self.tree = os.path.join(self.tmp, "tree")
        for t in TREES:
            src = os.path.join(ROOT, t)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(self.tree, t),
                                ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "tfplan"))
        return True

    # -- steps ----------------------------------------------------------------------------

    def schema(self):
        code, out = self.run([sys.executable, os.path.join(SCRIPTS, "gen_aws_schema.py"), "--check"], ROOT, timeout=900)
        self.check("schema: committed aws.schema.json is what gen_aws_schema.py rebuilds", code == 0, out)
        code, out = self.run([sys.executable, os.path.join(SCRIPTS, "compare_aws_schema.py")], ROOT)
        self.check("schema: rebuilt subset matches the real hashicorp/aws 6.47.0 dump (or skipped)", code == 0, out)
        types = set()
        for line in open(os.path.join(ROOT, "tests", "aws-standin", "schema", "types.txt")):
            line = line.split("#")[0].strip()
            if line:
                types.add(line)
        used = set()
        for t in TREES:
            for dirpath, _, files in os.walk(os.path.join(ROOT, t)):
                for f in files:
                    if f.endswith(".tf"):
                        text = open(os.path.join(dirpath, f)).read()
                        used |= {m for m in re.findall(r'^resource "(aws_\w+)"', text, re.M)}
                        used |= {"data." + m for m in re.findall(r'^data "(aws_\w+)"', text, re.M)}
        missing = sorted(used - types)
        self.check("schema: every aws type the modules use is in types.txt", not missing, "missing: " + ", ".join(missing))

    def fmt(self):
        for t in TREES:
            code, out = self.tf(os.path.join(ROOT, t), "fmt", "-check", "-recursive", "-diff")
            self.check(f"fmt -check {t}", code == 0, out)

    def init_validate(self, rel, label=None):
        d = os.path.join(self.tree, rel)
        label = label or rel
        code, out = self.tf(d, "init", "-backend=false", "-input=false")
        if not self.check(f"init {label}", code == 0, out):
            return False
        code, out = self.tf(d, "validate")
        return self.check(f"validate {label}", code == 0, out)

    def validate_all(self):
        for m in MODULES:
            self.init_validate(f"modules/{m}")
        for e in EXAMPLES:
            if os.path.isdir(os.path.join(self.tree, e)):
                self.init_validate(e)
        for e in ENVIRONMENTS:
            self.init_validate(f"environments/{e}")

    def tests(self):
        for m in MODULES:
            d = os.path.join(self.tree, "modules", m)
            code, out = self.tf(d, "test")
            summary = re.findall(r"(Success!|Failure!) (\d+) passed, (\d+) failed", out)
            self.check(f"terraform test modules/{m} ({' '.join(summary[-1]) if summary else 'no summary'})",
                       code == 0 and bool(summary) and int(summary[-1][1]) > 0, out)

    def alone(self):
        for m in MODULES:
            d = os.path.join(self.tmp, "alone", m)
            shutil.copytree(os.path.join(ROOT, "modules", m), d,
                            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "tests"))
            # A relative source may point inside the module (its examples/ use "../.."), never out.
            bad = []
            for dirpath, _, files in os.walk(d):
                for f in files:
                    if not f.endswith(".tf"):
                        continue
                    for src in re.findall(r'source\s*=\s*"(\.\.?/[^"]*)"', open(os.path.join(dirpath, f)).read()):
                        target = os.path.normpath(os.path.join(dirpath, src))
                        if os.path.commonpath([target, d]) != d:
                            bad.append(f"{os.path.relpath(os.path.join(dirpath, f), d)}: {src}")
            self.check(f"modules/{m} has no ../ sources leaving the module", not bad, ", ".join(bad))
            code, out = self.tf(d, "init", "-backend=false", "-input=false")
            ok = self.check(f"modules/{m} alone in an empty directory: init", code == 0, out)
            if ok:
                code, out = self.tf(d, "validate")
                self.check(f"modules/{m} alone in an empty directory: validate", code == 0, out)

    def plan(self, envname):
        d = os.path.join(self.tree, "environments", envname)
        with open(os.path.join(d, "backend_override.tf"), "w") as f:
            f.write('terraform {\n  backend "local" {}\n}\n')
        code, out = self.tf(d, "init", "-input=false", "-reconfigure")
        if not self.check(f"plan environments/{envname}: init (local backend override)", code == 0, out):
            return None
        code, out = self.tf(d, "plan", "-refresh=false", "-lock=false", "-input=false",
                            "-var-file=terraform.tfvars.example", "-out=tfplan", env=SECRET_VARS)
        if not self.check(f"plan environments/{envname}", code == 0, out):
            return None
        code, raw = self.tf(d, "show", "-json", "tfplan")
        if not self.check(f"show -json environments/{envname}", code == 0, raw):
            return None
        plan = json.loads(raw)
        with open(os.path.join(self.tmp, f"{envname}.plan.raw.json"), "w") as f:
            f.write(raw)
        norm = json.dumps(normalize_plan.normalize(plan), indent=2, sort_keys=True) + "\n"
        code, human = self.tf(d, "show", "tfplan")
        human = "\n".join(l.rstrip() for l in human.splitlines()) + "\n"
        os.remove(os.path.join(d, "tfplan"))
        self.plans[envname] = (plan, norm, human)
        self.snapshot(f"{envname}.plan.json", norm)
        if envname == "staging":
            self.snapshot(f"{envname}.plan.txt", human)
        return plan

    def snapshot(self, name, text):
        path = os.path.join(SNAPSHOTS, name)
        old = open(path).read() if os.path.exists(path) else None
        if self.args.update and old != text:
            with open(path, "w") as f:
                f.write(text)
            print(f"     updated {path}")
            old = text
        if old is None:
            return self.check(f"snapshot {name}", False, f"missing: run tests/modules/run.py --update")
        if old != text:
            import difflib
            diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), "committed", "now", n=2))
            return self.check(f"snapshot {name}", False, diff[:5000] + "\n(bless with tests/modules/run.py --update)")
        return self.check(f"snapshot {name}", True)

    def secrets(self):
        values = set(SECRET_VARS.values())
        leaks = []
        for envname, (plan, norm, human) in self.plans.items():
            raw = open(os.path.join(self.tmp, f"{envname}.plan.raw.json")).read()
            for label, text in [("plan JSON", raw), ("snapshot", norm), ("human plan", human)]:
                for v in values:
                    if v in text:
                        leaks.append(f"{envname} {label}")
        for t in TREES + ["tests/modules"]:
            for dirpath, _, files in os.walk(os.path.join(ROOT, t)):
                if ".terraform" in dirpath:
                    continue
                for f in files:
                    p = os.path.join(dirpath, f)
                    try:
                        text = open(p, encoding="utf-8").read()
                    except (UnicodeDecodeError, OSError):
                        continue
                    if f == "run.py":
                        continue
                    for v in values:
                        if v in text:
                            leaks.append(p)
        self.check("secrets: no ephemeral secret value in plans, snapshots or committed files", not leaks, "\n".join(leaks))

    def seeds(self):
        import seed_assertions
        for envname in ENVIRONMENTS:
            if envname not in self.plans:
                self.check(f"seed tables: {envname}", False, "no plan")
                continue
            plan = json.loads(self.plans[envname][1])
            for name, ok, detail in seed_assertions.check(envname, plan):
                self.check(f"seed {envname}: {name}", ok, detail)

    def broken(self):
        import broken_copies
        for name, mutate, expect in broken_copies.CASES:
            d = os.path.join(self.tmp, "broken", name)
            shutil.copytree(os.path.join(self.tree, "modules", "app-runner-app"), d,
                            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "tests"))
            path = os.path.join(d, "main.tf")
            text = open(path).read()
            new = mutate(text)
            if new == text:
                self.check(f"broken copy {name}: mutation applies", False, "the mutation did not change main.tf")
                continue
            open(path, "w").write(new)
            code, out = self.tf(d, "init", "-backend=false", "-input=false")
            if code == 0:
                code, out = self.tf(d, "validate")
            flat = " ".join(out.split())
            self.check(f"broken copy {name}: validate fails with {expect!r}",
                       code != 0 and " ".join(expect.split()) in flat, out)

    def readme(self):
        dirs = [os.path.join(ROOT, "modules", m) for m in MODULES] + [os.path.join(ROOT, "environments", e) for e in ENVIRONMENTS]
        cmd = [sys.executable, os.path.join(SCRIPTS, "gen_readme.py")] + ([] if self.args.update else ["--check"]) + dirs
        code, out = self.run(cmd, ROOT)
        self.check("README inputs/outputs tables are generated from the code", code == 0, out)

    def scans(self):
        import scans
        for name, ok, detail in scans.run(self):
            self.check(name, ok, detail)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", action="store_true", help="rewrite snapshots and README tables")
    ap.add_argument("--no-scan", action="store_true", help="skip checkov and trivy")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    s = Suite(args)
    start = time.time()
    try:
        if s.setup():
            s.schema()
            s.readme()
            s.fmt()
            s.validate_all()
            s.tests()
            s.alone()
            for e in ENVIRONMENTS:
                s.plan(e)
            s.seeds()
            s.secrets()
            s.broken()
            if not args.no_scan:
                s.scans()
    finally:
        if args.keep:
            print(f"kept {s.tmp}")
        else:
            s.cleanup()
    if s.failed:
        print("failed: " + "; ".join(s.failed))
    print(f"({time.time() - start:.0f}s)")
    print(f"modules: {s.passed} passed, {len(s.failed)} failed")
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
