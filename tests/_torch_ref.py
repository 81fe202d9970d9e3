"""Shared test helpers: torch is the oracle.

Build a torch layer with random, non-zero weights *and biases*, build the numrnn layer
with the same constructor arguments, copy the weights across through
``load_state_dict`` (NumPy arrays only), and compare results with tolerances chosen by
dtype.  Nothing here hard-codes an expected value.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

import numrnn as nn

DTYPES = (np.float32, np.float64)

TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

# (rtol, atol) per dtype. atol is scaled by the magnitude of the reference (see
# assert_close) so unbounded activations (relu) compare relative to their size.
TOLERANCE = {np.dtype(np.float32): (1e-5, 1e-5), np.dtype(np.float64): (1e-10, 1e-10)}


def torch_dtype(dtype) -> torch.dtype:
    return TORCH_DTYPE[np.dtype(dtype)]


def to_numpy(t) -> np.ndarray:
    """A torch tensor (or nested tuple of them) as NumPy arrays."""
    if isinstance(t, (tuple, list)):
        return type(t)(to_numpy(x) for x in t)
    return t.detach().cpu().numpy()


def to_torch(a, dtype=None) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t if dtype is None else t.to(torch_dtype(dtype))


def assert_close(actual, expected, dtype=None, scale=1.0):
    """Compare a numrnn result with torch's.

    ``actual`` must be an ``np.ndarray`` of ``dtype`` (the layer's dtype) and the same
    shape as ``expected``; values must agree to the dtype's tolerance. ``scale`` widens
    the tolerance for long or numerically demanding computations.
    """
    expected = to_numpy(expected) if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert isinstance(actual, np.ndarray), f"expected np.ndarray, got {type(actual).__name__}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != torch's {expected.shape}"
    dtype = np.dtype(dtype if dtype is not None else expected.dtype)
    assert actual.dtype == dtype, f"dtype {actual.dtype} != {dtype}"
    rtol, atol = TOLERANCE[dtype]
    finite = expected[np.isfinite(expected)]
    magnitude = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    np.testing.assert_allclose(
        actual, expected, rtol=rtol * scale, atol=atol * scale * magnitude, equal_nan=True
    )


def numpy_state(torch_module) -> dict:
    """torch's state dict as NumPy arrays (copies), keys in torch's order."""
    return {k: v.detach().cpu().numpy().copy() for k, v in torch_module.state_dict().items()}


def randomize_(torch_module, rng: np.random.Generator, scale: float = 1.0):
    """Overwrite every parameter with uniform(-scale, scale): biases are never zero."""
    with torch.no_grad():
        for p in torch_module.parameters():
            values = rng.uniform(-scale, scale, size=tuple(p.shape))
            p.copy_(torch.from_numpy(values).to(p.dtype))
    return torch_module


def torch_layer(name: str, *args, dtype=np.float32, rng=None, scale=1.0, **kwargs):
    """A torch.nn layer of ``dtype`` with random non-zero weights and biases, eval mode."""
    layer = getattr(torch.nn, name)(*args, **kwargs).to(torch_dtype(dtype)).eval()
    if rng is not None:
        randomize_(layer, rng, scale)
    return layer


def pair(name: str, *args, dtype=np.float32, rng=None, scale=1.0, **kwargs):
    """(torch layer, numrnn layer) with equal random weights, built from the same args.

    The weights are copied into numrnn as plain NumPy arrays through
    ``load_state_dict`` (strict), which must report no missing/unexpected keys.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    t = torch_layer(name, *args, dtype=dtype, rng=rng, scale=scale, **kwargs)
    n = getattr(nn, name)(*args, dtype=dtype, **kwargs)
    result = n.load_state_dict(numpy_state(t))
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    return t, n


def state_signature(state: dict) -> list:
    """[(key, shape)] in order, for comparing state dicts of torch and numrnn."""
    return [(k, tuple(np.shape(v))) for k, v in state.items()]


# ---------------------------------------------------------------------------------------
# Hypothesis strategies: small shapes (T<=12, N<=5, D,H<=8) to keep the suite fast.

seq_lens = st.integers(1, 12)
batches = st.integers(1, 5)
features = st.integers(1, 8)
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)
