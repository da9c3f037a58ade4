#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, scenario (virtual time) and doc tests.
# This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest (once)..." >&2
    cargo install cargo-nextest --locked
fi
# 1. Everything, optimised (the 100,000-message adversity tests need it).
cargo nextest run --workspace --no-fail-fast
# 2. Everything but those two again, with debug assertions on.
cargo nextest run --workspace --no-fail-fast --cargo-profile checked \
    -E 'not (test(=exactly_once_under_adversity) | test(=spurious_losses_rare))'
# 3. Doc tests.
cargo test --workspace --doc
