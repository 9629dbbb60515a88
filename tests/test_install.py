"""The installed package is the one imported, wherever a session starts.

A session started in the folder that holds the clone (a notebook beside it, say) sees the
clone's folder ``minicnn/`` before site-packages. Installed as the README says
(``editable_mode=strict``), the real package still wins; a plain ``pip install -e .`` (a
setuptools finder consulted after the path) let that folder in as an empty namespace package,
and ``minicnn.manual_seed`` raised AttributeError. This test fails under such an install.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_session_beside_the_clone_imports_the_real_package(tmp_path):
    (tmp_path / "minicnn").symlink_to(REPO, target_is_directory=True)  # the clone, by its name
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", "import minicnn; minicnn.manual_seed(0); print(minicnn.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(os.path.join("minicnn", "__init__.py"))


def test_every_top_level_name_resolves_to_its_submodules_object():
    """``minicnn.History``, ``minicnn.fit``, ...: each name of ``__all__`` is importable and is
    the object its submodule defines (``minicnn.History is minicnn.train.History``)."""
    import importlib

    import minicnn

    for name in minicnn.__all__:
        assert getattr(minicnn, name) is not None, name
    for name, module in minicnn._FUNCTIONS.items():
        assert getattr(minicnn, name) is getattr(importlib.import_module(f"minicnn.{module}"),
                                                 name)
    assert minicnn.History is minicnn.train.History
    assert "History" in dir(minicnn)
