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

from absl import app, flags, logging

flags.DEFINE_string("src", None, "gliner / Hugging Face checkpoint folder, or a hub id.")
flags.DEFINE_string("dst", None, "Output folder.")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Dtype the parameters are saved in.")
flags.DEFINE_enum(
  "mode", "gliner", ["gliner", "encoder"], "gliner: a gliner 0.2.x model; encoder: a plain Hugging Face encoder."
)
flags.DEFINE_string(
  "tokenizer",
  None,
  "Tokenizer folder or hub id, for gliner folders that ship none (default: the folder's own, else its model_name's).",
)
flags.DEFINE_string("revision", None, "Hub revision (branch, tag or commit) of --src.")
flags.DEFINE_string("token", None, "Hub access token (default: the logged-in one).")
flags.DEFINE_string("cache_dir", None, "Hub cache folder.")
flags.mark_flags_as_required(["src", "dst"])


def main(argv):
  del argv
  from gliner_jax.interop.convert import convert_gliner_checkpoint, convert_hf_encoder
  from gliner_jax.interop.hub import HubOptions, resolve_model_dir

  f = flags.FLAGS
  options = HubOptions(revision=f.revision, token=f.token, cache_dir=f.cache_dir)
  dtype = None if f.dtype == "float32" else f.dtype
  if f.mode == "gliner":
    convert_gliner_checkpoint(f.src, f.dst, dtype=dtype, tokenizer=f.tokenizer, options=options)
  else:
    convert_hf_encoder(resolve_model_dir(f.src, options), f.dst, dtype=dtype)
  logging.info("wrote %s (%s, %s)", f.dst, f.mode, f.dtype)
  print(f"converted {f.src} -> {f.dst}")


if __name__ == "__main__":
  app.run(main)
