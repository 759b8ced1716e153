#!/usr/bin/env bash
# Every check, from a fresh machine: install what is missing, then formatting, lints, every test
# (real models, real photos; ../shared beside the repo), the figure suites and the package.
#
# One build serves everything after the lints: the release profile. The tests, the figure suites
# (`#[ignore]`d in tests/it, too slow for a plain `cargo test`), the INT8 builds they measure and
# the .deb all use it, so nothing is compiled twice. `cargo test` on its own (the debug profile)
# runs the same tests but the figure suites.
#
# Each phase prints its wall time, and the last lines sum them up.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

timings=()
phase_name=""
phase_start=0
phase() {
    local now
    now=$(date +%s)
    if [ -n "$phase_name" ]; then
        timings+=("$(printf '%-44s %5d s' "$phase_name" $((now - phase_start)))")
    fi
    phase_name="$1"
    phase_start=$now
    [ -n "$phase_name" ] && echo "[test] $phase_name"
    return 0
}
started=$(date +%s)

phase "setup: scripts/setup.sh --test-extras"
scripts/setup.sh --test-extras
phase "cargo fmt --check"
cargo fmt --all --check
phase "cargo clippy (workspace, all targets)"
cargo clippy --quiet --workspace --all-targets -- -D warnings
phase "build: cargo test --release --no-run"
cargo test --quiet --release --all-targets --no-run
phase "INT8 builds: rollcall models quantize"
target/release/rollcall models quantize --python .local/quantize-venv/bin/python
phase "tests: cargo test --release"
cargo test --release --all-targets
phase "figure suites: cargo test --release -- --ignored"
cargo test --release --test it -- --ignored
phase "package: scripts/test-package.sh"
scripts/test-package.sh
phase ""

echo "[test] wall time by phase:"
printf '[test]   %s\n' "${timings[@]}"
echo "[test]   total $(($(date +%s) - started)) s"
