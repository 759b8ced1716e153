#!/usr/bin/env bash
# The main job, from a fresh machine: install what is missing, build, then run the daemon with
# config/demo.toml: a looping video made from the shared photos as the camera, a roster enrolled
# from other photos of the same people (config/demo-roster.csv), and a class session running now.
# Attendance and alerts are printed as they happen; uncomment [mqtt] in config/demo.toml to
# publish them too. Extra arguments go to `rollcall run` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "[demo] building rollcall (release)"
cargo build --release --quiet
rollcall=./target/release/rollcall
config=config/demo.toml

if [ ! -d ../shared/faces ]; then
    echo "[demo] the shared photos are missing: ../shared/faces should be beside this repository" >&2
    exit 1
fi
demo=.local/demo
mkdir -p "$demo"
if [ -f "$demo/rollcall.key" ]; then
    echo "[demo] store key present ($demo/rollcall.key)"
else
    echo "[demo] making a store key ($demo/rollcall.key)"
    "$rollcall" keygen --out "$demo/rollcall.key" >/dev/null
fi
if [ -f "$demo/classroom.webm" ]; then
    echo "[demo] camera video present ($demo/classroom.webm)"
else
    echo "[demo] making the camera video from the photos in config/demo-slides.txt"
    "$rollcall" slideshow --list config/demo-slides.txt --out "$demo/classroom.webm" | sed 's/^/[demo]   /'
fi
# A fresh store each run: the session is today's, and everyone would already be marked.
rm -f "$demo"/rollcall.db*
echo "[demo] enrolling the roster in config/demo-roster.csv"
"$rollcall" --config "$config" enroll --csv config/demo-roster.csv 2>&1 | sed 's/^/[demo]   /'
"$rollcall" check-config "$config" | sed 's/^/[demo]   /'
echo "[demo] running the daemon on $demo/classroom.webm (looping) in session DEMO; Ctrl-C to stop"
exec "$rollcall" --config "$config" --log "${ROLLCALL_LOG:-warn}" run "$@"
