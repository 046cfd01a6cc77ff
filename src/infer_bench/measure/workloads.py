"""Fixed reference workloads: a one-node ONNX MatMul run through ONNX Runtime.

The machine ceilings time it to find the compute peak; the regression gate
times it beside every case as the calibration that cancels a host's overall
speed. Both use this one model builder and session.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..runtimes.devices import import_runtime

ONNX_OPSET = 17
ONNX_IR_VERSION = 8


def matmul_model(n: int, integer: bool = False, seed: int = 0):
    """A one-node ONNX model: A (input, n x n) @ B (initializer): fp32 MatMul or uint8 x int8 MatMulInteger."""
    onnx = import_runtime("onnx")
    from onnx import TensorProto, helper, numpy_helper  # the submodules of the package just imported

    rng = np.random.default_rng(seed)
    if integer:
        b = rng.integers(-127, 128, size=(n, n), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        b = rng.standard_normal((n, n), dtype=np.float32)
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type = y_type = TensorProto.FLOAT
    graph = helper.make_graph(
        [node], "reference_matmul",
        [helper.make_tensor_value_info("A", a_type, [n, n])],
        [helper.make_tensor_value_info("Y", y_type, [n, n])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model)
    return model


def matmul_inputs(n: int, integer: bool = False, count: int = 1, seed: int = 1) -> list[np.ndarray]:
    """``count`` different n x n inputs for ``matmul_model`` (uint8 or float32)."""
    rng = np.random.default_rng(seed)
    if integer:
        return [rng.integers(0, 256, size=(n, n), dtype=np.uint8) for _ in range(count)]
    return [rng.standard_normal((n, n), dtype=np.float32) for _ in range(count)]


def matmul_session(n: int, threads: int, integer: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """``run(a)`` of the MatMul model in ONNX Runtime on the CPU with ``threads`` intra-op threads."""
    ort = import_runtime("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(matmul_model(n, integer).SerializeToString(), sess_options=so,
                                providers=["CPUExecutionProvider"])
    return lambda a: sess.run(["Y"], {"A": a})[0]
