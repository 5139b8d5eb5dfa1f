"""GLiNER-S: deberta-v3-small (~166M parameters with heads).

GLiNER recipe as published (urchade/GLiNER training configs and the paper, Zaratiana et al. 2023):
microsoft/deberta-v3-small backbone, hidden_size 768, max_width 12, max_len 384, max_types 25, dropout 0.4, focal loss
(alpha 0.75, gamma 2), AdamW lr 1e-5 (encoder) / 5e-5 (heads), weight decay 0.01, warmup 10%, linear
decay, grad-norm clip 10, batch 8, 30000 steps, negative types from the batch (50%), prompt dropping.
(The numbers are from memory of the public configs; check them against the repository before a paper run.)

Run on a TPU VM with the full Pile-NER in GLiNER format (about 1.5 h on v5e-8):
  python scripts/train.py --config configs/gliner_small.py --workdir gs://BUCKET/gliner_small \
    --config.data.train='[{"path": "/data/pilener_train.json"}]'
Compile check without a TPU:
  python scripts/aot_compile.py --config configs/gliner_small.py --topology v5e:2x4
"""

from gliner_jax.published import ENCODERS
from gliner_jax.train_config import BUNDLED_DEV, BUNDLED_TRAIN, base_config


def get_config(arg: str = ""):
  c = base_config()
  c.model.init = "hf_encoder"
  c.model.path = "microsoft/deberta-v3-small"
  c.model.encoder = ENCODERS["microsoft/deberta-v3-small"]  # shapes for AOT compiles / FLOP counts without a download
  c.model.update(hidden_size=768, max_width=12, max_len=384, max_types=25, dropout=0.4)
  c.data.train = [dict(path=BUNDLED_TRAIN)]  # replace with the full Pile-NER
  c.data.eval = [dict(path=BUNDLED_DEV)]
  c.loss.update(alpha=0.75, gamma=2.0, reduction="sum")
  c.optimizer.update(encoder_lr=1e-5, head_lr=5e-5, encoder_weight_decay=0.01, head_weight_decay=0.01,
                     warmup_ratio=0.1, scheduler="linear", max_grad_norm=10.0)
  c.train.update(batch_size=8, num_steps=30000, log_every=50, eval_every=5000, checkpoint_every=1000,
                 compute_dtype="bfloat16")
  c.mesh.shape = {"data": -1, "fsdp": 1, "tensor": 1}
  return c
