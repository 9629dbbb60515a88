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


# The bit generators a saved state may name. The name is looked up here, never in np.random
# itself: a crafted checkpoint naming "seed" or "default_rng" would otherwise make us call it.
BIT_GENERATORS = {cls.__name__: cls for cls in (
    np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)}


def generator_from_state(state: dict) -> np.random.Generator:
    """A new Generator in ``state`` (from ``get_rng_state``); the default one is not touched.

    Raises ValueError if ``state`` names no allowed bit generator or does not fit it.
    """
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(name, str) or name not in BIT_GENERATORS:
        got = repr(name) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"set_rng_state: expected a state dict whose 'bit_generator' is one of "
                         f"{', '.join(BIT_GENERATORS)}, got {got}")
    bit_generator = BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"set_rng_state: not a valid {name} state "
                         f"({type(error).__name__}: {error})") from None
    return np.random.Generator(bit_generator)


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``: the next draws repeat exactly.

    A state that is not valid raises ValueError and leaves the default generator as it was.
    """
    global _rng
    _rng = generator_from_state(state)
