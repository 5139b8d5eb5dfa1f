"""Tests for gliner_jax.inference.decoding: brute-force properties, reference parity, edge cases."""

from __future__ import annotations

import itertools
import math
import types

import numpy as np
import pytest

from gliner_jax.inference.decoding import (
  SpanPrediction,
  candidates_from_probs,
  check_threshold,
  decode_batch,
  decode_spans,
)

MODES = [
  pytest.param(flat, multi, id=f"{'flat' if flat else 'nested'}-{'multi' if multi else 'single'}")
  for flat, multi in itertools.product([True, False], [False, True])
]
# A handful of values so that exact score ties are frequent.
TIE_VALUES = np.array([0.1, 0.3, 0.35, 0.5, 0.6, 0.6, 0.75, 0.9, 0.9], dtype=np.float32)


# ---------------------------------------------------------------------------
# Brute force: the literal quadratic greedy search, written independently.
# ---------------------------------------------------------------------------


def _clash(a: tuple[int, int], b: tuple[int, int], flat: bool, multi: bool) -> bool:
  (s1, e1), (s2, e2) = a, b
  if (s1, e1) == (s2, e2):
    return not multi
  overlap = s1 <= e2 and s2 <= e1
  if flat:
    return overlap
  contains = (s1 <= s2 and e2 <= e1) or (s2 <= s1 and e1 <= e2)
  return overlap and not contains


def _priority_order(cands: list[tuple[int, int, int, float]]) -> list[int]:
  """Candidate indices by descending score, ties by input position (stable sort)."""
  return sorted(range(len(cands)), key=lambda i: -cands[i][3])


def _brute_force(cands, num_words: int, flat: bool, multi: bool) -> list[tuple[int, int, int, float]]:
  cands = [c for c in cands if c[1] < num_words]
  kept = []
  for i in _priority_order(cands):
    if all(not _clash(cands[i][:2], k[:2], flat, multi) for k in kept):
      kept.append(cands[i])
  return sorted(kept, key=lambda c: c[0])


def _as_tuples(preds: list[SpanPrediction]) -> list[tuple[int, int, int, float]]:
  return [(p.start, p.end, p.label, p.score) for p in preds]


def _assert_greedy_properties(cands, chosen, flat: bool, multi: bool) -> None:
  """Characterises the greedy result: kept set is clash-free, sorted by start, and every
  dropped candidate clashes with a kept candidate of higher-or-equal priority."""
  assert len(set(cands)) == len(cands), "property check needs distinct candidates"
  rank = {c: r for r, c in enumerate(cands[i] for i in _priority_order(cands))}
  assert set(chosen) <= set(cands)
  assert len(set(chosen)) == len(chosen)
  assert [c[0] for c in chosen] == sorted(c[0] for c in chosen)
  for a, b in itertools.combinations(chosen, 2):
    assert not _clash(a[:2], b[:2], flat, multi), (a, b)
  chosen_set = set(chosen)
  for c in cands:
    if c not in chosen_set:
      assert any(rank[k] < rank[c] and _clash(c[:2], k[:2], flat, multi) for k in chosen), c


def _random_probs(rng: np.random.Generator, shape) -> np.ndarray:
  return rng.choice(TIE_VALUES, size=shape).astype(np.float32)


# ---------------------------------------------------------------------------
# Property tests against the brute force.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("flat,multi", MODES)
def test_matches_brute_force_on_random_probs(flat, multi):
  for seed in range(300):
    rng = np.random.default_rng(seed)
    L, K, C = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    num_words = int(rng.integers(0, L + 1))
    threshold = float(rng.choice([0.3, 0.5]))
    probs = _random_probs(rng, (L, K, C))
    starts, widths, labels, scores = candidates_from_probs(probs, threshold, num_words)
    got = _as_tuples(
      decode_spans(starts, widths, labels, scores, num_words=num_words, flat_ner=flat, multi_label=multi)
    )
    cands = [
      (s, s + w, c, float(probs[s, w, c]))
      for s, w, c in itertools.product(range(L), range(K), range(C))
      if probs[s, w, c] > np.float32(threshold) and s + w < num_words
    ]
    want = _brute_force(cands, num_words, flat, multi)
    assert got == want, f"seed={seed}"
    _assert_greedy_properties(cands, want, flat, multi)
    _assert_greedy_properties(cands, got, flat, multi)


