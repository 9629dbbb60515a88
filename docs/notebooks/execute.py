"""Run the teaching notebooks top to bottom on a fresh Jupyter kernel and save their outputs.

    python docs/notebooks/execute.py                  # every notebook here, in place
    python docs/notebooks/execute.py 01_*.ipynb       # some of them

Each notebook runs in a new kernel (nbclient, the engine of ``jupyter nbconvert --execute``)
with a temporary folder as its working directory, so files it writes do not litter the clone,
and this clone's ``minicnn`` first on its path;
a cell that raises stops it with the error. The saved notebook keeps its outputs (what a
reader sees on the repository's web page) but no per-run timing metadata, so that re-running
changes only what the cells print. ``tests/test_notebooks.py`` runs the same function.
Needs the ``notebooks`` extra: ``pip install -e ".[notebooks]"``.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CELL_TIMEOUT = 900  # seconds; the longest cell trains a small network


def execute(path: Path, save: bool = True) -> float:
    """Execute the notebook at ``path`` on a fresh kernel; returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # the kernel imports this clone's minicnn, whatever is installed (or not) in the venv
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="minicnn-notebook-") as workdir:
        NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": workdir}}).execute(env=env)
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # per-run timestamps: noise in a diff
    if save:
        nbformat.write(notebook, path)
    return seconds


def main(argv: list[str]) -> None:
    paths = [Path(a) if Path(a).is_absolute() else Path.cwd() / a for a in argv] or \
        sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
