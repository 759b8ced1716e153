#!/usr/bin/env bash
# rollcall on older system libraries: builds it in a fresh Debian 11 (bullseye) root, whose
# GStreamer (1.18) and OpenCV (4.5.1) are older than JetPack 6's Ubuntu 22.04 (1.20, 4.5.4), and
# runs there its unit tests, the parity tests (OpenCV's decoding, resizing and warping feed the
# models: same answers as the fixtures) and the capture tests (files, RTSP, the slideshow and the
# camera supervision, on GStreamer 1.18). What passes here asks nothing newer of either.
#
#   scripts/test-bullseye.sh     (root or sudo; needs the network for Debian's packages)
#
# The root is made with debootstrap (minbase) in a fresh folder and deleted afterwards. It
# borrows this machine's Rust toolchain and crate cache (rustup's builds need only glibc 2.17),
# and builds into target/bullseye; the photos are ../shared, mounted where the tests expect them.
# About 10 minutes on 2 cores; scripts/test.sh runs it when ROLLCALL_PLATFORMS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[test-bullseye] $(date +%T) $*"; }
fail() { echo "[test-bullseye] FAILED: $*" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
# shellcheck source=scripts/common.sh
. scripts/common.sh
apt_install_missing debootstrap
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
shared="${ROLLCALL_SHARED:-$(cd .. && pwd)/shared}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
started=$(date +%s)
# The models and both ONNX Runtimes the parity tests load, in the source tree the root mounts.
scripts/setup.sh --test-extras >/dev/null

say "making a Debian 11 root"
make_root bullseye bullseye

# What scripts/setup.sh installs to build and run, by the same names, and of its test extras the
# RTSP server library and the plugins the capture tests encode and overlay with.
say "installing the build dependencies"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends build-essential pkg-config clang libclang-dev \
    libopencv-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav \
    gstreamer1.0-plugins-ugly gstreamer1.0-x ca-certificates >"$root/tmp/apt.log" 2>&1 \
    || { tail -20 "$root/tmp/apt.log"; fail "apt-get install"; }
say "GStreamer $(in_root pkg-config --modversion gstreamer-1.0), OpenCV $(in_root pkg-config --modversion opencv4)"

for m in work/shared work/rollcall opt/cargo opt/rustup; do mkdir -p "$root/$m"; done
mount --bind "$PWD" "$root/work/rollcall"
mount --bind -o ro "$shared" "$root/work/shared"
mount --bind "$cargo_home" "$root/opt/cargo"
mount --bind "$rustup_home" "$root/opt/rustup"

cargo_in_root() {
    chroot "$root" env CARGO_HOME=/opt/cargo RUSTUP_HOME=/opt/rustup PATH=/opt/cargo/bin:/usr/bin:/bin \
        CARGO_TARGET_DIR=/work/rollcall/target/bullseye LC_ALL=C.UTF-8 \
        sh -c "cd /work/rollcall && cargo $*" </dev/null
}
say "building and running the unit tests"
cargo_in_root test --release --locked --offline --lib || fail "the unit tests on Debian 11"
say "the parity and capture tests"
cargo_in_root test --release --locked --offline --test it -- parity:: capture:: \
    || fail "the parity or capture tests on Debian 11"
say "ok, $(($(date +%s) - started)) s in all"
