"""``numrnn.utils.rnn`` mirrors ``torch.nn.utils.rnn``, so ``nn.utils.rnn.pack_padded_sequence`` ports."""

from . import rnn

__all__ = ["rnn"]
