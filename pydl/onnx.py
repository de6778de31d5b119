"""Export of a pydl.Network to ONNX (``net.to_onnx``), for ONNX Runtime and other servers.

The graph is the network's forward pass in its own dtype: the normalizer (if any) as
``(X - mean) / scale``, then per layer ``Gemm(A, W, b, transB=1)`` (W kept in the course's
(n[l], n[l-1]) shape) and the activation. Inputs: ``X`` of shape (N, n_x) with a dynamic
batch dimension N. Outputs: ``probabilities`` (sigmoid and softmax outputs) or ``values``
(linear), and for classifiers ``label`` (int64: the argmax for softmax, ``a > 0.5`` for
sigmoid), shaped as `Network.predict` returns them. Needs the ``onnx`` package
(``pip install "pydl[onnx]"``); ``import pydl`` never imports it.
"""
from __future__ import annotations

import numpy as np

from pydl._checks import check_scalar

MIN_OPSET = 13  # Softmax over one axis (today's semantics) from 13
DEFAULT_OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("Network.to_onnx needs the onnx package: "
                          'pip install "pydl[onnx]"') from None
    return onnx


def to_onnx(net, file=None, opset=DEFAULT_OPSET):
    """The ONNX model of `net` (an onnx.ModelProto), also written to `file` if given.

    Parameters
    ----------
    net : pydl.Network
    file : str or path-like, optional
    opset : int, default 17
        The ONNX operator set, from 13 to the installed onnx package's newest.

    Returns
    -------
    onnx.ModelProto
    """
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    newest = onnx.defs.onnx_opset_version()
    opset = check_scalar(opset, "opset", integer=True, low=MIN_OPSET, high=newest)
    dtype = net.dtype
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    dims = net.layer_dims
    nodes, inits = [], []

    def const(name, value):
        if any(t.name == name for t in inits):
            return name
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    a = "X"
    norm = net.normalizer
    if norm is not None:
        # pydl normalizes in float64 then rounds to the network's dtype; here in the dtype
        mean = const("normalizer_mean", np.asarray(norm.mean_, dtype=dtype))
        scale = const("normalizer_scale", np.asarray(norm.scale_, dtype=dtype))
        nodes.append(helper.make_node("Sub", [a, mean], ["X_centered"]))
        nodes.append(helper.make_node("Div", ["X_centered", scale], ["X_normalized"]))
        a = "X_normalized"
    params = net.parameters
    for l, act in enumerate(net.activations, start=1):
        W = const(f"W{l}", params[f"W{l}"])
        b = const(f"b{l}", params[f"b{l}"].reshape(-1))
        z = f"Z{l}"
        nodes.append(helper.make_node("Gemm", [a, W, b], [z], transB=1))
        a = f"A{l}" if l < len(dims) - 1 else ("values" if act == "linear" else "probabilities")
        if act == "linear":
            nodes.append(helper.make_node("Identity", [z], [a]))
        elif act == "leaky_relu" and dtype == np.float32:
            nodes.append(helper.make_node("LeakyRelu", [z], [a], alpha=float(net.leaky_slope)))
        elif act == "leaky_relu":
            # LeakyRelu's alpha is a float32 attribute: float64 takes the slope exactly
            slope = const("leaky_slope", np.array(net.leaky_slope, dtype=dtype))
            zero = const("zero", np.array(0.0, dtype=dtype))
            nodes.append(helper.make_node("Greater", [z, zero], [f"{z}_positive"]))
            nodes.append(helper.make_node("Mul", [z, slope], [f"{z}_sloped"]))
            nodes.append(helper.make_node("Where", [f"{z}_positive", z, f"{z}_sloped"], [a]))
        elif act == "softmax":
            nodes.append(helper.make_node("Softmax", [z], [a], axis=1))
        else:
            op = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}[act]
            nodes.append(helper.make_node(op, [z], [a]))
    n_out = dims[-1]
    outputs = [helper.make_tensor_value_info(a, elem, ["N", n_out])]
    output = net.output_activation
    if output == "softmax":
        nodes.append(helper.make_node("ArgMax", [a], ["label"], axis=1, keepdims=0))
        outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
    elif output == "sigmoid":
        half = const("half", np.array(0.5, dtype=dtype))
        nodes.append(helper.make_node("Greater", [a, half], ["label_bool"]))
        if n_out == 1:
            nodes.append(helper.make_node("Cast", ["label_bool"], ["label_2d"],
                                          to=TensorProto.INT64))
            flat = const("label_shape", np.array([-1], dtype=np.int64))
            nodes.append(helper.make_node("Reshape", ["label_2d", flat], ["label"]))
            outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]))
        else:
            nodes.append(helper.make_node("Cast", ["label_bool"], ["label"],
                                          to=TensorProto.INT64))
            outputs.append(helper.make_tensor_value_info("label", TensorProto.INT64,
                                                         ["N", n_out]))
    graph = helper.make_graph(
        nodes, "pydl_network",
        [helper.make_tensor_value_info("X", elem, ["N", dims[0]])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pydl")
    # the oldest IR version that carries this opset, so that older runtimes accept the file
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    onnx.checker.check_model(model, full_check=True)
    if file is not None:
        onnx.save_model(model, file)
    return model

