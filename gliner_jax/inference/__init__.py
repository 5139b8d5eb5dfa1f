"""Prediction: words and prompts to arrays, the span and token decoders, the `GLiNER` predictor."""
