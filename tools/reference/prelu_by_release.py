#!/usr/bin/env python3
"""Time ONNX Runtime's PReLU, and rollcall's rewrite of it, on the onnxruntime this Python has.

rollcall rewrites PReLU as a*x + (1-a)*Relu(x) where ONNX Runtime's own PReLU kernel is the
scalar one (1.27 and newer; `[runtime] rewrite_prelu`, docs/speed.md "PReLU"). Run this with a
venv per release to see whether a new release still needs it, and move
`prelu_kernel_is_scalar` in src/vision/model/runtime.rs if not:

    python3 -m venv /tmp/ortX && /tmp/ortX/bin/pip install onnxruntime==X 'numpy<2' onnx
    /tmp/ortX/bin/python tools/reference/prelu_by_release.py

It prints one PRelu alone (a 64x56x56 tensor, a per-channel slope, 1 and 2 threads), then each
model with PReLU as filed and rewritten (2 threads, one face, median ms a run). The rewrite here
mirrors `prelu_as_relu_and_scales` in src/vision/model/onnx_edit/prelu.rs, for measuring only;
SFace's weights are made constants first, as rollcall's loader does.
"""
import argparse
import pathlib
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = [
    ("sface-2021dec", "face_recognition_sface_2021dec.onnx", 112),
    ("arcface-w600k-mbf", "w600k_mbf.onnx", 112),
    ("minifasnet-v2", "2.7_80x80_MiniFASNetV2.onnx", 80),
    ("minifasnet-v1se", "4_0_0_80x80_MiniFASNetV1SE.onnx", 80),
]


def median_ms(model: onnx.ModelProto, x: np.ndarray, threads: int, runs: int) -> float:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(20):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def weights_as_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    weights = {i.name for i in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return model


def rewritten(model: onnx.ModelProto) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    nodes, complements = [], {}
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in weights:
            nodes.append(node)
            continue
        x, a, y = node.input[0], node.input[1], node.output[0]
        if a not in complements:
            complements[a] = a + "::one_minus"
            one_minus = 1 - numpy_helper.to_array(weights[a])
            graph.initializer.append(numpy_helper.from_array(one_minus.astype(np.float32), complements[a]))
        nodes += [
            helper.make_node("Relu", [x], [y + "::prelu_relu"]),
            helper.make_node("Mul", [y + "::prelu_relu", complements[a]], [y + "::prelu_relu_share"]),
            helper.make_node("Mul", [x, a], [y + "::prelu_linear_share"]),
            helper.make_node("Add", [y + "::prelu_linear_share", y + "::prelu_relu_share"], [y]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def prelu_alone(channels: int, side: int) -> onnx.ModelProto:
    slope = numpy_helper.from_array((np.random.rand(channels, 1, 1) - 0.4).astype(np.float32), "a")
    graph = helper.make_graph(
        [helper.make_node("PRelu", ["x", "a"], ["y"])],
        "prelu",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, channels, side, side])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [slope],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=pathlib.Path, default=ROOT / "models")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"onnxruntime {ort.__version__}")
    x = rng.standard_normal((1, 64, 56, 56)).astype(np.float32)
    alone = prelu_alone(64, 56)
    print(
        "PRelu alone, 64x56x56: %.3f ms on 1 thread, %.3f ms on 2"
        % (median_ms(alone, x, 1, args.runs), median_ms(alone, x, 2, args.runs))
    )
    for name, file, side in MODELS:
        model = weights_as_constants(onnx.load(args.models / file))
        face = rng.standard_normal((1, 3, side, side)).astype(np.float32)
        print(
            "%-18s as filed %6.2f ms, rewritten %6.2f ms"
            % (name, median_ms(model, face, 2, args.runs), median_ms(rewritten(model), face, 2, args.runs))
        )


if __name__ == "__main__":
    main()
