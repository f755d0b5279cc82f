# The two commands (see README.md).
.PHONY: demo test bench fmt

demo:
	scripts/demo.sh

test:
	scripts/test.sh

bench:
	cargo bench -p stagecraft-conformance --bench protocol

fmt:
	cargo fmt --all
	terraform fmt -recursive examples
