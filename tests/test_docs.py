"""The documentation holds together: README.md and every page under docs/.

- every relative link (and `#anchor`, where the target is a Markdown page) resolves to a file in the repository;
- README.md stays a front page, under 250 lines;
- every `tests/<file>.py::<test>` the pages cite names a test that exists (read with ast), and every `tests/<file>.py`
  they name exists;
- docs/index.md lists every page in docs/.

The pages are found on the filesystem, so pages added later are checked too. Markdown is parsed with markdown-it-py
(a dependency of flax, through rich), so links inside code blocks and code spans are not links.
"""

import ast
import os
import re
import unicodedata
import urllib.parse

import pytest

from conftest import REPO_ROOT, require_module

markdown_it = require_module("markdown_it", "markdown-it-py")

README = os.path.join(REPO_ROOT, "README.md")
DOCS = os.path.join(REPO_ROOT, "docs")
README_MAX_LINES = 250
TEST_REFERENCE = re.compile(r"\b(tests/[\w/]+\.py)(?:::(\w+(?:::\w+)?))?")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
HTML_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def markdown_pages() -> list[str]:
  """README.md and every .md file under docs/, as absolute paths."""
  pages = [README]
  for root, _, files in os.walk(DOCS):
    pages += [os.path.join(root, f) for f in sorted(files) if f.endswith(".md")]
  return pages


def _parser():
  return markdown_it.MarkdownIt("commonmark").enable("table")


def _inline_children(tokens):
  for token in tokens:
    if token.type == "inline":
      yield from token.children or []


def github_slug(heading: str) -> str:
  """GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to hyphens.

  >>> github_slug("Training quality against gliner 0.2.29's trainer")
  'training-quality-against-gliner-0229s-trainer'
  """
  text = unicodedata.normalize("NFC", heading.strip().lower())
  text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
  return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
  """The anchors a page defines: one per heading (duplicates numbered -1, -2, ... as GitHub does), and HTML ids."""
  tokens = _parser().parse(text)
  found, counts = set(), {}
  for i, token in enumerate(tokens):
    if token.type == "heading_open":
      plain = "".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline"))
      slug = github_slug(plain)
      n = counts.get(slug, 0)
      counts[slug] = n + 1
      found.add(slug if n == 0 else f"{slug}-{n}")
    elif token.type in ("html_block", "html_inline"):
      found.update(HTML_ANCHOR.findall(token.content))
  for child in _inline_children(tokens):
    if child.type == "html_inline":
      found.update(HTML_ANCHOR.findall(child.content))
  return found


def link_targets(text: str) -> list[str]:
  """Every link and image target of a page (inline, reference-style and HTML), code blocks and spans excluded."""
  tokens = _parser().parse(text)
  targets = []
  for child in _inline_children(tokens):
    if child.type == "link_open":
      targets.append(child.attrGet("href"))
    elif child.type == "image":
      targets.append(child.attrGet("src"))
    elif child.type == "html_inline":
      targets += HTML_LINK.findall(child.content)
  for token in tokens:
    if token.type == "html_block":
      targets += HTML_LINK.findall(token.content)
  return targets


def broken_links(page: str, repo_root: str = REPO_ROOT) -> list[str]:
  """The relative links of `page` that do not resolve, each with the reason."""
  with open(page, encoding="utf-8") as f:
    text = f.read()
  problems = []
  for target in link_targets(text):
    if SCHEME.match(target) or target.startswith("//"):
      continue  # an absolute URL (https:, mailto:): not checked, nothing here can reach it
    path_part, _, anchor = target.partition("#")
    path_part = urllib.parse.unquote(path_part)
    if not path_part:
      resolved = page
    elif path_part.startswith("/"):
      resolved = os.path.normpath(os.path.join(repo_root, path_part.lstrip("/")))
    else:
      resolved = os.path.normpath(os.path.join(os.path.dirname(page), path_part))
    if os.path.relpath(resolved, repo_root).startswith(os.pardir):
      problems.append(f"{target}: points outside the repository")
    elif not os.path.exists(resolved):
      problems.append(f"{target}: {os.path.relpath(resolved, repo_root)} does not exist")
    elif anchor and resolved.endswith(".md") and os.path.isfile(resolved):
      with open(resolved, encoding="utf-8") as f:
        defined = anchors(f.read())
      if urllib.parse.unquote(anchor).lower() not in defined:
        problems.append(f"{target}: no heading gives #{anchor} in {os.path.relpath(resolved, repo_root)}")
  return problems


