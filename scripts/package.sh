#!/usr/bin/env bash
# Builds the Debian package, target/debian/rollcall_<version>_<arch>.deb, with cargo-deb
# (installed if missing), and checks it with lintian (no errors allowed).
#
#   scripts/package.sh              builds the release binary first (cargo deb does)
#   scripts/package.sh --no-build   packages target/release/rollcall as it is (scripts/test.sh
#                                   has just built it, and may still be running tests with it)
#   scripts/package.sh --arch arm64 cross-builds target/aarch64-unknown-linux-gnu/release/rollcall
#                                   and packages it as rollcall_<version>_arm64.deb, on x86-64
#                                   (scripts/setup.sh --arm64 installs what that takes)
#
# The package holds the binary, the systemd unit (not enabled on install), the commented config
# as the conffile /etc/rollcall/rollcall.toml with the installed paths, and the docs. Models and
# ONNX Runtime are not in it: `rollcall models fetch` fetches them. scripts/test-package.sh
# installs it on a fresh Debian 12 root and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[package] $*"; }

no_build=0 arch=native
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) no_build=1 ;;
        --arch) arch="${2:-}"; shift ;;
        *) echo "usage: scripts/package.sh [--no-build] [--arch arm64] (not $1)" >&2; exit 2 ;;
    esac
    shift
done
case "$arch" in
    native | arm64) ;;
    *) echo "scripts/package.sh: --arch takes arm64 (or nothing, for this machine's), not '$arch'" >&2; exit 2 ;;
esac
# shellcheck source=scripts/common.sh
. scripts/common.sh
export PATH="$HOME/.cargo/bin:$PATH"

apt_install_missing lintian dpkg-dev
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

build=()
[ "$no_build" = 1 ] && build=(--no-build)
if [ "$arch" = arm64 ]; then
    # shellcheck source=scripts/arm64.sh
    . scripts/arm64.sh
    [ -f "$ARM64_SYSROOT/.rollcall-sysroot" ] || { say "no arm64 sysroot: run scripts/setup.sh --arm64"; exit 1; }
    arm64_env
    if [ "$no_build" = 0 ]; then
        say "cross-building for $ARM64_TARGET"
        cargo build --release --locked --target "$ARM64_TARGET" --bin rollcall
    fi
    say "building the package"
    deb=$(cargo deb --no-build --target "$ARM64_TARGET" --strip --quiet 2>/dev/null | tail -1)
    [ -f "$deb" ] || deb=$(ls -t target/"$ARM64_TARGET"/debian/rollcall_*_arm64.deb | head -1)
    # cargo-deb found no shared libraries to depend on (its `$auto` asks this machine's dpkg,
    # which has no arm64 packages): add them, as dpkg-shlibdeps gives them from the sysroot.
    libs=$(arm64_depends "$PWD/target/$ARM64_TARGET/release/rollcall")
    [ -n "$libs" ] || { say "dpkg-shlibdeps found no libraries for the arm64 binary"; exit 1; }
    unpacked=$(mktemp -d)
    dpkg-deb -R "$deb" "$unpacked/pkg"
    sed -i -E "s/^Depends: (.*)$/Depends: \1, $libs/" "$unpacked/pkg/DEBIAN/control"
    dpkg-deb --root-owner-group -Zxz --build "$unpacked/pkg" "$deb" >/dev/null
    rm -rf "$unpacked"
else
    say "building the package"
    deb=$(cargo deb "${build[@]}" --strip --quiet 2>/dev/null | tail -1)
    [ -f "$deb" ] || deb=$(ls -t target/debian/rollcall_*.deb | head -1)
fi
say "checking $deb with lintian"
lintian --fail-on error "$deb" || {
    say "lintian found errors"; exit 1; }
say "$deb: $(du -k "$deb" | cut -f1) KiB"
echo "$deb"
