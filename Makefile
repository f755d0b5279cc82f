# The two commands (see README.md).
.PHONY: demo test bench bench-sync fmt

demo:
	scripts/demo.sh

test:
	scripts/test.sh

bench:
	cargo bench -p stagecraft-conformance --bench protocol

bench-sync:
	cargo bench -p terraform-provider-staging --bench sync

fmt:
	cargo fmt --all
	terraform fmt -recursive examples
