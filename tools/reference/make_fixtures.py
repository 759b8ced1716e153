#!/usr/bin/env python3
"""Generate the reference numbers rollcall's parity tests compare against.

Runs the reference implementations on every photo in ../shared/faces:
  * YuNet + SFace through OpenCV's own FaceDetectorYN and FaceRecognizerSF;
  * SCRFD-500M + ArcFace w600k_mbf through the insightface Python package.
and writes tests/fixtures/reference/{yunet_sface,scrfd_arcface}.json.

Run once (results are committed); needs the packages in requirements.txt:
    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install -r tools/reference/requirements.txt
    /tmp/refenv/bin/python tools/reference/make_fixtures.py

YuNet 2023mar is exported with a fixed 640x640 input, so both references are fed the same
letterboxed 640x640 image rollcall feeds its own detector (insightface's scheme: scale to fit,
top-left aligned, zero padding) and their output is mapped back by the same scale. The
comparison then measures decoding, NMS, alignment and embedding, not two resizing policies.
"""
import json
import pathlib
import sys

import cv2
import numpy as np
import onnxruntime
import insightface
from insightface.app.common import Face
from insightface.model_zoo.arcface_onnx import ArcFaceONNX
from insightface.model_zoo.scrfd import SCRFD

ROOT = pathlib.Path(__file__).resolve().parents[2]
FACES = (ROOT / ".." / "shared" / "faces").resolve()
MODELS = ROOT / "models"
OUT = ROOT / "tests" / "fixtures" / "reference"
SCORE_THRESHOLD = 0.5
DET_SIZE = 640


def photos():
    return sorted(p for p in FACES.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def letterbox(img, size=DET_SIZE):
    """insightface's SCRFD letterbox: fit, keep aspect, top-left, zero padding."""
    h, w = img.shape[:2]
    if h / w > 1.0:
        new_h, new_w = size, int(size / (h / w))
    else:
        new_w, new_h = size, int(size * (h / w))
    scale = new_h / h
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
    return out, scale


def r(x, n=3):
    return [round(float(v), n) for v in np.asarray(x).ravel()]


def yunet_sface():
    det = cv2.FaceDetectorYN.create(str(MODELS / "face_detection_yunet_2023mar.onnx"), "",
                                    (DET_SIZE, DET_SIZE), SCORE_THRESHOLD, 0.3, 5000)
    rec = cv2.FaceRecognizerSF.create(str(MODELS / "face_recognition_sface_2021dec.onnx"), "")
    images = {}
    for path in photos():
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        boxed, scale = letterbox(img)
        _, faces = det.detect(boxed)
        faces = np.zeros((0, 15), np.float32) if faces is None else faces
        out = []
        for row in faces:
            row = row.copy()
            row[:14] /= scale
            x, y, w, h = row[:4]
            aligned = rec.alignCrop(img, row)
            feat = rec.feature(aligned).ravel()
            feat = feat / np.linalg.norm(feat)
            out.append({"bbox": r([x, y, x + w, y + h]), "score": round(float(row[14]), 5),
                        "landmarks": np.asarray(row[4:14]).reshape(5, 2).round(3).tolist(),
                        "embedding": r(feat, 6)})
        images[str(path.relative_to(FACES))] = out
        print(f"yunet/sface {path.name}: {len(out)} faces", file=sys.stderr)
    return {"detector": "yunet-2023mar", "recognizer": "sface-2021dec",
            "reference": f"opencv-python {cv2.__version__} FaceDetectorYN + FaceRecognizerSF",
            "score_threshold": SCORE_THRESHOLD, "nms_threshold": 0.3, "images": images}


def scrfd_arcface():
    det = SCRFD(model_file=str(MODELS / "scrfd_500m_bnkps.onnx"))
    det.prepare(-1, input_size=(DET_SIZE, DET_SIZE), det_thresh=SCORE_THRESHOLD)
    rec = ArcFaceONNX(model_file=str(MODELS / "w600k_mbf.onnx"))
    rec.prepare(-1)
    images = {}
    for path in photos():
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        bboxes, kpss = det.detect(img, input_size=(DET_SIZE, DET_SIZE))
        out = []
        for box, kps in zip(bboxes, kpss):
            face = Face(bbox=box[:4], kps=kps, det_score=box[4])
            emb = rec.get(img, face)
            emb = emb / np.linalg.norm(emb)
            out.append({"bbox": r(box[:4]), "score": round(float(box[4]), 5),
                        "landmarks": np.asarray(kps).round(3).tolist(), "embedding": r(emb, 6)})
        images[str(path.relative_to(FACES))] = out
        print(f"scrfd/arcface {path.name}: {len(out)} faces", file=sys.stderr)
    return {"detector": "scrfd-500m", "recognizer": "arcface-w600k-mbf",
            "reference": f"insightface {insightface.__version__} SCRFD + ArcFaceONNX, "
                         f"onnxruntime {onnxruntime.__version__}",
            "score_threshold": SCORE_THRESHOLD, "nms_threshold": det.nms_thresh, "images": images}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in (("yunet_sface", yunet_sface), ("scrfd_arcface", scrfd_arcface)):
        (OUT / f"{name}.json").write_text(json.dumps(build(), indent=1) + "\n")
        print(f"wrote {OUT / (name + '.json')}", file=sys.stderr)


if __name__ == "__main__":
    main()
