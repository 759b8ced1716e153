#!/usr/bin/env bash
# A Python for `rollcall models quantize --python`: copies the quantize plan and its calibration
# tensors to target/int8-plan (the command removes its own copy when it ends), then quantizes as
# usual. tools/int8/mixed_precision.py works on the copy.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
for arg in "$@"; do
    case "$arg" in
    *plan.json)
        rm -rf "$root/target/int8-plan"
        mkdir -p "$root/target"
        cp -r "$(dirname "$arg")" "$root/target/int8-plan"
        ;;
    esac
done
exec "$root/.local/quantize-venv/bin/python" "$@"
