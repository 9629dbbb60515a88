"""``F``: the functional operations of whichever engine is active (``conftest.each_engine``).

``F.conv2d_forward`` is ``minicnn.functional.conv2d_forward`` under the reference engine and
``minicnn.fast.ops.conv2d_forward`` under the fast one, looked up at each call, so that a test
written once checks both. Other names (``F.conv.pad2d``, helpers) come from the reference.
"""

from minicnn import engines


class _ActiveEngine:
    def __getattr__(self, name):
        return getattr(engines.functions(), name)


F = _ActiveEngine()
