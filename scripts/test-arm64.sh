#!/usr/bin/env bash
# The arm64 build, proven under emulation on this x86-64 machine: cross-built and packaged
# (scripts/package.sh --arch arm64), installed with apt on a fresh Debian 12 arm64 root run by
# qemu's user-mode emulator, given ONNX Runtime's aarch64 build from PyPI by `rollcall models
# fetch`, and then checked by the integration tests' `arm64::` group, which runs rollcall inside
# the root: the parity photos against the x86-64 fixtures, and the demo to five of five.
#
#   scripts/test-arm64.sh             (root or sudo; needs the network for Debian and PyPI)
#   scripts/test-arm64.sh --no-build  packages the arm64 binary already built
#
# It takes about 40 minutes on 2 cores, most of it emulated NEON arithmetic, so it is not part
# of CI's run: scripts/test.sh runs it when ROLLCALL_PLATFORMS=1. The root is made in a fresh
# folder and deleted afterwards. Prints each step's time.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[test-arm64] $(date +%T) $*"; }
fail() { echo "[test-arm64] FAILED: $*" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
export PATH="$HOME/.cargo/bin:$PATH"
shared="${ROLLCALL_SHARED:-$(cd .. && pwd)/shared}"
started=$(date +%s)

scripts/setup.sh --arm64
say "cross-building and packaging for arm64"
build_started=$(date +%s)
deb=$(bash scripts/package.sh --arch arm64 "$@" | tail -1)
say "package: $deb, $(du -k "$deb" | cut -f1) KiB, $(($(date +%s) - build_started)) s"
say "building the integration tests (x86-64: they drive the root from outside)"
it=$(cargo test --release --test it --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\/it-[0-9a-f]*\)".*/\1/p' | tail -1)
[ -x "$it" ] || fail "cannot find the integration tests' binary"

# qemu runs arm64 programs through binfmt_misc, which a container may not have mounted. The F
# flag (in the registration qemu ships) opens the emulator now, so it works inside the chroot.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
fi

root=$(mktemp -d /var/tmp/rollcall-arm64-root.XXXXXX)
chmod 755 "$root"
cleanup() {
    for m in work/shared dev/pts proc sys dev; do umount -l "$root/$m" 2>/dev/null || true; done
    rm -rf "$root"
}
trap cleanup EXIT
say "making a Debian 12 arm64 root in $root (emulated)"
debootstrap --arch=arm64 --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 \
    || { tail -20 "$root.log"; fail "debootstrap"; }
rm -f "$root.log"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts" 2>/dev/null || true
# The root reaches the network as this machine does: its resolver, and the certificate
# authorities an admin added here (a proxy's, say), which ca-certificates takes in when apt
# installs it below (pip needs them to reach PyPI).
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@" </dev/null; }
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
in_root apt-get update -qq

say "installing the package with apt (its Recommends too: python3 and pip, for models fetch)"
cp "$deb" "$root/tmp/rollcall.deb"
in_root apt-get install -y -qq /tmp/rollcall.deb >"$root/tmp/install.log" 2>&1 \
    || { tail -30 "$root/tmp/install.log"; fail "apt-get install"; }
in_root rollcall --version

say "rollcall models fetch: ONNX Runtime's aarch64 wheel from PyPI, checked against the manifest"
# The other wheels come from this machine's cache, as in scripts/test-package.sh; its x86-64
# onnxruntime wheels are there too, and must be passed over for the aarch64 one.
mkdir -p "$root/tmp/wheels" "$root/tmp/shared/models"
cp .local/wheels/*.whl "$root/tmp/wheels/"
cp "$shared"/models/yunet_s_dynamic.onnx "$shared"/models/*MiniFASNet*.onnx "$root/tmp/shared/models/"
in_root rollcall --config /etc/rollcall/rollcall.toml models fetch --wheels /tmp/wheels --shared /tmp/shared \
    || fail "rollcall models fetch"
ls "$root"/tmp/wheels/onnxruntime-*aarch64*.whl >/dev/null || fail "no aarch64 onnxruntime wheel was fetched"

# The photos, where the tests look for them.
mkdir -p "$root/work/shared"
mount --bind -o ro "$shared" "$root/work/shared"

say "the arm64:: tests, in the root"
ROLLCALL_ARM64_ROOT="$root" "$it" --ignored --test-threads 1 --nocapture arm64::
say "ok, $(($(date +%s) - started)) s in all"
