"""numrnn: run PyTorch-trained RNN, LSTM and GRU models with NumPy alone.

Write the model as the torch tutorial does, with ``import numrnn as nn``, load the
state dict torch saved, and get torch's numbers::

    import numrnn as nn

    rnn = nn.RNN(3, 5, batch_first=True)
    rnn.load_state_dict(nn.load("rnn.pt"))
    output, h_n = rnn(x)          # x: [N, T, 3] NumPy array
"""

from typing import Any

from . import utils  # noqa: F401  (numrnn.utils.rnn, as torch.nn.utils.rnn)
from ._random import manual_seed
from .checkpoint import CheckpointError, UnsafeCheckpointError, load, save
from .layers import Dropout, Embedding, Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from .module import IncompatibleKeys, Module, StateDictError
from .packing import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "state_dict_from":  # imported on first use: see numrnn.checkpoint
        from .checkpoint import state_dict_from

        return state_dict_from
    raise AttributeError(f"module 'numrnn' has no attribute {name!r}")

__all__ = [
    "Module",
    "StateDictError",
    "IncompatibleKeys",
    "Linear",
    "Embedding",
    "Identity",
    "Tanh",
    "ReLU",
    "Sigmoid",
    "Dropout",
    "Sequential",
    "RNN",
    "LSTM",
    "GRU",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "PackedSequence",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pack_sequence",
    "pad_sequence",
    "manual_seed",
    "load",
    "save",
    "state_dict_from",
    "CheckpointError",
    "UnsafeCheckpointError",
]
