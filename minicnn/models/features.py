"""Features from any named layer of a trained network: the first scenario of transfer learning.

A trained CNN used as a fixed feature extractor: the output of an inner layer (the 84 units of
LeNet-5's ``classifier.3``, the 512 of ResNet-18's ``avgpool``) becomes the input of a new,
simple classifier — a ``Linear`` layer trained with ``CrossEntropyLoss`` (logistic regression)
or with ``HingeLoss(multiclass=True)`` (a linear SVM)::

    feats = models.extract_features(model, train_loader, layer="classifier.3")
    svm = nn.Linear(feats.features.shape[1], 10)
    minicnn.fit(svm, nn.HingeLoss(multiclass=True), optim.SGD(svm.parameters(), lr=0.01),
                data.DataLoader(data.ArrayDataset(*feats), batch_size=64, shuffle=True), epochs=5)

Layer names are those of ``model.named_modules()``, the state-dict prefixes
(``"features.10"`` holds ``"features.10.weight"``).
"""

from typing import NamedTuple

import numpy as np

from .. import nn
from .._grad_mode import no_grad
from ..summary import forward_hooks

__all__ = ["Features", "extract_features"]


class Features(NamedTuple):
    """What ``extract_features`` returns: the features, and the targets when a loader gave them."""

    features: np.ndarray
    targets: "np.ndarray | None"


def _named_layer(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if not isinstance(layer, str) or layer not in modules or layer == "":
        names = ", ".join(repr(name) for name in modules if name)
        raise ValueError(f"extract_features: expected layer as the name of one of "
                         f"{type(model).__name__}'s layers ({names}), got {layer!r}")
    return modules[layer]


def _layer_output(model: nn.Module, layer: str, module: nn.Module, x: np.ndarray) -> np.ndarray:
    """Run the model on ``x`` with ``module``'s forward wrapped to keep its output (the
    technique of ``minicnn.summary``)."""
    outputs = []
    with forward_hooks([(layer, module)], lambda _, __, out: outputs.append(out)):
        model(x)
    if not outputs:
        raise ValueError(f"extract_features: the forward pass of {type(model).__name__} did not "
                         f"use the layer {layer!r}")
    return outputs[0]


def _batches(data, batch_size: int):
    """(x, y) batches of a loader, or (x, None) slices of one array."""
    if isinstance(data, np.ndarray):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size], None
        return
    for batch in data:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"extract_features: expected the loader to give (inputs, targets) "
                             f"pairs, got {type(batch).__name__}")
        yield batch


def extract_features(model: nn.Module, data, layer: str, batch_size: int = 256,
                     flatten: bool = True) -> Features:
    """The output of ``model``'s layer named ``layer`` for every input, in eval mode.

    ``data`` is an array of inputs (N, C, H, W) (taken ``batch_size`` at a time) or a loader of
    (inputs, targets) batches, e.g. a ``DataLoader`` without shuffling. Returns
    ``Features(features, targets)``: the features (N, D), each sample's layer output flattened
    (``flatten=False`` keeps its shape, e.g. (N, 16, 5, 5)), and the loader's targets (N, ...),
    or None for an array. The model's training flag is restored afterwards and nothing is kept
    for a backward pass.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"extract_features: expected batch_size as a positive integer, "
                         f"got {batch_size!r}")
    module = _named_layer(model, layer)
    features, targets = [], []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for x, y in _batches(data, int(batch_size)):
                out = _layer_output(model, layer, module, x)
                features.append(out.reshape(len(out), -1) if flatten else out)
                if y is not None:
                    targets.append(np.asarray(y))
    finally:
        model.train(was_training)
    if not features:
        raise ValueError("extract_features: expected at least one input, got none")
    return Features(np.concatenate(features), np.concatenate(targets) if targets else None)
