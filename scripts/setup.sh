#!/usr/bin/env bash
# Installs what rollcall needs on Debian 12 (or Ubuntu), idempotently, saying what it does:
# apt packages, a Rust toolchain, ONNX Runtime (from the PyPI onnxruntime wheel) and the models
# (from their PyPI wheels, or ../shared/models), each model checked against its sha256.
#
#   scripts/setup.sh                 what the daemon needs
#   scripts/setup.sh --test-extras   also what the tests need
#   scripts/setup.sh --arm64         also what building for arm64 (scripts/package.sh --arch
#                                    arm64) and running it under emulation (scripts/test-arm64.sh)
#                                    need, on an x86-64 Debian 12 machine
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[setup] $*"; }

test_extras=0 arm64=0
for arg in "$@"; do
    case "$arg" in
        --test-extras) test_extras=1 ;;
        --arm64) arm64=1 ;;
        *) echo "usage: scripts/setup.sh [--test-extras] [--arm64] (not $arg)" >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/common.sh
. scripts/common.sh

# Build: a C toolchain, pkg-config, libclang (the opencv crate generates its bindings with it),
# OpenCV's and GStreamer's headers. Run: GStreamer's plugins for RTSP (good), H.264/H.265 parsing
# (bad) and software decoding (libav). Fetching: python3 with pip.
packages=(build-essential pkg-config clang libclang-dev libopencv-dev python3 ca-certificates
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav)
# Tests and benchmarks also serve RTSP (gst-rtsp-server), encode H.264 (x264enc, in ugly) and
# start their own MQTT broker (mosquitto, with TLS certificates made by openssl), attack it with
# mosquitto_pub (mosquitto-clients), score the service unit with systemd-analyze, and check the
# metrics with promtool (prometheus; its server is not needed, and an install without a running
# systemd does not start it), and quantize the models in a Python venv (python3-venv). Burned-in
# subtitles, as a broadcast has them, come from textoverlay (the pango plugin, in gstreamer1.0-x).
if [ "$test_extras" = 1 ]; then
    packages+=(libgstrtspserver-1.0-dev gstreamer1.0-plugins-ugly gstreamer1.0-x mosquitto mosquitto-clients
        openssl systemd prometheus python3-venv)
fi
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
# The fetch script reads the catalogue with tomllib, new in Python 3.11; before (Ubuntu 22.04,
# JetPack 6), with tomli.
python3 -c 'import tomllib' 2>/dev/null || python3 -c 'import tomli' 2>/dev/null || packages+=(python3-tomli)
apt_install_missing "${packages[@]}"

# Rust: ort 2.0.0-rc.15 needs rustc 1.92 or newer; Debian's rustc is older, so use rustup.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    say "installing Rust (rustup, stable)"
    command -v curl >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq curl >/dev/null
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy >/dev/null
fi
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ "$rust_minor" -lt 92 ]; then
    say "rustc $(rustc --version) is older than 1.92; updating with rustup"
    rustup update stable >/dev/null
fi
if [ "$test_extras" = 1 ] && ! command -v clippy-driver >/dev/null 2>&1; then
    say "adding rustfmt and clippy (scripts/test.sh lints with them)"
    rustup component add rustfmt clippy >/dev/null
fi
say "$(cargo --version)"

# The documented backend examples (docs/examples/) sign and seal rosters, and check what devices
# sign, with Python's cryptography and pyhpke (HPKE, RFC 9180), and subscribe with paho-mqtt.
if [ "$test_extras" = 1 ] && ! python3 -c 'import cryptography, pyhpke, paho.mqtt' 2>/dev/null; then
    say "installing the Python cryptography, pyhpke and paho-mqtt packages (for the backend examples)"
    python3 -m pip install --quiet "cryptography>=41" "pyhpke==0.6.5" "paho-mqtt==2.2.0" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "cryptography>=41" "pyhpke==0.6.5" "paho-mqtt==2.2.0"
fi

# ONNX Runtime and the models.
fetch_args=()
if [ "$test_extras" = 1 ]; then fetch_args+=(--test-extras); fi
python3 scripts/fetch_models.py "${fetch_args[@]}"

# ONNX Runtime's Python quantization tools, for `rollcall models quantize` (the tests measure the
# INT8 builds against their FP32 originals), in their own environment at pinned versions.
if [ "$test_extras" = 1 ]; then
    venv=.local/quantize-venv
    stamp="$venv/requirements.sha256"
    ort_version=$(python3 -c 'import tomllib; print(tomllib.load(open("models/manifest.toml", "rb"))["onnxruntime"]["version"])')
    wanted=$( (cat scripts/requirements-quantize.txt; echo "onnxruntime==$ort_version") | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "making $venv (scripts/requirements-quantize.txt, onnxruntime==$ort_version)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-quantize.txt \
            "onnxruntime==$ort_version"
        echo "$wanted" > "$stamp"
    else
        say "$venv present"
    fi
fi

# arm64: the cross compiler and Rust's aarch64 standard library; the sysroot of Debian's arm64
# OpenCV and GStreamer (scripts/arm64.sh says why it is a sysroot); debootstrap, which makes it
# and the emulated root of scripts/test-arm64.sh; and qemu's user-mode emulator. That one comes
# from bookworm-backports (qemu 10): under Debian 12's qemu 7.2, ONNX Runtime 1.31's aarch64
# build crashes (SIGSEGV) while it reads the CPU's cache sizes, with every -cpu model. (8 and 9
# were not tried.)
if [ "$arm64" = 1 ]; then
    apt_install_missing gcc-aarch64-linux-gnu g++-aarch64-linux-gnu debootstrap
    qemu_major=$(qemu-aarch64-static --version 2>/dev/null | sed -nE 's/^qemu-aarch64 version ([0-9]+).*/\1/p')
    if [ "${qemu_major:-0}" -lt 10 ]; then
        if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
            say "adding bookworm-backports (for qemu-user-static 10)"
            printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                | sudo_if_needed tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
        fi
        say "installing qemu-user-static from bookworm-backports"
        sudo_if_needed apt-get update -qq
        DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends \
            -t bookworm-backports qemu-user-static >/dev/null
    fi
    say "$(qemu-aarch64-static --version | head -1)"
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        say "adding Rust's aarch64-unknown-linux-gnu target"
        rustup target add aarch64-unknown-linux-gnu >/dev/null
    fi
    # shellcheck source=scripts/arm64.sh
    . scripts/arm64.sh
    arm64_sysroot
fi
