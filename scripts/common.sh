# Sourced, not run: what the scripts share. Each defines `say` (its own prefix) first.

# Runs a command as root: directly when already root, else through sudo.
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs those of the named apt packages that are not installed yet, and says which.
apt_install_missing() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing apt packages: ${missing[*]}"
        sudo_if_needed apt-get update -qq
        DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        say "apt packages present"
    fi
}

# Makes a fresh, minimal Debian root for a test to install into, as root: `make_root NAME SUITE
# [ARCH]` debootstraps SUITE (for ARCH, emulated when foreign) into a new folder under /var/tmp,
# sets $root to it, mounts /proc, /sys and /dev there, and forbids package scripts to start
# services (as in a container). When the script exits, everything mounted under $root (the
# script's own bind mounts too) is unmounted and the folder deleted. The script defines `fail`.
make_root() {
    local name="$1" suite="$2" arch="${3:-}"
    root=$(mktemp -d "/var/tmp/rollcall-$name-root.XXXXXX")
    chmod 755 "$root"   # it becomes /, which every user must be able to enter
    trap remove_root EXIT
    debootstrap ${arch:+--arch="$arch"} --variant=minbase "$suite" "$root" http://deb.debian.org/debian \
        >"$root.log" 2>&1 || { tail -20 "$root.log"; fail "debootstrap $suite"; }
    rm -f "$root.log"
    mount -t proc proc "$root/proc"
    mount -t sysfs sys "$root/sys"
    mount --bind /dev "$root/dev"
    mount --bind /dev/pts "$root/dev/pts" 2>/dev/null || true
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
}

# Unmounts whatever is mounted under $root, deepest first, and deletes it. Every mount is undone
# before the delete, so a bind mount of the source tree or of ../shared is never deleted through.
remove_root() {
    [ -n "${root:-}" ] && [ -d "$root" ] || return 0
    awk -v prefix="$root/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    if awk -v prefix="$root/" 'index($2, prefix) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "still mounted under $root: left in place" >&2
        return 1
    fi
    rm -rf "$root"
}

# Runs a command inside $root, with no terminal and apt asking nothing.
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@" </dev/null; }
