#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test of every crate, then a short run of every fuzz target. It ends
# with one summary: how many passed, failed and were ignored, and every test that ran without a counterpart it
# needs (a server, a client, the model), with what installs it (.ci/run installs all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Each channel platform is a cargo feature: the binary builds with none of them and with each alone.
for features in "" telegram webhook matrix discord slack whatsapp; do
  cargo check --bin openclaw --locked --no-default-features --features "$features" --quiet
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OPENCLAW_SKIP_LOG="$work/skipped.tsv"
: > "$OPENCLAW_SKIP_LOG"
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$work/test.log" || status=$?
# Fuzzing needs a nightly toolchain and cargo-fuzz (.ci/run installs cargo-fuzz). Missing them is said loudly, and
# under CI=true it is a failure.
if rustup run nightly rustc --version >/dev/null 2>&1 && command -v cargo-fuzz >/dev/null 2>&1; then
  bash scripts/fuzz.sh "${OPENCLAW_FUZZ_SECONDS:-10}" || status=$?
elif [ "${CI:-}" = "true" ]; then
  echo "test: MISSING the nightly toolchain or cargo-fuzz for the fuzz targets (cargo install cargo-fuzz --locked)" >&2
  status=1
else
  printf 'scripts/fuzz.sh\tthe fuzz targets: no nightly toolchain or no cargo-fuzz\trustup toolchain install nightly && cargo install cargo-fuzz --locked\n' >> "$OPENCLAW_SKIP_LOG"
fi
read -r passed failed ignored < <(grep -ao 'test result: [a-zA-Z]*\. [0-9]* passed; [0-9]* failed; [0-9]* ignored' "$work/test.log" \
  | awk '{p += $4; f += $6; i += $8} END {print p + 0, f + 0, i + 0}')
skipped=$(wc -l < "$OPENCLAW_SKIP_LOG")
echo
echo "test: $passed passed, $failed failed, $ignored ignored, $skipped skipped$([ "$skipped" -eq 0 ] && echo ' (nothing skipped)')"
while IFS=$'\t' read -r test why fix; do
  echo "test:   SKIPPED $test: $why (fix: $fix)"
done < "$OPENCLAW_SKIP_LOG"
if [ "$status" -ne 0 ]; then
  grep -a '^test .* FAILED$' "$work/test.log" | sed 's/^test /test:   FAILED /; s/ \.\.\. FAILED$//' || true
fi
exit "$status"
