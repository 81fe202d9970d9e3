"""numrnn's own weight-init stream (no numpy.random at import): reproducible and well spread."""

import subprocess
import sys

import numpy as np

import numrnn as nn
from numrnn import _random


def test_uniform_fills_its_interval_evenly():
    nn.manual_seed(7)
    u = _random.uniform(0.5, (200_000,), np.float64)
    assert -0.5 <= u.min() and u.max() < 0.5
    counts, _ = np.histogram(u, bins=20, range=(-0.5, 0.5))
    expected = len(u) / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 60  # 19 degrees of freedom: p < 1e-5 beyond this


def test_normal_has_standard_moments():
    nn.manual_seed(11)
    z = _random.normal((400_000,), np.float64)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.005  # the normal's mass within one sigma


def test_streams_differ_by_seed_and_continue_without_repeating():
    nn.manual_seed(1)
    a, b = _random.uniform(1, (1000,), np.float64), _random.uniform(1, (1000,), np.float64)
    nn.manual_seed(2)
    c = _random.uniform(1, (1000,), np.float64)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.1


def test_import_and_construction_need_no_numpy_random():
    code = "import sys, numrnn as nn; nn.LSTM(3, 5); nn.Embedding(4, 2); print('numpy.random' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