@pytest.mark.parametrize("flat,multi", MODES)
def test_matches_brute_force_on_arbitrary_candidates(flat, multi):
  """Wide spans, far-apart coordinates, duplicate spans and non-row-major order:
  the decoder must not rely on bounded widths or on num_words being small."""
  for seed in range(200):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(0, 40))
    starts = rng.integers(0, 60, size=n) * int(rng.choice([1, 1000]))
    widths = rng.integers(0, 30, size=n) * int(rng.choice([1, 50]))
    labels = rng.integers(0, 3, size=n)
    scores = rng.choice(TIE_VALUES, size=n).astype(np.float32)
    num_words = int(rng.choice([10**9, int(np.median(starts + widths)) if n else 0]))
    got = _as_tuples(
      decode_spans(starts, widths, labels, scores, num_words=num_words, flat_ner=flat, multi_label=multi)
    )
    cands = [(int(s), int(s + w), int(c), float(x)) for s, w, c, x in zip(starts, widths, labels, scores)]
    assert got == _brute_force(cands, num_words, flat, multi), f"seed={seed}"


# ---------------------------------------------------------------------------
# Parity with the reference GLiNER span decoder.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_decoder():
  from conftest import require_module

  torch = require_module("torch")
  torch.set_num_threads(1)
  decoder_module = require_module("gliner.decoding.decoder")
  # The span decoder never reads its config; an empty namespace is enough.
  return torch, decoder_module.SpanDecoder(types.SimpleNamespace())


@pytest.mark.parametrize("threshold", [0.3, 0.5])
@pytest.mark.parametrize("flat,multi", MODES)
def test_matches_reference_span_decoder(reference_decoder, flat, multi, threshold):
  torch, decoder = reference_decoder
  # Logit 0 gives probability exactly 0.5 (the strict-threshold boundary); the others
  # repeat so that many scores tie exactly.
  logit_values = torch.tensor([-2.0, -0.85, -0.6, 0.0, 0.4, 0.4, 1.1, 2.2, 2.2], dtype=torch.float32)
  for seed in range(60):
    rng = np.random.default_rng(5000 + seed)
    B = int(rng.integers(1, 4))  # B == 1 takes a separate code path in the reference
    L, K, C = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    logits = logit_values[torch.from_numpy(rng.integers(0, len(logit_values), size=(B, L, K, C)))]
    num_words = [int(n) for n in rng.integers(0, L + 1, size=B)]
    tokens = [[f"w{i}" for i in range(n)] for n in num_words]
    id_to_classes = {c + 1: chr(ord("a") + c) for c in range(C)}

    ref = decoder.decode(tokens, id_to_classes, logits, flat_ner=flat, threshold=threshold, multi_label=multi)
    ours = decode_batch(torch.sigmoid(logits).numpy(), threshold, num_words, flat_ner=flat, multi_label=multi)
    assert len(ours) == len(ref) == B
    for ref_spans, our_spans in zip(ref, ours):
      want = [(s.start, s.end, ord(s.entity_type) - ord("a"), s.score) for s in ref_spans]
      got = _as_tuples(our_spans)
      assert [g[:3] for g in got] == [w[:3] for w in want], f"seed={seed}"
      for g, w in zip(got, want):
        assert g[3] == pytest.approx(w[3], abs=1e-7)


def test_threshold_compared_in_probs_dtype_like_torch(reference_decoder):
  torch, _ = reference_decoder
  at = np.float32(0.3)  # float32(0.3) > 0.3 in float64, but not in float32
  above = np.nextafter(at, np.float32(1))
  probs = np.array([at, above, np.float32(0.2)], dtype=np.float32).reshape(3, 1, 1)
  starts, widths, labels, scores = candidates_from_probs(probs, 0.3, num_words=3)
  torch_starts = torch.where(torch.from_numpy(probs) > 0.3)[0].tolist()
  assert starts.tolist() == torch_starts == [1]
  assert scores.tolist() == [float(above)]


