"""Helpers behind the Colab notebooks (notebooks/*.ipynb)."""
