"""The documentation runs: every ```python block of every docs/*.md page is executed.

One test per page. The blocks of a page run in order in one namespace (a page is one session,
as a student would type it), in a fresh namespace per page, with:

* the working directory a temporary folder, so files the examples write do not litter the repo;
* ``MPLBACKEND=Agg``, so plots are drawn into memory and no window opens;
* the real datasets found as ``tests/test_data_datasets.py`` finds them ($MINICNN_DATA, else
  ../shared/data). Without them nothing is downloaded: the mirrors are emptied, and a page that
  needs the files is skipped from the block that asks for them;
* one thread for BLAS and for Numba. The pages run tiny arrays, where threads only add
  overhead, and on a busy machine the spinning thread pools of OpenBLAS and OpenMP make a
  small training run tens of times slower. The settings are restored afterwards.

Blocks fenced as ```text, ```console (or any language but python) are not run. A failure shows
the page, the line of the block, its source and the traceback.

A second test per page checks that its relative links to other files of the repository exist.
"""

import contextlib
import os
import re
import sys
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of each fenced block whose language is ``python``."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening["fence"], opening["info"].lower()
        indent = len(opening["indent"])  # a fence inside a list item: its body is indented too
        body, j = [], i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                break
            line = lines[j]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            j += 1
        if language == "python":
            blocks.append((i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def real_data_root() -> Path | None:
    """$MINICNN_DATA if set, else ../shared/data if it exists, else None."""
    if os.environ.get("MINICNN_DATA"):
        return Path(os.environ["MINICNN_DATA"])
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


@contextlib.contextmanager
def single_threaded():
    """minicnn's kernels and BLAS on one thread inside the block."""
    import minicnn

    previous = minicnn.get_num_threads()
    minicnn.set_num_threads(1)
    try:
        yield
    finally:
        minicnn.set_num_threads(previous["kernels"], blas=previous["blas"])


def test_the_docs_exist():
    names = {page.name for page in PAGES}
    assert {"getting-started.md", "convolution.md", "backprop-lab.md", "layers.md",
            "architectures.md"} <= names
    assert names & {"README.md", "index.md"}, "docs/ needs a table of contents"


def test_python_blocks_are_found():
    text = "```python\na = 1\n```\n```text\nnot run\n```\n````\n```python\nnested\n```\n````\n"
    assert python_blocks(text) == [(2, "a = 1\n")]
    in_a_list = "- item\n\n  ```python\n  if True:\n      b = 2\n  ```\n"
    assert python_blocks(in_a_list) == [(4, "if True:\n    b = 2\n")]


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)

    import minicnn
    from minicnn import data

    root = real_data_root()
    if root is not None:
        monkeypatch.setenv("MINICNN_DATA", str(root))
    else:  # no downloads from a test: a page that needs the files is skipped instead
        monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "no-data"))
        for dataset in (data.MNIST, data.FashionMNIST, data.CIFAR10):
            monkeypatch.setattr(dataset, "mirrors", [])

    rng_state = minicnn.get_rng_state()
    namespace = {"__name__": f"docs.{page.stem.replace('-', '_')}"}
    try:
        with single_threaded():
            run_blocks(page, namespace, data_present=root is not None)
    finally:
        minicnn.set_rng_state(rng_state)
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def run_blocks(page: Path, namespace: dict, data_present: bool) -> None:
    """Execute the page's python blocks in ``namespace``; fail (or skip) naming the block."""
    from minicnn import data

    for line, source in python_blocks(page.read_text(encoding="utf-8")):
        try:
            exec(compile(source, f"{page.name}:{line}", "exec"), namespace)
        except Exception as error:
            if not data_present and isinstance(error, (data.DatasetNotFoundError,
                                                       data.DownloadError)):
                pytest.skip(f"{page.name}: the block at line {line} needs a dataset that is "
                            f"not here ({type(error).__name__}); set MINICNN_DATA")
            pytest.fail(f"{page.name}: the ```python block at line {line} failed.\n\n"
                        f"{source}\n{traceback.format_exc()}", pytrace=False)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_links_resolve(page):
    """Relative links (to other pages, to examples/...) point at files that exist."""
    text = page.read_text(encoding="utf-8")
    broken = []
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or a heading of the same page
        path = target.split("#")[0]
        if path and not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.name}: links to missing files: {broken}"
