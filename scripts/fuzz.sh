#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for SECONDS (default 30),
# seeded with its committed corpus, then prints executions and coverage per target.
# Exits non-zero if any target crashes, times out, runs out of memory or fails to run.
#
#   scripts/fuzz.sh [SECONDS]
#   FUZZ_SANITIZER=none scripts/fuzz.sh [SECONDS]   # faster, without AddressSanitizer
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz
# if it is missing. The committed corpus (fuzz/corpus/<target>/) is only read: new
# inputs go to a temporary directory that is deleted afterwards. Crashing inputs are
# kept in fuzz/artifacts/<target>/ (see fuzz/README.md for turning one into a
# regression test).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS]   (a positive whole number, default 30)" >&2
    exit 2
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (once)..." >&2
    cargo install cargo-fuzz --locked
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== building every fuzz target (sanitizer: $sanitizer)"
cargo +nightly fuzz build --sanitizer "$sanitizer"

mapfile -t targets < <(cargo +nightly fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 1
fi

failed=0
rows=()
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${secs}s"
    mkdir -p "$tmp/corpus/$t" "corpus/$t"
    log="$tmp/$t.log"
    rc=0
    # The first corpus directory receives new inputs; the committed one is read-only seed.
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$tmp/corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    if [ -z "$execs" ]; then
        execs="$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -n 1)"
    fi
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //' || true)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    if [ "$rc" -eq 0 ]; then
        result="ok"
    else
        failed=1
        if grep -q 'ERROR: libFuzzer: timeout' "$log"; then
            result="TIMEOUT"
        elif grep -qE 'out-of-memory|ERROR: libFuzzer: (out-of-memory|malloc limit)' "$log"; then
            result="OOM"
        elif grep -qE 'panicked at|deadly signal|ERROR: AddressSanitizer|Crash|crash-' "$log"; then
            result="CRASH"
        else
            result="FAILED (exit $rc)"
        fi
        echo "---- $t: $result; last lines of its output:" >&2
        tail -n 40 "$log" >&2
        artifact="$(grep -o 'artifacts/[^ ]*' "$log" | tail -n 1 || true)"
        if [ -n "$artifact" ]; then
            echo "---- input saved in fuzz/$artifact" >&2
        fi
    fi
    rows+=("$(printf '%-20s %14s %10s %8s  %s' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$result")")
done

echo
echo "== summary (${secs}s per target)"
printf '%-20s %14s %10s %8s  %s\n' "target" "executions" "exec/s" "cov" "result"
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
    echo "fuzzing found a failure (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
