"""numrnn: run PyTorch-trained RNN, LSTM and GRU models with NumPy alone."""

__version__ = "0.1.0"
