#!/usr/bin/env python3
"""Rebuild the subset of the hashicorp/aws provider schema that our modules use.

Source: the PyPI package `cdktn-provider-aws` (pinned below), which is generated from
hashicorp/aws. Its `lib/<type>/index.js` files keep, for every attribute, the generator's
`// name - computed: X, optional: Y, required: Z` comment, the getter that gives its type, and the
HCL table that tells blocks from attributes. From those we rebuild what
`terraform providers schema -json` would print. The package loses a few flags (sensitive,
deprecated, max_items > 1, min_items > 1, schema versions): `overrides.json`, hand-kept, puts them
back.

    scripts/modules/gen_aws_schema.py            # rebuild tests/aws-standin/schema/aws.schema.json
    scripts/modules/gen_aws_schema.py --check    # exit 1 if the committed file is stale

The package is downloaded into target/modules-cache/ with `pip download --no-deps`; only the
modules read here are unpacked, and the wheel is deleted afterwards.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

PACKAGE = "cdktn-provider-aws"
PIN = "25.8.1"  # generated from registry.terraform.io/hashicorp/aws 6.69.1
PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_DIR = os.path.join(ROOT, "tests", "aws-standin", "schema")
CACHE = os.path.join(ROOT, "target", "modules-cache", "cdktn")


# ---------------------------------------------------------------------------------------------
# Package
# ---------------------------------------------------------------------------------------------

def package_lib(types, cache=CACHE):
    """Downloads the pinned package and unpacks the generated modules of `types` (plus the
    provider's); returns the path of its `lib/` directory. Only those files are unpacked, straight
    from the wheel, and the wheel is deleted afterwards: the whole package would take far more
    disk than the few modules we read."""
    lib = os.path.join(cache, PIN, "package", "lib")
    wanted = {type_dir(t) for t in types} | {"provider"}
    if all(os.path.exists(os.path.join(lib, d, "index.js")) for d in wanted):
        return lib
    os.makedirs(cache, exist_ok=True)
    wheel = os.path.join(cache, f"cdktn_provider_aws-{PIN}-py3-none-any.whl")
    if not os.path.exists(wheel):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--quiet",
             f"{PACKAGE}=={PIN}", "-d", cache],
            check=True,
        )
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".jsii.tgz"))
        with z.open(name) as src, tarfile.open(fileobj=src, mode="r|gz") as t:
            for m in t:
                parts = m.name.split("/")
                keep = m.name == "package/package.json" or (
                    len(parts) == 4 and parts[1] == "lib" and parts[2] in wanted
                    and parts[3] in ("index.js", "index.d.ts"))
                if keep and m.isfile():
                    t.extract(m, os.path.join(cache, PIN), filter="data")
    os.remove(wheel)
    meta = json.load(open(os.path.join(cache, PIN, "package", "package.json")))
    print(f"{PACKAGE} {PIN}: generated from {meta['cdktn']['provider']}", file=sys.stderr)
    return lib


def type_dir(tf_type):
    """`aws_db_instance` -> `db-instance`; `data.aws_region` -> `data-aws-region`."""
    if tf_type.startswith("data."):
        return "data-" + tf_type[len("data."):].replace("_", "-")
    return tf_type[len("aws_"):].replace("_", "-")


# ---------------------------------------------------------------------------------------------
# Parsing one generated module (index.js)
# ---------------------------------------------------------------------------------------------

FIELD_RE = re.compile(
    r"^    // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n",
    re.M)
HCL_ENTRY_RE = re.compile(
    r"(\w+): \{\s*value: (.*?),\s*isBlock: (true|false),\s*type: \"(\w+)\",\s*"
    r"storageClassType: \"(\w+)\",\s*\}", re.S)

GETTERS = [
    (r"cdktn\.Token\.asNumberList\(cdktn\.Fn\.tolist\(this\.getNumberListAttribute", ["set", "number"]),
    (r"cdktn\.Fn\.tolist\(this\.getListAttribute", ["set", "string"]),
    (r"cdktn\.Fn\.tolist\(this\.getNumberListAttribute", ["set", "number"]),
    (r"this\.getNumberListAttribute", ["list", "number"]),
    (r"this\.getListAttribute", ["list", "string"]),
    (r"this\.getStringMapAttribute", ["map", "string"]),
    (r"this\.getNumberMapAttribute", ["map", "number"]),
    (r"this\.getBooleanMapAttribute", ["map", "bool"]),
    (r"this\.getStringAttribute", "string"),
    (r"this\.getNumberAttribute", "number"),
    (r"this\.getBooleanAttribute", "bool"),
    (r"new cdktn\.StringMap\(", ["map", "string"]),
    (r"new cdktn\.NumberMap\(", ["map", "number"]),
    (r"new cdktn\.BooleanMap\(", ["map", "bool"]),
    (r"new cdktn\.StringListMap\(", ["map", ["list", "string"]]),
    (r"new cdktn\.NumberListMap\(", ["map", ["list", "number"]]),
    (r"new cdktn\.BooleanListMap\(", ["map", ["list", "bool"]]),
    (r"new cdktn\.AnyMap\(", ["map", "dynamic"]),
    (r"new cdktn\.AnyListMap\(", ["map", ["list", "dynamic"]]),
]

STORAGE_TYPES = {
    "string": "string", "number": "number", "boolean": "bool", "any": "dynamic",
    "stringMap": ["map", "string"], "numberMap": ["map", "number"],
    "booleanMap": ["map", "bool"], "anyMap": ["map", "dynamic"],
    "stringListMap": ["map", ["list", "string"]],
    "numberListMap": ["map", ["list", "number"]],
    "booleanListMap": ["map", ["list", "bool"]],
}


def lower_first(s):
    return s[0].lower() + s[1:]


class Module:
    def __init__(self, path):
        text = open(path, encoding="utf-8").read()
        text = "\n".join(l for l in text.split("\n") if "sourceMappingURL" not in l)
        self.text = text
        self.classes = {}
        for m in re.finditer(r"^class (\w+) extends ([\w.]+) \{\n(.*?)^\}\n", text, re.M | re.S):
            self.classes[m.group(1)] = (m.group(2), m.group(3))
        self.functions = {}
        for m in re.finditer(r"^function (\w+)\(struct\) \{\n(.*?)^\}\n", text, re.M | re.S):
            self.functions[m.group(1)] = m.group(2)

    def main_class(self, base):
        for name, (parent, body) in self.classes.items():
            if parent == base:
                return name, body
        raise KeyError(f"no class extends {base}")

    @staticmethod
    def hcl_table(body):
        out = {}
        for m in HCL_ENTRY_RE.finditer(body):
            out[m.group(1)] = {"value": m.group(2), "isBlock": m.group(3) == "true",
                               "type": m.group(4), "storage": m.group(5)}
        return out

    @staticmethod
    def fields(body):
        """(name, computed, optional, required, snippet) for each commented field."""
        ms = list(FIELD_RE.finditer(body))
        for i, m in enumerate(ms):
            end = ms[i + 1].start() if i + 1 < len(ms) else len(body)
            yield (m.group(1), m.group(2) == "true", m.group(3) == "true",
                   m.group(4) == "true", body[m.end():end])

    def elem_class(self, snippet):
        """The complex element class a field refers to, and its container kind."""
        m = re.search(r"= new (\w+)List\(this, \"\w+\", (true|false)\)", snippet)
        if m:
            return m.group(1) + "OutputReference", ("set" if m.group(2) == "true" else "list")
        m = re.search(r"= new (\w+OutputReference)\(this, \"\w+\"\)", snippet)
        if m:
            return m.group(1), "single"
        return None, None

    def object_type(self, cls):
        """The cty object type of a complex element class (every field, computed or not)."""
        _, body = self.classes[cls]
        attrs = {}
        for name, computed, optional, required, snippet in self.fields(body):
            attrs[name] = self.field_type(name, snippet, None)
        return ["object", attrs]

    def field_type(self, name, snippet, hcl):
        elem, kind = self.elem_class(snippet)
        if elem:
            obj = self.object_type(elem)
            return obj if kind == "single" else [kind, obj]
        for pat, ty in GETTERS:
            if re.search(pat, snippet):
                return ty
        if hcl is not None:
            return storage_type(hcl)
        raise ValueError(f"cannot type field {name}: {snippet[:200]!r}")

    def block(self, body, table):
        """Rebuilds a schema block from a class body (fields) and its HCL table."""
        attributes, block_types = {}, {}
        for name, computed, optional, required, snippet in self.fields(body):
            hcl = table.get(name)
            elem, kind = self.elem_class(snippet)
            settable = optional or required
            if elem and settable and hcl is not None and is_block(hcl):
                inner_fn = lower_first(elem[: -len("OutputReference")]) + "ToHclTerraform"
                inner = self.block(self.classes[elem][1], self.hcl_table(self.functions.get(inner_fn, "")))
                bt = {"nesting_mode": hcl["type"] if hcl["type"] in ("list", "set") else "single",
                      "block": inner}
                if hcl["type"] == "struct":
                    bt["nesting_mode"] = "single"
                elif "listMapperHcl(" not in hcl["value"]:
                    bt["max_items"] = 1
                if required and bt["nesting_mode"] != "single":
                    bt["min_items"] = 1
                block_types[name] = bt
                continue
            attr = {"type": self.field_type(name, snippet, hcl), "description_kind": "plain"}
            if required:
                attr["required"] = True
            if optional:
                attr["optional"] = True
            if computed:
                attr["computed"] = True
            if "@deprecated Write-only" in snippet or (
                    hcl is not None and "markWriteOnlyAttribute" in hcl["value"]):
                attr["write_only"] = True
            attributes[name] = attr
        out = {}
        if attributes:
            out["attributes"] = dict(sorted(attributes.items()))
        if block_types:
            out["block_types"] = dict(sorted(block_types.items()))
        out["description_kind"] = "plain"
        return out


def is_block(hcl):
    """A complex HCL entry is a block when mapped as one (`listMapperHcl(fn, true)`), or when it
    is a bare struct (max-1 list/set, or a single-nested `struct` such as timeouts)."""
    if not hcl["isBlock"]:
        return False
    v = hcl["value"]
    if "listMapperHcl(" in v:
        return bool(re.search(r"listMapperHcl\(\w+, true\)", v))
    if "hashMapperHcl(" in v:
        return False
    return hcl["type"] in ("list", "set", "struct")


def storage_type(hcl):
    st, ty = hcl["storage"], hcl["type"]
    if st in STORAGE_TYPES:
        return STORAGE_TYPES[st]
    if st.endswith("List") and st[: -4] in ("string", "number", "boolean", "any"):
        return [ty if ty in ("list", "set") else "list", STORAGE_TYPES[st[: -4]]]
    raise ValueError(f"unknown storage class {st}")


def resource_schema(lib, tf_type):
    mod = Module(os.path.join(lib, type_dir(tf_type), "index.js"))
    base = "cdktn.TerraformDataSource" if tf_type.startswith("data.") else "cdktn.TerraformResource"
    name, body = mod.main_class(base)
    table = mod.hcl_table(body[body.index("synthesizeHclAttributes()"):])
    return {"block": mod.block(body, table), "version": 0}


def provider_schema(lib):
    """The provider configuration: top-level fields are commented; nested blocks only have HCL
    tables, with `?:` in index.d.ts telling optional from required."""
    mod = Module(os.path.join(lib, "provider", "index.js"))
    dts = open(os.path.join(lib, "provider", "index.d.ts"), encoding="utf-8").read()
    name, body = mod.main_class("cdktn.TerraformProvider")
    table = mod.hcl_table(body[body.index("synthesizeHclAttributes()"):])
    attributes, block_types = {}, {}
    for field, hcl in table.items():
        if field == "alias":
            continue
        m = re.search(r"listMapperHcl\((\w+)ToHclTerraform, true\)", hcl["value"])
        if m:
            fn = m.group(1) + "ToHclTerraform"
            iface = m.group(1)[0].upper() + m.group(1)[1:]
            inner_attrs = {}
            for f2, h2 in mod.hcl_table(mod.functions[fn]).items():
                camel = re.search(r"struct\.(\w+)", h2["value"]).group(1)
                im = re.search(r"export interface " + iface + r" \{(.*?)\n\}", dts, re.S)
                req = bool(im and re.search(r"readonly " + camel + r": ", im.group(1)))
                a = {"type": storage_type(h2), "description_kind": "plain"}
                a["required" if req else "optional"] = True
                inner_attrs[f2] = a
            block_types[field] = {"nesting_mode": hcl["type"],
                                  "block": {"attributes": dict(sorted(inner_attrs.items())),
                                            "description_kind": "plain"}}
        else:
            attributes[field] = {"type": storage_type(hcl), "description_kind": "plain",
                                 "optional": True}
    block = {"attributes": dict(sorted(attributes.items())),
             "block_types": dict(sorted(block_types.items())), "description_kind": "plain"}
    return {"block": block, "version": 0}


# ---------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------

def apply_overrides(schema, overrides):
    """`overrides.json`: per schema (`provider`, resource type, `data.<type>`), a `version`
    and `paths`: dotted attribute/block paths with the flags the package loses."""
    ps = schema["provider_schemas"][PROVIDER_ADDRESS]
    for key, ov in overrides.items():
        if key.startswith("_"):
            continue
        if key == "provider":
            target = ps["provider"]
        elif key.startswith("data."):
            target = ps["data_source_schemas"].get(key[5:])
        else:
            target = ps["resource_schemas"].get(key)
        if target is None:
            raise SystemExit(f"overrides.json: {key} is not in the generated subset")
        if "version" in ov:
            target["version"] = ov["version"]
        for path, flags in ov.get("paths", {}).items():
            node = target["block"]
            parts = path.split(".")
            for p in parts[:-1]:
                node = node["block_types"][p]["block"]
            last = parts[-1]
            if last in node.get("attributes", {}):
                node["attributes"][last].update(flags)
            elif last in node.get("block_types", {}):
                bt = node["block_types"][last]
                for k, v in flags.items():
                    if k == "deprecated":
                        bt["block"]["deprecated"] = v
                    else:
                        bt[k] = v
            else:
                raise SystemExit(f"overrides.json: {key}: no attribute or block {path}")
    return schema


def build(lib, types, overrides):
    resources, data_sources = {}, {}
    for t in types:
        if t.startswith("data."):
            data_sources[t[5:]] = resource_schema(lib, t)
        else:
            resources[t] = resource_schema(lib, t)
    schema = {
        "format_version": "1.0",
        "provider_schemas": {
            PROVIDER_ADDRESS: {
                "provider": provider_schema(lib),
                "resource_schemas": dict(sorted(resources.items())),
                "data_source_schemas": dict(sorted(data_sources.items())),
            }
        },
    }
    return apply_overrides(schema, overrides)


def read_types(path):
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if the committed schema is stale")
    ap.add_argument("--out", default=os.path.join(SCHEMA_DIR, "aws.schema.json"))
    ap.add_argument("--types", default=os.path.join(SCHEMA_DIR, "types.txt"))
    ap.add_argument("--overrides", default=os.path.join(SCHEMA_DIR, "overrides.json"))
    ap.add_argument("extra", nargs="*", help="rebuild these types instead (to stdout)")
    args = ap.parse_args()
    overrides = json.load(open(args.overrides)) if os.path.exists(args.overrides) else {}
    if args.extra:
        json.dump(build(package_lib(args.extra), args.extra, {}), sys.stdout, indent=1, sort_keys=True)
        return 0
    types = read_types(args.types)
    lib = package_lib(types)
    schema = build(lib, types, overrides)
    schema["_generated_by"] = (
        f"scripts/modules/gen_aws_schema.py from PyPI {PACKAGE}=={PIN} (MPL-2.0, generated from "
        "hashicorp/aws 6.69.1) + tests/aws-standin/schema/overrides.json")
    text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    if args.check:
        old = open(args.out, encoding="utf-8").read() if os.path.exists(args.out) else ""
        if old != text:
            print(f"{args.out} is stale: run scripts/modules/gen_aws_schema.py", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(types)} types)")
        return 0
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(types)} types, {len(text)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
