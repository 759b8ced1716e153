# Sourced, not run: what building rollcall for arm64 on an x86-64 Debian 12 machine takes.
#
# rollcall links OpenCV and GStreamer. Debian's arm64 -dev packages cannot sit beside the
# machine's own amd64 ones (apt removes libopencv-dev to install libopencv-imgcodecs-dev:arm64),
# so they go into a sysroot of their own, .local/arm64-sysroot: the packages below and their
# dependencies, downloaded by debootstrap and unpacked, never configured, run by nothing. The
# cross compiler links against it. scripts/setup.sh --arm64 makes it; scripts/package.sh --arch
# arm64 builds with it.

ARM64_TARGET=aarch64-unknown-linux-gnu
ARM64_SYSROOT="$PWD/.local/arm64-sysroot"
ARM64_SUITE=bookworm
ARM64_MIRROR="${ROLLCALL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The headers and libraries rollcall's crates link (opencv: core, imgproc, imgcodecs; gstreamer:
# core, app, video) and the C and C++ runtimes the cross compiler links against.
ARM64_SYSROOT_PACKAGES=libc6-dev,libstdc++-12-dev,libopencv-core-dev,libopencv-imgproc-dev,libopencv-imgcodecs-dev,libgstreamer1.0-dev,libgstreamer-plugins-base1.0-dev

# Makes the sysroot, once per package list: debootstrap's first stage downloads the packages
# (no emulation needed), and each is unpacked into the sysroot.
arm64_sysroot() {
    local stamp="$ARM64_SYSROOT/.rollcall-sysroot" wanted="$ARM64_SUITE $ARM64_SYSROOT_PACKAGES"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        echo "[setup] arm64 sysroot present: ${ARM64_SYSROOT#"$PWD"/}"
        return
    fi
    echo "[setup] making the arm64 sysroot ${ARM64_SYSROOT#"$PWD"/} (Debian 12's arm64 OpenCV and GStreamer, a minute)"
    rm -rf "$ARM64_SYSROOT"
    debootstrap --foreign --arch=arm64 --variant=minbase --include="$ARM64_SYSROOT_PACKAGES" \
        "$ARM64_SUITE" "$ARM64_SYSROOT" "$ARM64_MIRROR" >"$ARM64_SYSROOT.log" 2>&1 || {
        echo "[setup] debootstrap failed; see $ARM64_SYSROOT.log" >&2
        return 1
    }
    local deb
    : >"$ARM64_SYSROOT/.shlibs"
    for deb in "$ARM64_SYSROOT"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$ARM64_SYSROOT"
        # What each library's package promises (its shlibs file), for arm64_depends: no dpkg
        # database records it here.
        dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./shlibs 2>/dev/null >>"$ARM64_SYSROOT/.shlibs" || true
    done
    rm -f "$ARM64_SYSROOT"/var/cache/apt/archives/*.deb "$ARM64_SYSROOT.log"
    echo "$wanted" >"$stamp"
}

# The Depends line for the shared libraries `binary` needs, as dpkg-shlibdeps gives it, from the
# sysroot's libraries and their packages' shlibs files. cargo-deb's `$auto` cannot: it asks
# dpkg's database, which holds no arm64 packages here.
arm64_depends() {
    local binary="$1" work
    work=$(mktemp -d)
    mkdir -p "$work/debian" && touch "$work/debian/control"
    (cd "$work" && DEB_HOST_ARCH=arm64 dpkg-shlibdeps -O -xlibgcc -L"$ARM64_SYSROOT/.shlibs" \
        -l"$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu" -l"$ARM64_SYSROOT/lib/aarch64-linux-gnu" \
        "$binary" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
    rm -rf "$work"
}

# Points cargo, cc, pkg-config and the opencv crate at the cross compiler and the sysroot.
arm64_env() {
    local s="$ARM64_SYSROOT" lib="$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    # BLAS and LAPACK (OpenCV's) are found through alternatives links that only a configured
    # root has; the linker is told where the real ones are.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$s -C link-arg=-Wl,-rpath-link,$lib/lapack:$lib/blas"
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
    export CFLAGS_aarch64_unknown_linux_gnu="--sysroot=$s" CXXFLAGS_aarch64_unknown_linux_gnu="--sysroot=$s"
    export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_SYSROOT_DIR="$s"
    export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$s/usr/share/pkgconfig"
    # Debian's opencv4.pc comes with libopencv-dev, which pulls every module; the crate is told
    # where the three it uses are instead. cvconfig.h is in the multiarch include directory.
    export OPENCV_LINK_LIBS=opencv_core,opencv_imgproc,opencv_imgcodecs OPENCV_LINK_PATHS="$lib"
    export OPENCV_INCLUDE_PATHS="$s/usr/include/opencv4,$s/usr/include/aarch64-linux-gnu/opencv4"
}
