#!/usr/bin/env bash
# Every check, from a fresh machine: install what is missing, then formatting, lints, every test
# (real models, real photos; ../shared beside the repo), the figure suites and the package.
#
# CI runs this on 2 cores within a budget (docs/architecture.md, "Tests, benches and figure
# suites"), so the work is arranged to compile once and keep both cores busy:
# - one build, in the release profile, serves the lints, the tests, the figure suites, the INT8
#   builds and the .deb. Clippy lints the workspace as that build compiles it (clippy-driver as
#   the workspace's compiler, warnings denied): the same lints as `cargo clippy --workspace
#   --all-targets -- -D warnings`, without checking every dependency a second time;
# - the figure suites (`#[ignore]`d in tests/it) and the package test run in the background,
#   the figure suites at the lowest priority, so they take only the processor time the tests
#   (which mostly wait on brokers, streams and daemons) leave idle, and never slow a test that
#   keeps time. Their output follows the tests'.
# `cargo test` on its own (debug) runs the same tests but the figure suites.
#
# With ROLLCALL_PLATFORMS=1 it also proves the other platforms, after everything else: the arm64
# build under emulation (scripts/test-arm64.sh, about 40 minutes) and the build and unit tests
# on Debian 11's older GStreamer and OpenCV (scripts/test-bullseye.sh). CI does not set it: either
# alone would take it past its budget.
#
# Each phase prints its wall time, and the last lines sum them up.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
logs=target/test-logs

timings=()
phase_name=""
phase_start=0
started=$(date +%s)
phase() {
    local now
    now=$(date +%s)
    if [ -n "$phase_name" ]; then
        timings+=("$(printf '%-58s %5d s' "$phase_name" $((now - phase_start)))")
    fi
    phase_name="$1"
    phase_start=$now
    if [ -n "$phase_name" ]; then echo "[test] $phase_name"; fi
}

# Background jobs: name -> pid; each writes its log and, when done, its wall time.
declare -A jobs=()
in_background() {
    local name=$1
    shift
    echo "[test] started in the background: $name (log: $logs/$name.log)"
    (
        local t0
        t0=$(date +%s)
        rc=0
        "$@" >"$logs/$name.log" 2>&1 || rc=$?
        echo "$(($(date +%s) - t0))" >"$logs/$name.seconds"
        exit "$rc"
    ) &
    jobs[$name]=$!
}
# On any exit, let the background jobs finish (the package test unmounts its root when it ends).
trap 'for pid in "${jobs[@]}"; do wait "$pid" 2>/dev/null || true; done' EXIT

phase "setup: scripts/setup.sh --test-extras"
scripts/setup.sh --test-extras
mkdir -p "$logs"

phase "cargo fmt --check"
cargo fmt --all --check

phase "build and lint: release, every target, clippy -D warnings"
if ! RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver); then
    echo "[test] no clippy-driver: rustup component add clippy"
    exit 1
fi
export RUSTC_WORKSPACE_WRAPPER
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
cargo test --release --workspace --all-targets --no-run 2>&1 | tee "$logs/build.log"
# The integration tests' binary, to run the figure suites beside the tests without waiting for
# cargo's lock on the build folder.
it=$(sed -n 's#.*(\(target/release/deps/it-[0-9a-f]*\)).*#\1#p' "$logs/build.log" | tail -1)
[ -x "$it" ] || { echo "[test] cannot find the integration tests' binary in $logs/build.log"; exit 1; }

# The figure suites that need no INT8 build, and the package test, from now on.
# All three at once: the longest (open_set_scale) would otherwise start only when one of the
# others ends, and finish alone on one core at the very end of the run.
in_background figures-fp32 nice -n 19 "$it" --ignored --test-threads 3 open_set_scale:: liveness_quality:: classroom::
# Without the lint settings: on a new machine the package test first builds cargo-deb, which
# is no code of ours to lint.
in_background package env -u RUSTC_WORKSPACE_WRAPPER -u RUSTFLAGS scripts/test-package.sh --no-build

phase "INT8 builds: rollcall models quantize"
target/release/rollcall models quantize --python .local/quantize-venv/bin/python

# Ahead of the other figure suites (nice 15 against 19), which do not wait on the INT8 builds and
# so have had a head start; three at a time, as the first gates wait on YuNet's FP32 faces that
# one of them finds for all.
in_background figures-int8 nice -n 15 "$it" --ignored --test-threads 3 int8_gates::

phase "tests: cargo test --release"
cargo test --release --workspace --all-targets

phase "figure suites and package test: waiting for the background"
failed=()
for name in figures-fp32 figures-int8 package; do
    rc=0
    wait "${jobs[$name]}" || rc=$?
    echo "[test] ---- $name (ran in the background), exit status $rc ----"
    cat "$logs/$name.log"
    timings+=("$(printf '  %-56s %5d s' "$name (background)" "$(cat "$logs/$name.seconds" 2>/dev/null || echo 0)")")
    [ "$rc" -eq 0 ] || failed+=("$name")
done
if [ "${ROLLCALL_PLATFORMS:-0}" = 1 ]; then
    for platform in arm64 bullseye; do
        phase "other platforms: scripts/test-$platform.sh"
        scripts/test-"$platform".sh || failed+=("$platform")
    done
fi
phase ""

echo "[test] wall time by phase:"
printf '[test]   %s\n' "${timings[@]}"
echo "[test]   total $(($(date +%s) - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "[test] FAILED: ${failed[*]}"
    exit 1
fi
