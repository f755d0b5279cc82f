#!/usr/bin/env python3
"""Writes the inputs/outputs tables of a module's README from its variables.tf and outputs.tf
(terraform-docs is not available here). The tables go between
`<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`.

    scripts/modules/gen_readme.py DIR...           # rewrite the tables
    scripts/modules/gen_readme.py --check DIR...   # exit 1 if a README is stale
"""
import glob
import os
import re
import sys

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def matching(text, i):
    """Index just past the bracket/brace/paren opened at text[i], skipping strings and heredocs."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = [pairs[text[i]]]
    j = i + 1
    while stack:
        c = text[j]
        if c == '"':
            j += 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
        elif c == "#" or text.startswith("//", j):
            j = text.index("\n", j)
            continue
        elif text.startswith("<<", j):
            m = re.match(r"<<-?(\w+)\n", text[j:])
            if m:
                end = re.search(r"^\s*" + m.group(1) + r"\s*$", text[j + m.end():], re.M)
                j += m.end() + end.end()
                continue
        elif c in pairs:
            stack.append(pairs[c])
        elif c == stack[-1]:
            stack.pop()
        j += 1
    return j


def blocks(text, kind):
    for m in re.finditer(r'^%s "([\w-]+)" \{' % kind, text, re.M):
        start = m.end() - 1
        yield m.group(1), text[start + 1: matching(text, start) - 1]


def top_level_attr(body, name):
    """The expression text of a top-level `name = ...` in a block body (nested blocks skipped)."""
    i, depth = 0, 0
    while i < len(body):
        c = body[i]
        if c == '"':
            i += 1
            while body[i] != '"':
                i += 2 if body[i] == "\\" else 1
        elif c in "{[(":
            i = matching(body, i)
            continue
        elif depth == 0 and (i == 0 or body[i - 1] == "\n" or body[i - 1] == " "):
            m = re.match(r"[ \t]*(\w+)[ \t]*=[ \t]*", body[i:])
            if m and (i == 0 or body[i - 1] == "\n") and m.group(1) == name:
                j = i + m.end()
                k = j
                while k < len(body) and body[k] != "\n":
                    if body[k] in "{[(":
                        k = matching(body, k)
                        continue
                    if body[k] == '"':
                        k += 1
                        while body[k] != '"':
                            k += 2 if body[k] == "\\" else 1
                    k += 1
                return body[j:k].strip()
        i += 1
    return None


def unquote(expr):
    if expr and expr.startswith('"') and expr.endswith('"'):
        return expr[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return expr


def cell(s):
    return s.replace("|", "\\|").replace("\n", "<br>")


def code(s):
    s = re.sub(r"\s+", " ", s.strip())
    return "`%s`" % s.replace("|", "\\|")


def tables(module_dir):
    text = ""
    for f in sorted(glob.glob(os.path.join(module_dir, "*.tf"))):
        text += open(f, encoding="utf-8").read() + "\n"
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |",
             "|------|-------------|------|---------|:--------:|"]
    variables = sorted(blocks(text, "variable"), key=lambda v: (top_level_attr(v[1], "default") is not None, v[0]))
    for name, body in variables:
        desc = unquote(top_level_attr(body, "description") or "")
        ty = top_level_attr(body, "type") or "any"
        default = top_level_attr(body, "default")
        flags = []
        if top_level_attr(body, "sensitive") == "true":
            flags.append("sensitive")
        if top_level_attr(body, "ephemeral") == "true":
            flags.append("ephemeral")
        if flags:
            desc += " (" + ", ".join(flags) + ")"
        lines.append("| <a name=\"input_%s\"></a> `%s` | %s | %s | %s | %s |" % (
            name, name, cell(desc), code(ty), "n/a" if default is None else code(default),
            "yes" if default is None else "no"))
    lines += ["", "## Outputs", "", "| Name | Description | Sensitive |", "|------|-------------|:---------:|"]
    for name, body in sorted(blocks(text, "output")):
        desc = unquote(top_level_attr(body, "description") or "")
        sens = "yes" if top_level_attr(body, "sensitive") == "true" else "no"
        lines.append("| <a name=\"output_%s\"></a> `%s` | %s | %s |" % (name, name, cell(desc), sens))
    return "\n".join(lines) + "\n"


def main():
    args = sys.argv[1:]
    check = "--check" in args
    dirs = [a for a in args if a != "--check"]
    stale = 0
    for d in dirs:
        path = os.path.join(d, "README.md")
        readme = open(path, encoding="utf-8").read()
        if BEGIN not in readme or END not in readme:
            print(f"{path}: no {BEGIN} ... {END} markers", file=sys.stderr)
            stale += 1
            continue
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = head + BEGIN + "\n" + tables(d) + END + tail
        if new != readme:
            if check:
                print(f"{path}: inputs/outputs tables are stale (run scripts/modules/gen_readme.py {d})", file=sys.stderr)
                stale += 1
            else:
                open(path, "w", encoding="utf-8").write(new)
                print(f"updated {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