# ---------------------------------------------------------------------------
# Hand-made examples and edge cases.
# ---------------------------------------------------------------------------

# Cells in row-major (start, width, label) order; the last one ends past num_words=5.
_HAND = [
  (0, 2, 0, 0.8),  # [0,2] a
  (0, 2, 1, 0.9),  # [0,2] b  (same span, higher score)
  (1, 0, 0, 0.7),  # [1,1] a  (nested in [0,2])
  (2, 1, 1, 0.6),  # [2,3] b  (crosses [0,2])
  (3, 1, 0, 0.5),  # [3,4] a
  (4, 0, 1, 0.4),  # [4,4] b  (nested in [3,4])
  (4, 1, 0, 0.99),  # [4,5] a  (past the text: must be dropped)
]
_HAND_EXPECTED = {
  (True, False): [(0, 2, 1, 0.9), (3, 4, 0, 0.5)],
  (True, True): [(0, 2, 1, 0.9), (0, 2, 0, 0.8), (3, 4, 0, 0.5)],
  (False, False): [(0, 2, 1, 0.9), (1, 1, 0, 0.7), (3, 4, 0, 0.5), (4, 4, 1, 0.4)],
  (False, True): [(0, 2, 1, 0.9), (0, 2, 0, 0.8), (1, 1, 0, 0.7), (3, 4, 0, 0.5), (4, 4, 1, 0.4)],
}


@pytest.mark.parametrize("flat,multi", MODES)
def test_hand_made_example_decode_spans(flat, multi):
  starts, widths, labels, scores = (list(col) for col in zip(*_HAND))
  got = decode_spans(starts, widths, labels, scores, num_words=5, flat_ner=flat, multi_label=multi)
  assert all(isinstance(p, SpanPrediction) for p in got)
  assert _as_tuples(got) == _HAND_EXPECTED[(flat, multi)]


@pytest.mark.parametrize("flat,multi", MODES)
def test_hand_made_example_decode_batch(flat, multi):
  probs = np.full((2, 6, 3, 2), 0.1, dtype=np.float32)
  for s, w, c, score in _HAND:
    probs[0, s, w, c] = score
  got = decode_batch(probs, 0.3, [5, 6], flat_ner=flat, multi_label=multi)
  assert got[1] == []
  want = _HAND_EXPECTED[(flat, multi)]
  assert [t[:3] for t in _as_tuples(got[0])] == [w[:3] for w in want]
  assert [p.score for p in got[0]] == [float(np.float32(w[3])) for w in want]


def test_ties_broken_by_input_position():
  # Equal scores, overlapping spans: the first candidate in input order wins.
  assert _as_tuples(decode_spans([0, 1], [1, 0], [0, 0], [0.7, 0.7], num_words=3)) == [(0, 1, 0, 0.7)]
  assert _as_tuples(decode_spans([1, 0], [0, 1], [0, 0], [0.7, 0.7], num_words=3)) == [(1, 1, 0, 0.7)]


def test_same_start_keeps_kept_order():
  # Nested mode: [0,0] is kept before [0,2] (higher score) and stays first after the sort.
  got = decode_spans([0, 0], [2, 0], [0, 1], [0.6, 0.8], num_words=3, flat_ner=False)
  assert _as_tuples(got) == [(0, 0, 1, 0.8), (0, 2, 0, 0.6)]


def test_no_candidates():
  assert decode_spans([], [], [], [], num_words=4) == []
  probs = np.full((3, 4, 2, 2), 0.2, dtype=np.float32)
  assert decode_batch(probs, 0.5, [4, 2, 0]) == [[], [], []]
  probs[0, 0, 0, 0] = 0.5  # equal to the threshold: not strictly above
  assert decode_batch(probs, 0.5, [4, 2, 0]) == [[], [], []]


