"""The model: configs, layers, encoders, span and token heads, the backbone table, FLOP counts."""
