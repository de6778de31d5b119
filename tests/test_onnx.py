"""Network.to_onnx: the exported model, run by ONNX Runtime, gives net.predict_proba /
predict for every activation, output and dtype (with a normalizer folded in); the checker
passes; the file round-trips; `import pydl` needs no onnx."""
import subprocess
import sys

import numpy as np
import pytest

import pydl
from conftest import HIDDEN, OUTPUTS, subprocess_env

onnx = pytest.importorskip("onnx", reason='needs the onnx extra: pip install "pydl[onnx]"')
ort = pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install "pydl[onnx]"')

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def _run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X})))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_onnx_runtime_agrees(hidden, output, dtype, rng):
    dims = [int(rng.integers(1, 12)), int(rng.integers(1, 20)), int(rng.integers(1, 9)),
            int(rng.integers(2, 5))]
    net = pydl.Network(dims, hidden_activation=hidden, output_activation=output, dtype=dtype,
                       seed=int(rng.integers(1000)), leaky_slope=0.3)
    X = (rng.standard_normal((int(rng.integers(1, 40)), dims[0])) * 2).astype(dtype)
    net.normalizer = pydl.Normalizer().fit(X * 3 + 1)
    model = net.to_onnx(opset=int(rng.integers(13, 18)))
    onnx.checker.check_model(model, full_check=True)
    got = _run(model, X)
    want = net.forward(X)
    key = "values" if output == "linear" else "probabilities"
    rtol = RTOL[np.dtype(dtype)]
    np.testing.assert_allclose(got[key], want, rtol=rtol, atol=rtol * np.abs(want).max())
    assert got[key].dtype == dtype
    if output == "linear":
        assert set(got) == {"values"}
    else:
        # a label can differ only where an output sits on the decision boundary
        safe = np.ones(len(X), bool) if output == "softmax" else \
            (np.abs(want - 0.5) > 10 * rtol).all(axis=1)
        np.testing.assert_array_equal(got["label"][safe], net.predict(X)[safe])


def test_single_sigmoid_output_labels_are_one_dimensional(rng, tmp_path):
    net = pydl.Network([3, 4, 1], seed=0)
    X = rng.standard_normal((7, 3)).astype(np.float32)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    got = _run(onnx.load(path), X)
    assert got["label"].shape == (7,)
    np.testing.assert_array_equal(got["label"], net.predict(X))
    model = onnx.load(path)
    assert model.graph.input[0].name == "X"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


@pytest.mark.parametrize("opset", [12, 10**6, 1.5, "17"])
def test_bad_opset(opset):
    with pytest.raises((ValueError, TypeError), match="opset"):
        pydl.Network([2, 1]).to_onnx(opset=opset)


def test_import_pydl_does_not_import_onnx():
    code = "import sys, pydl; pydl.Network([2, 1]).predict([[0, 0]]); " \
           "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env())


def test_missing_onnx_says_how_to_install():
    code = ("import sys; sys.modules['onnx'] = None; import pydl\n"
            "try:\n    pydl.Network([2, 1]).to_onnx()\n"
            "except ImportError as e:\n    assert 'pydl[onnx]' in str(e), e\n"
            "else:\n    raise SystemExit('no ImportError')")
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env())
