"""Entity labels as users give them: a list of names, one name, or a `{name: description}` mapping.

With a mapping the model reads each description where it would read the name, and entities come back
under the name. This is how gliner 0.2.29 reads label descriptions (`GLiNER.predict_entities` with a
mapping): the description replaces the name in the prompt (`<<ENT>> description <<ENT>> ...`), or in the
labels encoder's input for a bi-encoder, and descriptions must differ from each other. A list of names
keeps its first occurrence of each name, as gliner does.

Example:
  >>> labels = LabelSet.of({"person": "a named human being", "city": "a town or a city"})
  >>> labels.names, labels.prompts
  (('person', 'city'), ('a named human being', 'a town or a city'))
  >>> LabelSet.of(["city", "person", "city"]).prompts
  ('city', 'person')
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence, Union

Labels = Union[str, Sequence[str], Mapping[str, str]]


@dataclasses.dataclass(frozen=True)
class LabelSet:
  """Labels for one prediction: `prompts[i]` is what the model reads for the label named `names[i]`."""

  names: tuple[str, ...]
  prompts: tuple[str, ...]

  @property
  def described(self) -> bool:
    """Whether any label is read through a description rather than its name."""
    return self.names != self.prompts

  def __len__(self) -> int:
    return len(self.names)

  @classmethod
  def of(cls, labels: Labels | LabelSet) -> LabelSet:
    """The label set of `labels`: a `LabelSet`, a name, a sequence of names or a `{name: description}` mapping."""
    if isinstance(labels, LabelSet):
      return labels
    if isinstance(labels, Mapping):
      for name, description in labels.items():
        if not isinstance(name, str) or not isinstance(description, str):
          raise ValueError(
            f"a label mapping goes from names to descriptions, both strings; got {name!r}: {description!r}"
          )
      names, prompts = tuple(labels), tuple(labels.values())
      seen: dict[str, str] = {}
      for name, prompt in zip(names, prompts):
        if prompt in seen:
          raise ValueError(f"labels {seen[prompt]!r} and {name!r} have the same description {prompt!r}")
        seen[prompt] = name
      return cls(names, prompts)
    if isinstance(labels, str):
      labels = [labels]
    if not isinstance(labels, Sequence):
      raise ValueError(
        f"labels must be a list of names or a {{name: description}} mapping, got {type(labels).__name__}"
      )
    for i, name in enumerate(labels):
      if not isinstance(name, str):
        raise ValueError(f"labels[{i}] is {type(name).__name__} {name!r}, not a string")
    names = tuple(dict.fromkeys(labels))
    return cls(names, names)
