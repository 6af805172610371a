#!/usr/bin/env bash
# Fuzzes every decoder of outside input for a bounded time each:
#   snapshot    snapshot files (bulk loads)           strata-snapshot
#   event_rows  event logs: CSV, JSON Lines, Parquet  strata-events
#   requests    gRPC request bodies + their checks    strata-proto, strata-core
#
#   fuzz/run.sh [seconds per target, default 60] [targets...]
#
# Uses cargo-fuzz (installed if missing) on the stable toolchain without a
# sanitizer (-s none: Rust code is memory-safe; we look for panics, aborts and
# runaway allocation, capped by -rss_limit_mb). Seeds are made with the
# release `strata` binary when it exists. A crash leaves its input under
# fuzz/artifacts/<target>/ and makes this script fail.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(requests snapshot event_rows)

# Instrumented builds must not share the main build's artifacts.
export CARGO_TARGET_DIR="${STRATA_FUZZ_TARGET_DIR:-/work/fuzz-target}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

strata="${STRATA_BIN:-/work/target/release/strata}"
if [ -x "$strata" ]; then
  seeds="$(mktemp -d)"
  trap 'rm -rf "$seeds"' EXIT
  mkdir -p corpus/event_rows corpus/snapshot
  # The first byte picks the format: 0 = CSV, 1 = JSON Lines, 2 = Parquet.
  for selector_format in "0 csv" "1 jsonl" "2 parquet"; do
    set -- $selector_format
    "$strata" gen --users 8 --days 60 --seed 3 --out "$seeds/events.$2" >/dev/null 2>&1
    { printf "\\x0$1"; cat "$seeds/events.$2"; } > "corpus/event_rows/seed-$2"
  done
  "$strata" recompute --events "$seeds/events.csv" --as-of 2025-01-01T00:00:00Z \
    --snapshot "$seeds/seed.snapshot" --state "$seeds/state.jsonl" >/dev/null 2>&1
  cp "$seeds/seed.snapshot" corpus/snapshot/seed
fi

for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${seconds}s"
  mkdir -p "corpus/$target"
  cargo fuzz run --release -s none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 |
    grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY)|panicked|crash-" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz target $target failed: see fuzz/artifacts/$target"; exit 1; }
done
echo "fuzzing: no crash in ${#targets[@]} targets x ${seconds}s"
