"""Messages a new user meets in the first hour: install hints that work from a checkout (and in zsh),
the dtype error of a Linear fused with its ReLU, gk.cuda.is_available."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import cupy_backend
from gradkit.io.optional import MissingDependencyError, require


def _no_unquoted_extras(message: str) -> None:
    # "pip install gradkit[cuda12]" names a package that is not published and is a glob pattern in zsh
    assert "gradkit[" not in message
    for extra in ("cuda12", "cuda13", "train", "viz"):
        if f"[{extra}]" in message:
            assert f'".[{extra}]"' in message


def test_missing_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setattr(cupy_backend, "_cupy", None)
    monkeypatch.setattr(cupy_backend, "_import_error", ImportError("No module named 'cupy'"))
    with pytest.raises(gk.BackendError) as info:
        cupy_backend.import_cupy()
    message = str(info.value)
    assert "python -m pip install cupy-cuda12x" in message and "cupy-cuda13x" in message
    assert 'python -m pip install ".[cuda12]"' in message and "GRADKIT_BACKEND=numpy" in message
    _no_unquoted_extras(message)


def test_missing_optional_package_says_what_to_install():
    with pytest.raises(MissingDependencyError) as info:
        require("gradkit_no_such_module", "the feature", package="no-such-package")
    message = str(info.value)
    assert "the feature needs the optional package 'no-such-package'" in message
    assert "python -m pip install no-such-package" in message and 'python -m pip install ".[train]"' in message
    _no_unquoted_extras(message)


def test_graphviz_hint_is_quoted():
    from gradkit import viz

    assert "python -m pip install graphviz" in viz._INSTALL
    _no_unquoted_extras(viz._INSTALL)


@pytest.mark.parametrize("fused", [True, False])
def test_float64_data_into_a_float32_model_names_the_layer_and_the_fix(device, fused):
    layers = [gk.nn.Linear(3, 4), gk.nn.ReLU()] if fused else [gk.nn.Linear(3, 4), gk.nn.Tanh()]
    model = gk.nn.Sequential(*layers).to(device)
    x = gk.tensor(np.ones((2, 3)), device=device)  # NumPy's float64
    with pytest.raises(gk.DTypeError) as info:
        model(x)
    message = str(info.value)
    where = "Linear (fused with the ReLU after it, F.linear_relu): " if fused else "linear (nn.Linear): "
    assert message.startswith(where), message
    assert "input (float64), weight (float32) and bias (float32) must have the same dtype" in message
    assert "gk.tensor(X, dtype=gk.float32)" in message and "model.double()" in message
    assert np.isfinite(model.double()(x).numpy()).all()  # the second fix works


def test_a_bias_of_another_dtype_says_so():
    layer = gk.nn.Linear(3, 2)
    with pytest.raises(gk.DTypeError, match=r"bias \(float64\).*convert the bias: bias.astype\(gk.float32\)"):
        gk.nn.functional.linear(gk.ones((1, 3)), layer.weight, layer.bias.detach().astype(gk.float64))


def test_cuda_is_available_is_cuda_available():
    assert gk.cuda.is_available() is gk.cuda_available()
    assert isinstance(gk.cuda.is_available(), bool)
