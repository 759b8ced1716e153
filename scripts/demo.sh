#!/usr/bin/env bash
# The main job, from a fresh machine: install what is missing, build, then find and name the
# faces in the shared group photos, knowing each person from one photo of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "[demo] building rollcall (release)"
cargo build --release --quiet

shared="${ROLLCALL_SHARED:-../shared}"
known=.local/demo/known
mkdir -p "$known"
for person in obama biden kit rose alex; do
    ln -sf "$(realpath "$shared/faces/ageitgey/identities/${person}_1.jpg")" "$known/$person.jpg"
done
ln -sf "$(realpath "$shared/faces/ageitgey/identities/linmanuel_1.png")" "$known/linmanuel.png"
echo "[demo] known people: obama, biden, kit, rose, alex, linmanuel (one photo each)"
exec ./target/release/rollcall detect --known "$known" "$shared"/faces/ageitgey/group/*.jpg "$@"