def defined_tests(path: str) -> set[str]:
  """`test_x` for module-level functions and `Class::test_x` for methods of a test file (parsed, not imported)."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), filename=path)
  names = set()
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      names.add(node.name)
    elif isinstance(node, ast.ClassDef):
      names.update(
        f"{node.name}::{item.name}" for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
      )
  return names


def missing_test_references(text: str, repo_root: str = REPO_ROOT) -> list[str]:
  """The `tests/<file>.py[::<test>]` references of a text whose file or test does not exist."""
  problems, cache = [], {}
  for file, test in TEST_REFERENCE.findall(text):
    path = os.path.join(repo_root, file)
    if not os.path.isfile(path):
      problems.append(f"{file}: no such file")
      continue
    if test:
      if path not in cache:
        cache[path] = defined_tests(path)
      if test not in cache[path]:
        problems.append(f"{file}::{test}: no such test")
  return sorted(set(problems))


def _rel(page: str) -> str:
  return os.path.relpath(page, REPO_ROOT)


# The checker itself, on fixed inputs.


def test_slugs_follow_githubs_rule():
  assert github_slug("Five lines") == "five-lines"
  assert github_slug("Reduced precision: bfloat16 matmuls, int8 encoder kernels") == (
    "reduced-precision-bfloat16-matmuls-int8-encoder-kernels"
  )
  assert github_slug("Multi-host: TPU pods, CPU and GPU clusters") == "multi-host-tpu-pods-cpu-and-gpu-clusters"
  assert github_slug("The `gs://` path (v0.2)") == "the-gs-path-v02"
  assert github_slug("snake_case stays") == "snake_case-stays"


def test_anchors_number_duplicate_headings_and_read_code_and_html():
  text = (
    '# Intro\n\n## Setup\n\n## Setup\n\n### The `warmup` call\n\n<a id="custom"></a>\n\n```\n# not a heading\n```\n'
  )
  assert anchors(text) == {"intro", "setup", "setup-1", "the-warmup-call", "custom"}


def test_links_in_code_are_ignored_and_every_link_form_is_found():
  text = (
    "See [a](docs/a.md#x), ![img](img.png) and [ref][r].\n\n"
    "`[not](a-link.md)`\n\n```\n[not](either.md)\n```\n\n"
    '| col |\n|---|\n| [cell](cell.md) |\n\n<a href="html.md">h</a>\n\n[r]: ref.md\n'
  )
  assert sorted(link_targets(text)) == sorted(["docs/a.md#x", "img.png", "ref.md", "cell.md", "html.md"])


def test_broken_links_are_found(tmp_path):
  (tmp_path / "docs").mkdir()
  (tmp_path / "docs" / "b.md").write_text("# Title\n\n## Part two\n")
  page = tmp_path / "docs" / "a.md"
  page.write_text(
    "# A\n\n[ok](b.md) [ok](b.md#part-two) [ok](#a) [ok](/docs/b.md) [web](https://example.org/x)\n\n"
    "[gone](c.md) [bad anchor](b.md#part-three) [self](#nothing) [out](../../elsewhere.md)\n"
  )
  problems = broken_links(str(page), repo_root=str(tmp_path))
  assert len(problems) == 4, problems
  assert problems[0].startswith("c.md: docs/c.md does not exist")
  assert problems[1] == "b.md#part-three: no heading gives #part-three in docs/b.md"
  assert problems[2] == "#nothing: no heading gives #nothing in docs/a.md"
  assert problems[3] == "../../elsewhere.md: points outside the repository"


def test_missing_test_references_are_found(tmp_path):
  (tmp_path / "tests").mkdir()
  (tmp_path / "tests" / "test_x.py").write_text(
    "def test_a():\n  pass\n\nclass TestB:\n  def test_c(self):\n    pass\n"
  )
  text = (
    "`tests/test_x.py::test_a`, tests/test_x.py::TestB::test_c, tests/test_x.py, "
    "`tests/test_x.py::test_gone`, `tests/test_y.py::test_a`, tests/test_x.py::test_c"
  )
  assert missing_test_references(text, repo_root=str(tmp_path)) == [
    "tests/test_x.py::test_c: no such test",
    "tests/test_x.py::test_gone: no such test",
    "tests/test_y.py: no such file",
  ]


# The repository's pages.


@pytest.mark.parametrize("page", markdown_pages(), ids=_rel)
def test_every_relative_link_resolves(page):
  problems = broken_links(page)
  assert not problems, f"{_rel(page)} has broken links:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", markdown_pages(), ids=_rel)
def test_every_cited_test_exists(page):
  with open(page, encoding="utf-8") as f:
    problems = missing_test_references(f.read())
  assert not problems, f"{_rel(page)} cites tests that do not exist:\n  " + "\n  ".join(problems)


def test_readme_is_a_front_page():
  with open(README, encoding="utf-8") as f:
    lines = f.read().splitlines()
  assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; keep it under {README_MAX_LINES}"


def test_index_lists_every_page():
  index = os.path.join(DOCS, "index.md")
  with open(index, encoding="utf-8") as f:
    linked = {os.path.normpath(os.path.join(DOCS, t.partition("#")[0])) for t in link_targets(f.read())}
  pages = [p for p in markdown_pages() if os.path.dirname(p) == DOCS and p != index]
  unlisted = [_rel(p) for p in pages if p not in linked]
  assert pages and not unlisted, f"docs/index.md does not link to: {unlisted}"
