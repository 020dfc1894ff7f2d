#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test of every crate, then a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Fuzzing needs a nightly toolchain and cargo-fuzz (.ci/run installs cargo-fuzz). Missing them is said loudly, and
# under CI=true it is a failure.
if rustup run nightly rustc --version >/dev/null 2>&1 && command -v cargo-fuzz >/dev/null 2>&1; then
  bash scripts/fuzz.sh "${OPENCLAW_FUZZ_SECONDS:-10}"
elif [ "${CI:-}" = "true" ]; then
  echo "test: MISSING the nightly toolchain or cargo-fuzz for the fuzz targets (cargo install cargo-fuzz --locked)" >&2
  exit 1
else
  echo "test: SKIPPED the fuzz targets: no nightly toolchain or no cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
fi
