# Common tasks. Heavy build output is cached outside the repository (see hack/test.sh).
export AUTOPILOT_CACHE ?= $(HOME)/.cache/autopilot
export CARGO_TARGET_DIR ?= $(AUTOPILOT_CACHE)/target

.PHONY: help build lint fmt test test-quick controlplane demo clean-cache

help:            ## list the tasks
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

build:           ## build every crate and binary
	cargo build --workspace --all-targets

lint:            ## rustfmt check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:             ## format the code
	cargo fmt --all

test:            ## everything CI runs: prerequisites, control plane, lints, all tests
	bash hack/test.sh

test-quick:      ## all tests without the lints
	bash hack/test.sh --quick

controlplane:    ## build (or reuse) etcd, kube-apiserver, kube-controller-manager, kube-scheduler
	bash hack/controlplane.sh

demo:            ## the README's main command
	bash hack/demo.sh

clean-cache:     ## remove the cached target dir and control plane binaries
	rm -rf $(AUTOPILOT_CACHE)
