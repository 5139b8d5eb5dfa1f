"""Text processing shared by data and inference: word splitters, prompts, windows, buckets and packing."""
