"""Zero-shot evaluation: datasets, label maps, precision / recall / F1."""
