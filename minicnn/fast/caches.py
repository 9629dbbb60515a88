"""The fast engine's caches are its own records: a cache works only with the engine that made it.

The reference's caches are plain tuples, the fast engine's are classes of its own (``ConvCache``,
``MaxPoolCache``, ...), which a reference backward cannot unpack. So handing a cache to the
other engine's backward is an error, never a silently wrong gradient (the layers always call
the backward of the engine that ran their forward).
"""

__all__ = ["check_cache"]


def check_cache(where: str, cache, expected: type) -> None:
    """TypeError unless ``cache`` is the fast engine's ``expected`` record."""
    if not isinstance(cache, expected):
        raise TypeError(f"{where} (fast engine): expected the cache of the fast engine's forward "
                        f"({expected.__name__}), got {type(cache).__name__}; a cache works only "
                        f"with the engine that made it")
