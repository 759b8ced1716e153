#!/usr/bin/env python3
"""INT8 builds of rollcall's models, with ONNX Runtime's own static quantization.

`rollcall models quantize` runs this (it is compiled into the binary, like fetch_models.py). It
writes the calibration tensors first: for each model, the exact inputs rollcall feeds it on the
shared photos. This script only turns each FP32 model into a QDQ model with per-channel INT8
weights and UINT8 activations, the format ONNX Runtime's CPU kernels (VNNI, AMX) run fastest:

  1. graph inputs that are really weights are dropped (old exporters list them), and a model
     older than opset 13 is converted to 13, which per-channel DequantizeLinear needs;
  2. quant_pre_process: shape inference and graph optimisation, as ONNX Runtime advises;
  3. quantize_static over the tensors, calibrated at the 99.999th percentile (MinMax for a
     detector whose tensors differ in shape, or for every model when the plan asks for it).

It needs onnxruntime, onnx, numpy and sympy; requirements-quantize.txt pins them.

  quantize_models.py --plan PLAN.json

PLAN.json: {"models": [{"name", "fp32", "int8", "tensors": [{"file", "shape"}]}],
"calibration": "auto" | "minmax"}, tensor files raw little-endian float32, relative to the plan's
folder.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile


def say(msg):
    print(f"[quantize] {msg}", flush=True)


try:
    import numpy as np
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
except ImportError as e:
    sys.exit(
        f"[quantize] {e}. Quantizing needs ONNX Runtime's Python tools: "
        "pip install -r scripts/requirements-quantize.txt (scripts/setup.sh makes .local/quantize-venv with them)"
    )


# ONNX Runtime's calibrators keep every activation of every tensor they are fed before they
# reduce them to ranges: SFace's 400 crops peaked at 19 GB resident. Fed this many at a time
# (CalibStridedMinMax, which despite its name strides any calibrator), they reduce as they go.
CALIBRATION_STRIDE = 50


class Tensors(CalibrationDataReader):
    """Feeds the calibration tensors one at a time, read only when asked for, from the range the
    calibrator sets."""

    def __init__(self, base, input_name, tensors):
        self.base, self.input_name, self.tensors = base, input_name, list(tensors)
        self.pending = list(self.tensors)

    def __len__(self):
        return len(self.tensors)

    def set_range(self, start_index, end_index):
        self.pending = self.tensors[start_index:end_index]

    def get_next(self):
        if not self.pending:
            return None
        t = self.pending.pop(0)
        data = np.fromfile(os.path.join(self.base, t["file"]), dtype="<f4").reshape(t["shape"])
        return {self.input_name: data}


def stride(count):
    """The largest divisor of `count` up to CALIBRATION_STRIDE: the calibrator takes only
    strides that divide the data."""
    return max(d for d in range(1, min(count, CALIBRATION_STRIDE) + 1) if count % d == 0)


def opset13(src, dst):
    """The model, without weights posing as inputs, at opset 13 or newer."""
    model = onnx.load(src)
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        model = version_converter.convert_version(model, 13)
    onnx.save(model, dst)
    return model.graph.input[0].name


def prepare(name, fp32, work):
    """The FP32 model as the quantizer is given it (weights not posing as inputs, opset 13 or
    newer, pre-processed), written into `work`: its path, and its input's name."""
    op13 = os.path.join(work, f"{name}.op13.onnx")
    pre = os.path.join(work, f"{name}.pre.onnx")
    input_name = opset13(fp32, op13)
    try:
        quant_pre_process(op13, pre)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises a bare Exception here
        # Symbolic shape inference cannot follow every graph with named free dimensions
        # (YuNet-s: "Incomplete symbolic shape inference"); ONNX's own shape inference can.
        print(f"{name}: {e}; pre-processing without symbolic shape inference", file=sys.stderr)
        quant_pre_process(op13, pre, skip_symbolic_shape=True)
    return pre, input_name


def calibration(tensors, minmax):
    """How `tensors` calibrate a model: quantize_static's arguments, and their name for the log.

    MinMax lets a few outlying activations stretch every range; the 99.999th percentile keeps
    the ranges where the values are (measured: held-out SFace cosine to FP32, median 0.983 with
    MinMax, 0.994 with this). But the percentile calibrator stacks each activation over all
    tensors, so it needs them of one shape; a detector fed frames of several aspect ratios
    (SCRFD) gets MinMax instead."""
    strided = {"CalibStridedMinMax": stride(len(tensors))}
    if not minmax and len({tuple(t["shape"]) for t in tensors}) == 1:
        method = {"calibrate_method": CalibrationMethod.Percentile, "extra_options": {"CalibPercentile": 99.999, **strided}}
        return method, "percentile 99.999"
    return {"calibrate_method": CalibrationMethod.MinMax, "extra_options": strided}, "MinMax"


def quantize_qdq(pre, out, reader, method, nodes_to_exclude=()):
    """`pre` quantized into `out`: QDQ, per-channel INT8 weights, UINT8 activations, calibrated
    by `method` (from calibration()) on what `reader` feeds, `nodes_to_exclude` left in FP32."""
    quantize_static(
        pre,
        out,
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=list(nodes_to_exclude),
        **method,
    )


def quantize(base, entry, work, minmax):
    name = entry["name"]
    pre, input_name = prepare(name, entry["fp32"], work)
    if not entry["tensors"]:
        sys.exit(f"[quantize] {name}: no calibration tensors (did the photos show any face?)")
    method, calibrated = calibration(entry["tensors"], minmax)
    tmp = entry["int8"] + ".partial"
    quantize_qdq(pre, tmp, Tensors(base, input_name, entry["tensors"]), method)
    os.replace(tmp, entry["int8"])
    with open(entry["int8"], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    say(f"{name}: {entry['int8']} from {len(entry['tensors'])} calibration tensors ({calibrated}), sha256 {digest}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", required=True)
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    base = os.path.dirname(os.path.abspath(args.plan))
    for entry in plan["models"]:
        entry["fp32"], entry["int8"] = os.path.abspath(entry["fp32"]), os.path.abspath(entry["int8"])
    with tempfile.TemporaryDirectory(prefix="rollcall-quantize-") as work:
        # ONNX Runtime's tools leave files in the current folder (sym_shape_infer_temp.onnx, a
        # model's external .data): there, not in the caller's.
        os.chdir(work)
        for entry in plan["models"]:
            quantize(base, entry, work, plan.get("calibration") == "minmax")


if __name__ == "__main__":
    main()
