"""What every test file shares: the fixture that runs a test once under each engine.

A test file of operations, layers, losses, blocks or models starts with::

    pytestmark = pytest.mark.usefixtures("each_engine")

and each of its tests then runs twice, as ``test_x[reference]`` and ``test_x[fast]``: once with
the plain NumPy of ``minicnn.functional`` (the code a student reads), once with the fast engine.
Inside such a test, ``F`` from ``engine_under_test`` is the active engine's namespace.
"""

import pytest

import minicnn
from minicnn.engines import ENGINES


@pytest.fixture(params=ENGINES)
def each_engine(request):
    """Run the test with ``minicnn.engine(name)`` for each engine name."""
    with minicnn.engine(request.param):
        yield request.param
