"""Shared test configuration: one Hypothesis profile for CI and local runs."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=int(os.environ.get("NUMRNN_MAX_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile("ci")


@pytest.fixture(scope="module")
def torch_no_grad():
    """For modules where torch is only the oracle: no autograd bookkeeping (it is slow).

    Use with ``pytestmark = pytest.mark.usefixtures("torch_no_grad")``.
    """
    import torch

    with torch.no_grad():
        yield
