"""The packing utilities under torch's path: ``torch.nn.utils.rnn`` → ``numrnn.utils.rnn``."""

from ..packing import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pack_sequence",
    "pad_sequence",
]
