#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, scenario (virtual time) and doc tests.
# This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest (once)..." >&2
    cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