def test_spans_past_num_words_dropped():
  probs = np.zeros((4, 3, 1), dtype=np.float32)
  probs[1, 2, 0] = 0.9  # ends at word 3
  probs[2, 0, 0] = 0.8  # ends at word 2
  probs[0, 1, 0] = 0.7  # ends at word 1
  starts, widths, _, _ = candidates_from_probs(probs, 0.5, num_words=3)
  assert list(zip(starts.tolist(), widths.tolist())) == [(0, 1), (2, 0)]
  assert candidates_from_probs(probs, 0.5, num_words=0)[0].size == 0
  # decode_spans filters as well, so an overflowing candidate cannot block others.
  got = decode_spans([1, 2, 0], [2, 0, 1], [0, 0, 0], [0.9, 0.8, 0.7], num_words=3)
  assert _as_tuples(got) == [(0, 1, 0, 0.7), (2, 2, 0, 0.8)]
  assert decode_spans([1], [2], [0], [0.9], num_words=0) == []


def test_candidates_row_major_and_strict():
  probs = np.zeros((2, 2, 2), dtype=np.float32)
  probs[1, 0, 1] = 0.6
  probs[0, 1, 0] = 0.6
  probs[0, 0, 1] = 0.9
  probs[1, 1, 0] = 0.4
  starts, widths, labels, scores = candidates_from_probs(probs, 0.4, num_words=2)
  assert list(zip(starts.tolist(), widths.tolist(), labels.tolist())) == [(0, 0, 1), (0, 1, 0), (1, 0, 1)]
  assert scores.dtype == np.float32
  assert scores.tolist() == pytest.approx([0.9, 0.6, 0.6])
  assert starts.dtype == widths.dtype == labels.dtype == np.int64


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.2, 1.5, math.nan, math.inf, True, None, "0.5", [0.5]])
def test_check_threshold_rejects(bad):
  with pytest.raises(ValueError, match="threshold"):
    check_threshold(bad)


def test_check_threshold_accepts():
  assert check_threshold(0.5) == 0.5
  assert check_threshold(np.float32(0.25)) == 0.25
  with pytest.raises(ValueError, match="threshold"):
    decode_batch(np.zeros((1, 2, 2, 1), np.float32), 1.0, [2])
  with pytest.raises(ValueError, match="threshold"):
    candidates_from_probs(np.zeros((2, 2, 1), np.float32), 0.0, 2)


def test_bad_inputs_raise_value_error():
  with pytest.raises(ValueError, match="equal lengths"):
    decode_spans([0, 1], [0], [0, 0], [0.5, 0.6], num_words=3)
  with pytest.raises(ValueError, match="1-D"):
    decode_spans([[0]], [[0]], [[0]], [[0.5]], num_words=3)
  with pytest.raises(ValueError, match="starts must be >= 0"):
    decode_spans([-1], [0], [0], [0.5], num_words=3)
  with pytest.raises(ValueError, match="widths must be an integer"):
    decode_spans([0], [0.5], [0], [0.5], num_words=3)
  with pytest.raises(ValueError, match="NaN"):
    decode_spans([0], [0], [0], [math.nan], num_words=3)
  with pytest.raises(ValueError, match="num_words"):
    decode_spans([0], [0], [0], [0.5], num_words=-1)
  with pytest.raises(ValueError, match=r"\[L, K, C\]"):
    candidates_from_probs(np.zeros((2, 2), np.float32), 0.5, 2)
  with pytest.raises(ValueError, match="floating-point"):
    candidates_from_probs(np.zeros((2, 2, 1), np.int32), 0.5, 2)
  with pytest.raises(ValueError, match=r"\[B, L, K, C\]"):
    decode_batch(np.zeros((2, 2, 1), np.float32), 0.5, [2, 2])
  with pytest.raises(ValueError, match="one word count per text"):
    decode_batch(np.zeros((2, 2, 2, 1), np.float32), 0.5, [2])
  with pytest.raises(ValueError, match=r"num_words\[1\]"):
    decode_batch(np.zeros((2, 2, 2, 1), np.float32), 0.5, [2, -3])


def test_span_prediction_is_frozen():
  span = SpanPrediction(start=1, end=2, label=0, score=0.5)
  with pytest.raises(AttributeError):
    span.start = 3  # type: ignore[misc]
