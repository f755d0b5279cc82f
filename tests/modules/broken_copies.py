"""Broken copies of modules/app-runner-app: each mutation must make `terraform validate` fail
with Terraform's own message (the stand-in serves the real schema; Terraform does the checking)."""
import re


def sub_once(pattern, repl):
    def mutate(text):
        return re.sub(pattern, repl, text, count=1, flags=re.M)
    return mutate


def duplicate_block(name):
    """Writes a second `name { ... }` block right after the first one."""
    def mutate(text):
        m = re.search(r"^(\s*)%s \{\n(.*?)^\1\}\n" % name, text, re.M | re.S)
        return text[: m.end()] + m.group(0) + text[m.end():] if m else text
    return mutate


def remove_block(name):
    def mutate(text):
        m = re.search(r"^(\s*)%s \{\n(.*?)^\1\}\n" % name, text, re.M | re.S)
        return text[: m.start()] + text[m.end():] if m else text
    return mutate


CASES = [
    ("misspelled-argument", sub_once(r"^(\s*)publicly_accessible(\s*)=", r"\1publicly_accesible \2="),
     'An argument named "publicly_accesible" is not expected here. Did you mean "publicly_accessible"?'),
    ("wrong-type", sub_once(r"^(\s*allocated_storage\s*=\s*).*$", r'\1"twenty GB"'),
     'Inappropriate value for attribute "allocated_storage": a number is required.'),
    ("missing-required-argument", sub_once(r"^\s*instance_class\s*=.*\n", ""),
     'The argument "instance_class" is required, but no definition was found.'),
    ("too-many-blocks", duplicate_block("instance_configuration"),
     'No more than 1 "instance_configuration" blocks are allowed'),
    ("missing-required-block", remove_block("source_configuration"),
     'At least 1 "source_configuration" blocks are required.'),
    ("unsupported-block", sub_once(r"^(\s*)health_check_configuration \{", r"\1health_checks {"),
     'Blocks of type "health_checks" are not expected here.'),
]
