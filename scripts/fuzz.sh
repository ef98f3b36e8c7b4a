#!/usr/bin/env bash
# Run one fuzz target for N minutes: scripts/fuzz.sh <target> <minutes> [libFuzzer options…]
#
# Targets: fuzz/fuzz_targets/*.rs (archive, transcode, item_json, documents, index, modifiers,
# labels, mappings, bsl). Needs the nightly toolchain; installs cargo-fuzz when missing. The
# committed seeds in fuzz/corpus/<target> are read, never written: new inputs go to
# $SKIFF_FUZZ_DIR/corpus/<target> (default ~/.cache/skiff/fuzz), crashes to
# $SKIFF_FUZZ_DIR/artifacts/<target>. Builds go to ~/.cache/skiff/fuzz-target.
# Every crash found becomes a regression test under crates/*/tests.
set -euo pipefail

target=${1:?usage: scripts/fuzz.sh <target> <minutes> [libFuzzer options…]}
minutes=${2:?usage: scripts/fuzz.sh <target> <minutes> [libFuzzer options…]}
shift 2

root=$(cd "$(dirname "$0")/.." && pwd)
work=${SKIFF_FUZZ_DIR:-$HOME/.cache/skiff/fuzz}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_FUZZ:-$HOME/.cache/skiff/fuzz-target}

if [ ! -f "$root/fuzz/fuzz_targets/$target.rs" ]; then
    echo "unknown target $target; one of: $(cd "$root/fuzz/fuzz_targets" && ls | sed 's/\.rs$//' | tr '\n' ' ')" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

mkdir -p "$work/corpus/$target" "$work/artifacts/$target" "$root/fuzz/corpus/$target"
log="$work/$target.log"
cd "$root/fuzz"
set +e
cargo +nightly fuzz run "$target" "$work/corpus/$target" "corpus/$target" -- \
    -max_total_time=$((minutes * 60)) \
    -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 \
    -timeout=10 \
    -max_len=1048576 \
    -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$target/" \
    "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

echo
echo "== $target: $minutes min, exit $status =="
# libFuzzer's last status line (execs, coverage, features, corpus) and its final stats.
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^stat::' "$log" || true
crashes=$(find "$work/artifacts/$target" -type f | wc -l)
echo "artifacts (crashes, timeouts, OOMs) in $work/artifacts/$target: $crashes"
exit "$status"
