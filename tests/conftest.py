"""What every test file shares: the fixture that runs a test once under each engine.

A test file of operations, layers, losses, blocks or models starts with::

    pytestmark = pytest.mark.usefixtures("each_engine")

and each of its tests then runs twice, as ``test_x[reference]`` and ``test_x[fast]``: once with
the plain NumPy of ``minicnn.functional`` (the code a student reads), once with the fast engine.
Inside such a test, ``F`` from ``engine_under_test`` is the active engine's namespace.

Subprocesses the tests start (benchmark scripts, fresh interpreters, notebook kernels) import
this clone's ``minicnn``: the repository root goes first on their PYTHONPATH, whatever the
environment has installed (an editable install made before a module was added lacks it).
"""

import os
from pathlib import Path

import pytest

import minicnn
from minicnn.engines import ENGINES

REPO = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(
    [REPO, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != REPO)])


@pytest.fixture(params=ENGINES)
def each_engine(request):
    """Run the test with ``minicnn.engine(name)`` for each engine name."""
    with minicnn.engine(request.param):
        yield request.param
