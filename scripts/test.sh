#!/usr/bin/env bash
# Every check, from a fresh machine: install what is missing, then formatting, lints and all tests
# (real models, real photos; ../shared beside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test-extras
export PATH="$HOME/.cargo/bin:$PATH"
echo "[test] cargo fmt --check"
cargo fmt --check
echo "[test] cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "[test] the INT8 builds: rollcall models quantize (tests/int8_gates.rs measures them)"
cargo build --quiet
target/debug/rollcall models quantize --python .local/quantize-venv/bin/python
echo "[test] cargo test"
cargo test --all-targets
echo "[test] the Debian package: cargo-deb, lintian, installed on a fresh Debian 12 root"
scripts/test-package.sh
