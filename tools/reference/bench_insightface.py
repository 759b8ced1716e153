#!/usr/bin/env python3
"""Time insightface's FaceAnalysis (SCRFD-500M + w600k_mbf, 640x640) on the photos given.

The comparison point for `rollcall bench --detector scrfd-500m --recognizer arcface-w600k-mbf
--no-antispoof PATHS`: give it the same PATHS (photos or folders, searched recursively) and the
same rounds. Per-photo time of `FaceAnalysis.get` (decode excluded), median and p95 over ROUNDS
rounds after a warm-up round. Also times the two sessions alone on prepared inputs, the way
rollcall reports "pure model time".

    /tmp/refenv/bin/python tools/reference/bench_insightface.py --rounds 5 PATHS...

(/tmp/refenv: `python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install -r
tools/reference/requirements.txt`.)
"""
import argparse
import pathlib
import sys
import tempfile
import time

import cv2
import numpy as np
import onnxruntime
from insightface.app import FaceAnalysis
from insightface.utils import face_align

ROOT = pathlib.Path(__file__).resolve().parents[2]
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def quantile(v, q):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(np.ceil(q * len(v))) - 1))]


def photos_under(paths):
    """The photos under `paths`, sorted, as `rollcall bench` collects them."""
    found = []
    for p in map(pathlib.Path, paths):
        if not p.exists():
            sys.exit(f"{p} does not exist")
        candidates = p.rglob("*") if p.is_dir() else [p]
        found += [c for c in candidates if c.is_file() and c.suffix.lower() in PHOTO_SUFFIXES]
    return sorted(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up round")
    parser.add_argument("paths", nargs="+", help="photos or folders of photos")
    args = parser.parse_args()
    photos = photos_under(args.paths)
    if not photos:
        sys.exit("no .jpg, .jpeg or .png photos found in the given paths")
    with tempfile.TemporaryDirectory() as root:
        pack = pathlib.Path(root) / "models" / "bench_sc"
        pack.mkdir(parents=True)
        for f in ("scrfd_500m_bnkps.onnx", "w600k_mbf.onnx"):
            (pack / f).symlink_to(ROOT / "models" / f)
        app = FaceAnalysis(name="bench_sc", root=root, providers=["CPUExecutionProvider"],
                           allowed_modules=["detection", "recognition"])
        app.prepare(ctx_id=-1, det_size=(640, 640))
        images = [cv2.imread(str(p)) for p in photos]
        for img in images:
            app.get(img)
        total, model = [], []
        det, rec = app.models["detection"], app.models["recognition"]
        for _ in range(args.rounds):
            for img in images:
                t = time.perf_counter()
                faces = app.get(img)
                total.append((time.perf_counter() - t) * 1e3)
                # Pure model time: the two sessions alone on inputs prepared beforehand.
                h, w = img.shape[:2]
                s = 640 / max(h, w)
                boxed = np.zeros((640, 640, 3), np.uint8)
                boxed[: int(h * s), : int(w * s)] = cv2.resize(img, (int(w * s), int(h * s)))
                blob = cv2.dnn.blobFromImage(boxed, 1 / 128, (640, 640), (127.5,) * 3, swapRB=True)
                crops = [face_align.norm_crop(img, f.kps) for f in faces]
                t = time.perf_counter()
                det.session.run(det.output_names, {det.input_name: blob})
                if crops:
                    b = cv2.dnn.blobFromImages(crops, 1 / 127.5, (112, 112), (127.5,) * 3, swapRB=True)
                    rec.session.run(rec.output_names, {rec.input_name: b})
                model.append((time.perf_counter() - t) * 1e3)
        print(f"insightface FaceAnalysis (onnxruntime {onnxruntime.__version__}): {len(images)} photos x {args.rounds} rounds")
        print(f"  per photo (excluding decode): median {quantile(total, 0.5):.2f} ms, p95 {quantile(total, 0.95):.2f} ms")
        print(f"  pure model time:              median {quantile(model, 0.5):.2f} ms, p95 {quantile(model, 0.95):.2f} ms")


if __name__ == "__main__":
    main()
