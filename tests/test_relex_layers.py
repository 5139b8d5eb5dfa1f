"""The relex layers against gliner 0.2.29's torch layers with random weights: every relations layer (adjacency
over a padded batch of entities) and every triple scorer (pairs x relation types), outputs within 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_module
from gliner_jax.interop.relex_convert import params_from_rows, relations_tensor_map, triples_tensor_map
from gliner_jax.model.relex.relations import RELATIONS_LAYERS, make_relations_layer
from gliner_jax.model.relex.triples import TRIPLES_LAYERS, make_triples_layer

torch = require_module("torch")
relations_layers = require_module("gliner.modeling.multitask.relations_layers", "gliner")
triples_layers = require_module("gliner.modeling.multitask.triples_layers", "gliner")

TOL = 1e-5
D = 16


def _perturb(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in module.parameters():
      p.add_(scale * torch.randn(p.shape, generator=gen))
    for name, buf in module.named_buffers():
      if name.endswith("running_mean"):
        buf.copy_(0.2 * torch.randn(buf.shape, generator=gen))
      elif name.endswith("running_var"):
        buf.copy_(0.5 + torch.rand(buf.shape, generator=gen))


def _inner(variables: dict, name: str) -> dict:
  """The variables of the layer called `name` in the tree, as the layer alone takes them."""
  return {collection: tree[name] for collection, tree in variables.items()}


def _entities(seed: int = 0):
  rng = np.random.default_rng(seed)
  x = (0.4 * rng.standard_normal((2, 5, D))).astype(np.float32)
  mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.int64)
  return x, mask


@pytest.mark.parametrize("mode", [m for m in RELATIONS_LAYERS if m != "none"])
def test_relations_layer_matches_reference(mode):
  torch.manual_seed(0)
  ref = relations_layers.RelationsRepLayer(in_dim=D, relation_mode=mode).eval()
  _perturb(ref, seed=1, scale=0.15 if mode in ("gcn", "gat") else 0.05)
  x, mask = _entities()
  with torch.no_grad():
    expected = ref(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
  state = {f"relation_rep_layer.{k}": v.numpy() for k, v in ref.relation_rep_layer.state_dict().items()}
  rows = relations_tensor_map(mode, D, prefix="relation_rep_layer")
  variables = _inner(params_from_rows(state, rows, strict_prefixes=("relation_rep_layer.",)), "relations")
  got = np.asarray(make_relations_layer(mode, D).apply(variables, x, mask))
  assert got.shape == (2, 5, 5)
  np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
  assert np.all(got[1, 3:] == 0) and np.all(got[1, :, 3:] == 0)
  assert np.ptp(got[0]) > 0.01  # spread out, so the comparison means something


def test_none_has_no_layer_and_unknown_modes_are_named():
  assert make_relations_layer("none", D) is None
  with pytest.raises(ValueError, match="unknown relations_layer 'cosine'"):
    make_relations_layer("cosine", D)
  with pytest.raises(ValueError, match="unknown triples_layer 'RotatE'"):
    make_triples_layer("RotatE", D)


TRIPLES_OPTIONS = {
  "ERMLP": {"hidden": 32},
  "ConvKB": {"n_filters": 4},
  "ConvE": {"emb_dim1": 4, "n_filters": 3},
  "TuckER": {},
}
CASES = [(m, TRIPLES_OPTIONS.get(m, {})) for m in TRIPLES_LAYERS]
CASES += [("TransE", {"use_scorer": True}), ("PairRE", {"p": 1, "power": 2.0, "clamp_norm": None})]


@pytest.mark.parametrize("mode,options", CASES, ids=[f"{m}{'-' + '-'.join(o) if o else ''}" for m, o in CASES])
def test_triples_layer_matches_reference(mode, options):
  torch.manual_seed(0)
  ref = triples_layers.TriplesScoreLayer(mode, dim=D, **options).eval()
  _perturb(ref, seed=2)
  rng = np.random.default_rng(3)
  h, t = ((0.5 * rng.standard_normal((2, 6, D))).astype(np.float32) for _ in range(2))
  r = (0.5 * rng.standard_normal((2, 4, D))).astype(np.float32)
  with torch.no_grad():
    expected = ref.forward_batched_relations(torch.from_numpy(h), torch.from_numpy(t), torch.from_numpy(r)).numpy()
  state = {f"interaction.{k}": v.numpy() for k, v in ref.interaction.state_dict().items()}
  rows = triples_tensor_map(mode, D, prefix="interaction", **options)
  variables = _inner(params_from_rows(state, rows, strict_prefixes=("interaction.",)), "triples")
  layer = make_triples_layer(mode, D, **options)
  got = np.asarray(layer.apply(variables, h[:, :, None], r[:, None], t[:, :, None]))
  assert got.shape == expected.shape == (2, 6, 4)
  np.testing.assert_allclose(got, expected, atol=TOL, rtol=1e-5)
  assert np.unique(np.round(got, 6)).size > 8  # not a constant


@pytest.mark.slow
def test_reference_defaults_build_the_same_parameters():
  """What the relex model builds from its config (`TriplesScoreLayer(name)`: 768, default options) converts."""
  import flax.linen as nn
  import jax

  for mode in ("TransF", "TuckER", "ConvKB", "ERMLP"):
    ref = triples_layers.TriplesScoreLayer(mode)
    state = {f"interaction.{k}": v.numpy() for k, v in ref.interaction.state_dict().items()}
    rows = triples_tensor_map(mode, prefix="interaction")
    variables = _inner(params_from_rows(state, rows, strict_prefixes=("interaction.",)), "triples")
    ones = np.ones((1, 1, 768), np.float32)
    init = make_triples_layer(mode).init(jax.random.key(0), ones, ones, ones)
    assert jax.tree.map(np.shape, nn.meta.unbox(init)) == jax.tree.map(np.shape, variables), mode
