#!/usr/bin/env bash
# Builds the Debian package, target/debian/rollcall_<version>_<arch>.deb, with cargo-deb
# (installed if missing), and checks it with lintian (no errors allowed).
#
#   scripts/package.sh              builds the release binary first (cargo deb does)
#   scripts/package.sh --no-build   packages target/release/rollcall as it is (scripts/test.sh
#                                   has just built it, and may still be running tests with it)
#
# The package holds the binary, the systemd unit (not enabled on install), the commented config
# as the conffile /etc/rollcall/rollcall.toml with the installed paths, and the docs. Models and
# ONNX Runtime are not in it: `rollcall models fetch` fetches them. scripts/test-package.sh
# installs it on a fresh Debian 12 root and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[package] $*"; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export PATH="$HOME/.cargo/bin:$PATH"

missing=()
for p in lintian dpkg-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb (a few minutes, once)"
    cargo install cargo-deb --locked --version 3.8.0 >/dev/null
fi

# The conffile: the commented example, with the paths of an installed box.
mkdir -p target/deb-assets
python3 - <<'PY'
import pathlib, tomllib
text = pathlib.Path("config/rollcall.toml").read_text()
ort = "libonnxruntime.so." + tomllib.loads(pathlib.Path("models/manifest.toml").read_text())["onnxruntime"]["version"]
for old, new in [
    ('# Where the model files are (scripts/setup.sh fetches them into the repo\'s models/).\ndir = "../models"',
     '# Where the model files are (`rollcall models fetch` puts them here). Root\'s, and read-only to the\n'
     '# service: nothing the daemon can write is code that root or the daemon later loads.\n'
     'dir = "/var/lib/rollcall-models"'),
    ('# onnxruntime = "/opt/onnxruntime/lib/libonnxruntime.so"\n',
     '# onnxruntime = "/opt/onnxruntime/lib/libonnxruntime.so"\n'
     f'onnxruntime = "/var/lib/rollcall-models/onnxruntime/{ort}"   # where `rollcall models fetch` puts it\n'),
    ('path = "rollcall.db"', 'path = "/var/lib/rollcall/rollcall.db"'),
]:
    if old not in text:
        raise SystemExit(f"[package] config/rollcall.toml changed: cannot find {old!r}; update scripts/package.sh")
    text = text.replace(old, new, 1)
pathlib.Path("target/deb-assets/rollcall.toml").write_text(text)
PY

say "building the package"
build=()
[ "${1:-}" = "--no-build" ] && build=(--no-build)
deb=$(cargo deb "${build[@]}" --strip --quiet 2>/dev/null | tail -1)
[ -f "$deb" ] || deb=$(ls -t target/debian/rollcall_*.deb | head -1)
say "checking $deb with lintian"
lintian --fail-on error "$deb" || {
    say "lintian found errors"; exit 1; }
say "$deb: $(du -k "$deb" | cut -f1) KiB"
echo "$deb"
