#!/usr/bin/env python3
"""The mixed-precision search of docs/int8.md: which layers of a model lose the most to INT8, and
builds that keep a span of them in FP32.

It works on the calibration tensors `rollcall models quantize` feeds ONNX Runtime's quantizer.
That command removes them when it ends, so keep a copy with tools/int8/keep_plan.sh as the
quantize command's Python:

    target/release/rollcall models quantize --model scrfd-500m --python tools/int8/keep_plan.sh
    .local/quantize-venv/bin/python tools/int8/mixed_precision.py rank target/int8-plan
    .local/quantize-venv/bin/python tools/int8/mixed_precision.py build target/int8-plan --keep-fp32 early --split 58

`rank` builds the model as scripts/quantize_models.py does (MinMax) and prints the tensors whose
INT8 values stray most from FP32's (ONNX Runtime's qdq_loss_debug: signal to quantization noise,
in dB, through the whole INT8 model and from that tensor's own quantization alone), with each
one's place in the graph. `build` writes the model's INT8 build (where `rollcall models
quantize` puts it, so the gates and `rollcall bench` measure it) with the graph's nodes up to
--split (`early`) or after it (`late`) kept in FP32. Run from the repository; it needs the
quantize tools (.local/quantize-venv).
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile

import onnx
from onnxruntime.quantization import qdq_loss_debug as debug

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import quantize_models  # noqa: E402 - the project's own quantizer: the same reader and steps

# Tensors a build is checked on in `rank`: enough to rank the layers, fast enough to repeat.
PROBE_TENSORS = 12


def load_plan(folder):
    """The plan's first model, its FP32 path made absolute, and the folder of its tensors."""
    folder = os.path.abspath(folder)
    with open(os.path.join(folder, "plan.json")) as f:
        entry = json.load(f)["models"][0]
    entry["fp32"], entry["int8"] = os.path.abspath(entry["fp32"]), os.path.abspath(entry["int8"])
    return entry, folder


def build(entry, folder, pre, input_name, out, keep):
    """Quantizes `pre` into `out` as scripts/quantize_models.py does with MinMax, `keep` in FP32."""
    method, _ = quantize_models.calibration(entry["tensors"], minmax=True)
    reader = quantize_models.Tensors(folder, input_name, entry["tensors"])
    quantize_models.quantize_qdq(pre, out, reader, method, keep)


def rank(args):
    entry, folder = load_plan(args.plan)
    with tempfile.TemporaryDirectory(prefix="rollcall-mixed-") as work:
        os.chdir(work)
        pre, input_name = quantize_models.prepare(entry["name"], entry["fp32"], work)
        build(entry, folder, pre, input_name, "qdq.onnx", [])
        debug.modify_model_output_intermediate_tensors(pre, "fp32_all.onnx")
        debug.modify_model_output_intermediate_tensors("qdq.onnx", "int8_all.onnx")
        probe = entry["tensors"][:PROBE_TENSORS]
        fp32 = debug.collect_activations("fp32_all.onnx", quantize_models.Tensors(folder, input_name, probe))
        int8 = debug.collect_activations("int8_all.onnx", quantize_models.Tensors(folder, input_name, probe))
        errors = debug.compute_activation_error(debug.create_activation_matching(int8, fp32))
        graph = onnx.load(pre).graph
    place = {out: (i, node) for i, node in enumerate(graph.node) for out in node.output}
    rows = sorted((e.get("xmodel_err", float("inf")), e.get("qdq_err", float("inf")), t) for t, e in errors.items())
    print(f"{entry['name']}: {len(graph.node)} nodes; the {args.top} tensors INT8 moves most (SQNR, dB)")
    print(" whole model   own Q/DQ   node#  op          node")
    for whole, own, tensor in rows[: args.top]:
        i, node = place.get(tensor, (-1, None))
        print(f"{whole:12.2f} {own:10.2f} {i:7d}  {node.op_type if node else '?':10s}  {node.name if node else tensor}")


def build_mixed(args):
    entry, folder = load_plan(args.plan)
    with tempfile.TemporaryDirectory(prefix="rollcall-mixed-") as work:
        os.chdir(work)
        pre, input_name = quantize_models.prepare(entry["name"], entry["fp32"], work)
        nodes = onnx.load(pre).graph.node
        keep = [n.name for i, n in enumerate(nodes) if (i <= args.split) == (args.keep_fp32 == "early")]
        if any(not name for name in keep):
            sys.exit(f"{entry['name']}: a node to keep has no name; the quantizer excludes nodes by name")
        build(entry, folder, pre, input_name, entry["int8"], keep)
    convs = sum(1 for i, n in enumerate(nodes) if n.op_type == "Conv" and n.name in keep)
    print(f"{entry['name']}: {entry['int8']} with {len(keep)} of {len(nodes)} nodes ({convs} convolutions) in FP32")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rank", help="the tensors INT8 moves most")
    r.add_argument("plan", help="a folder tools/int8/keep_plan.sh kept")
    r.add_argument("--top", type=int, default=25)
    b = sub.add_parser("build", help="an INT8 build with a span of the graph in FP32")
    b.add_argument("plan", help="a folder tools/int8/keep_plan.sh kept")
    b.add_argument("--keep-fp32", choices=["early", "late"], required=True)
    b.add_argument("--split", type=int, required=True, help="the last node (graph order) of the early span")
    args = ap.parse_args()
    rank(args) if args.command == "rank" else build_mixed(args)


if __name__ == "__main__":
    main()
