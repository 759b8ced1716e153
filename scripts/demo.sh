#!/usr/bin/env bash
# The main job, from a fresh machine: install what is missing, build, then run the daemon on a
# demo camera (a real video of people in ../shared, looping) with a roster enrolled from the
# shared identity photos and a class session running now, printing attendance as it happens.
#
#   scripts/demo.sh                      events printed here
#   ROLLCALL_DEMO_MQTT=host:port scripts/demo.sh   also published to that broker
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "[demo] building rollcall (release)"
cargo build --release --quiet
rollcall=./target/release/rollcall

shared="$(realpath "${ROLLCALL_SHARED:-../shared}")"
demo=.local/demo
mkdir -p "$demo"
[ -f "$demo/rollcall.key" ] || "$rollcall" keygen --out "$demo/rollcall.key" >/dev/null
# A fresh store each run: the demo's session is today's, and everyone would already be marked.
rm -f "$demo"/rollcall.db*

today=$(date -u +%a | tr 'A-Z' 'a-z')
mqtt=""
if [ -n "${ROLLCALL_DEMO_MQTT:-}" ]; then
    mqtt="[mqtt]
host = \"${ROLLCALL_DEMO_MQTT%:*}\"
port = ${ROLLCALL_DEMO_MQTT##*:}
accept_roster = false"
fi
cat > "$demo/rollcall.toml" <<TOML
# Written by scripts/demo.sh. Paths are relative to this file.
[models]
dir = "../../models"
[runtime]
onnxruntime = "../onnxruntime/libonnxruntime.so.1.31.1"
[store]
path = "rollcall.db"
key_file = "rollcall.key"
[device]
id = "demo"
site = "demo"
[timetable]
timezone = "UTC"
# A session running all of today, so that the demo marks people now.
[[timetable.sessions]]
id = "DEMO"
room = "demo-room"
days = ["$today"]
start = "00:00"
end = "23:59"
grace_min = 1439
[[cameras]]
id = "hamilton"
kind = "uri"
uri = "$shared/videos/short_hamilton_clip.mp4"
loop = true
room = "demo-room"
analysis_fps = 5
$mqtt
TOML

ids="$shared/faces/ageitgey/identities"
{
    echo "id,name,path"
    for f in obama_1.jpg obama_2.jpg obama_3.jpg obama_4.jpg; do echo "obama,Barack Obama,$ids/$f"; done
    echo "linmanuel,Lin-Manuel Miranda,$ids/linmanuel_1.png"
    echo "biden,Joe Biden,$ids/biden_1.jpg"
    echo "kit,Kit Harington,$ids/kit_1.jpg"
    echo "rose,Rose Leslie,$ids/rose_1.jpg"
    echo "alex,Alex Lacamoire,$ids/alex_1.jpg"
} > "$demo/roster.csv"
echo "[demo] enrolling the roster from $ids"
"$rollcall" --config "$demo/rollcall.toml" enroll --csv "$demo/roster.csv" 2>&1 | sed 's/^/[demo]   /'
echo "[demo] watching $shared/videos/short_hamilton_clip.mp4 (looping) in session DEMO; Ctrl-C to stop"
exec "$rollcall" --config "$demo/rollcall.toml" run "$@"
