r"""Converts PyTorch checkpoints into gliner_jax ones.

  # a gliner 0.2.x model (folder or hub id) -> a gliner_jax checkpoint folder
  python scripts/convert_checkpoint.py --src urchade/gliner_small-v2.1 --dst out/gliner_small_jax

  # a Hugging Face encoder -> encoder_config.json + params.safetensors + tokenizer (a training backbone)
  python scripts/convert_checkpoint.py --mode encoder --src sentence-transformers/all-MiniLM-L6-v2 \
      --dst out/minilm_jax --dtype bfloat16

A --src that is not a local folder is downloaded with huggingface_hub. --mode gliner needs torch only
to read a pytorch_model.bin; model.safetensors checkpoints convert without it.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
  sys.path.insert(0, _REPO)

flags.DEFINE_string("src", None, "gliner / Hugging Face checkpoint folder, or a hub id.")
flags.DEFINE_string("dst", None, "Output folder.")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Dtype the parameters are saved in.")
flags.DEFINE_enum("mode", "gliner", ["gliner", "encoder"],
                  "gliner: a gliner 0.2.x model; encoder: a plain Hugging Face encoder.")
flags.mark_flags_as_required(["src", "dst"])


def _local(src: str) -> str:
  if os.path.isdir(src):
    return src
  from huggingface_hub import snapshot_download
  logging.info("downloading %s from the hub", src)
  return snapshot_download(src)


def main(argv):
  del argv
  from gliner_jax.convert import convert_gliner_checkpoint, convert_hf_encoder
  f = flags.FLAGS
  src = _local(f.src)
  dtype = None if f.dtype == "float32" else f.dtype
  convert = convert_gliner_checkpoint if f.mode == "gliner" else convert_hf_encoder
  convert(src, f.dst, dtype=dtype)
  logging.info("wrote %s (%s, %s)", f.dst, f.mode, f.dtype)
  print(f"converted {f.src} -> {f.dst}")


if __name__ == "__main__":
  app.run(main)
