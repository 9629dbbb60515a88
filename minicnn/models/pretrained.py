"""Small pretrained weights shipped inside the package, checksum-verified when loaded.

Each set was written by one of the project's own examples, run with its defaults on this
project's machine, and is re-made by running it again (the recipe field names the command)::

    model = models.lenet5(weights="mnist")                 # 61,706 parameters, 0.24 MB
    model = models.resnet20(weights="fashion-mnist")       # 269,434 parameters, 1.1 MB
    info = models.pretrained_weights("lenet5", "mnist")    # test accuracy, normalisation, recipe

The inputs must be normalised as in training: ``data.Normalize(info.mean, info.std)`` on images
in [0, 1]. A file whose SHA-256 differs from the one recorded here (a damaged install, a file
edited by hand) is refused with an error naming it, before any weight is loaded.
"""

import hashlib
from pathlib import Path
from typing import NamedTuple

__all__ = ["PretrainedWeights", "available_weights", "load_pretrained", "pretrained_weights"]

WEIGHTS_DIR = Path(__file__).with_name("weights")


class PretrainedWeights(NamedTuple):
    """One shipped set of weights: what it is, how it was made, how well it does."""

    arch: str
    name: str
    file: str
    sha256: str
    builder_kwargs: dict  # the builder's arguments the weights fit
    mean: float  # the data.Normalize the inputs need (images in [0, 1])
    std: float
    test_accuracy: float  # on the dataset's 10,000 test images
    recipe: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


_REGISTRY = {
    ("lenet5", "mnist"): PretrainedWeights(
        arch="lenet5", name="mnist", file="lenet5_mnist.npz",
        sha256="47efa02b6bbf14da14e8fd48cd0ec11dc1b50031815bd9dc5f88f4eb8ecff97e",
        builder_kwargs={"num_classes": 10, "in_channels": 1, "input_size": 28,
                        "activation": "relu", "pooling": "max"},
        mean=0.1307, std=0.3081, test_accuracy=0.9929,
        recipe="python examples/train_mnist_lenet.py  (defaults: 8 epochs, seed 0)"),
    ("resnet20", "fashion-mnist"): PretrainedWeights(
        arch="resnet20", name="fashion-mnist", file="resnet20_fashion_mnist.npz",
        sha256="ec60595418466b09a79f0292182ddc70ab1f094f5eed6776e9c0f007cfc82f93",
        builder_kwargs={"num_classes": 10, "in_channels": 1, "input_size": 28},
        mean=0.2860, std=0.3530, test_accuracy=0.9268,
        recipe="python examples/train_fashion_resnet.py  (defaults: 8 epochs, seed 0)"),
}


def available_weights(arch: str | None = None) -> list[str]:
    """The names of the shipped weights, ``"arch/name"``, of one builder or of all."""
    return [f"{a}/{n}" for a, n in _REGISTRY if arch is None or a == arch]


def pretrained_weights(arch: str, name: str) -> PretrainedWeights:
    """The record of the weights ``name`` for the builder ``arch``; a clear error if none."""
    try:
        return _REGISTRY[(arch, name)]
    except (KeyError, TypeError):
        names = [n for a, n in _REGISTRY if a == arch]
        choices = f"one of {names} or None" if names else "None (no weights ship for it)"
        raise ValueError(f"{arch}: expected weights as {choices}, got {name!r}") from None


def builder_kwargs(info: PretrainedWeights, given: dict, defaults: dict) -> dict:
    """The builder's arguments for the weights: those left at their default take the weights'
    values (``resnet20(weights="fashion-mnist")`` is the 1-channel 28×28 net); one given with
    another value than the weights fit is an error naming it."""
    kwargs = dict(given)
    for key, value in info.builder_kwargs.items():
        if given[key] != value and given[key] != defaults[key]:
            raise ValueError(f"{info.arch}(weights={info.name!r}): the weights fit "
                             f"{key}={value!r}, got {key}={given[key]!r}")
        kwargs[key] = value
    return kwargs


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_pretrained(model, arch: str, name: str):
    """Fill ``model`` with the shipped weights ``arch/name`` (strict), after checking the file."""
    info = pretrained_weights(arch, name)
    if not info.path.is_file():
        raise FileNotFoundError(f"{arch}(weights={name!r}): the weights file {info.path} is "
                                f"missing from the installed package; reinstall minicnn")
    actual = _sha256(info.path)
    if actual != info.sha256:
        raise ValueError(f"{arch}(weights={name!r}): {info.path} has SHA-256 {actual}, expected "
                         f"{info.sha256}; the file is damaged or was changed, reinstall minicnn")
    from .. import io  # imported here: reading files is not needed to build models

    model.load_state_dict(io.load(info.path), strict=True)
    model.pretrained = info
    return model
