"""Joint entity and relation extraction (gliner 0.2.29's relex models): adjacency layers, triple scorers."""
