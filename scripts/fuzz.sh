#!/usr/bin/env bash
# Runs every fuzz target for a while: `bash scripts/fuzz.sh [seconds per target] [target…]`.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Each target keeps its corpus in
# fuzz/corpus/<target> (not committed) and prints libFuzzer's final line: executions, speed, coverage.
# A crash stops the script with libFuzzer's report and the input saved under fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
# Built once into a cache outside the checkout (a first build takes ~10 minutes on two cores).
target_dir="${OPENCLAW_FUZZ_TARGET_DIR:-$HOME/.cache/openclaw-rs/fuzz-target}"
cargo +nightly fuzz build --release --target-dir "$target_dir"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  if ! cargo +nightly fuzz run --release --target-dir "$target_dir" "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=65536 \
      -print_final_stats=1 >"$log" 2>&1; then
    cat "$log"
    echo "fuzz: $target FAILED" >&2
    exit 1
  fi
  runs="$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')"
  speed="$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')"
  cover="$(grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+' || true)"
  echo "fuzz: $target: ${runs:-?} executions in ${seconds}s (${speed:-?}/s), ${cover:-cov: ?}, no crash"
  rm -f "$log"
done
