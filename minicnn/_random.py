"""The library's default random generator, so that one ``manual_seed`` call makes a run repeatable.

Weight initialisation, dropout masks, data shuffling and augmentation all draw from
``get_rng()`` unless they are handed a ``numpy.random.Generator`` of their own.
"""

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the default generator: initialisation, dropout masks and shuffling become repeatable.

    Returns the new generator (as ``torch.manual_seed`` returns its generator).
    """
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: expected a non-negative integer seed, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    return _rng


def get_rng() -> np.random.Generator:
    """The current default generator (the one ``manual_seed`` last created)."""
    return _rng


def get_rng_state() -> dict:
    """A copy of the default generator's state, for checkpoints (see ``set_rng_state``)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``: the next draws repeat exactly."""
    global _rng
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    _rng = np.random.Generator(bit_generator)
