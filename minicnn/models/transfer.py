"""Transfer learning: reuse a trained network's features for a new task.

The usual recipe::

    model = models.resnet18(num_classes=1000)
    report = models.load_backbone(model, "resnet18_imagenet.npz")   # all but the head
    models.replace_head(model, num_classes=10)                       # a fresh fc for 10 classes
    models.freeze(model)                                             # keep the features ...
    models.unfreeze(model.fc)                                        # ... and train the head
    opt = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)

Frozen parameters get no gradient and no optimizer update. BatchNorm layers keep updating their
running statistics in training mode even when frozen; call ``.eval()`` on them (after
``model.train()``) to keep those fixed too.
"""

import os
from typing import NamedTuple

import numpy as np

from .. import nn

__all__ = ["BackboneReport", "find_head", "freeze", "load_backbone", "replace_head", "unfreeze"]


def find_head(model: nn.Module) -> str:
    """The dotted name of the last Linear layer: ``"fc"`` (ResNet), ``"classifier.6"`` (VGG).

    "Last" is in registration order, which is the order of the forward pass for every builder.
    """
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names or names[-1] == "":
        raise ValueError(f"{type(model).__name__}: found no Linear layer inside it to treat as "
                         f"the classification head")
    return names[-1]


def _parent_and_attribute(model: nn.Module, dotted_name: str) -> tuple[nn.Module, str]:
    parent = model
    *path, attribute = dotted_name.split(".")
    for name in path:
        parent = parent._modules[name]
    return parent, attribute


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the last Linear layer by a fresh one with ``num_classes`` outputs; returns model.

    The new layer keeps the old one's input features, bias and dtype, gets PyTorch's default
    initialisation, is trainable, and takes the old one's place (and state-dict keys).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"replace_head: expected num_classes as a positive integer, "
                         f"got {num_classes!r}")
    name = find_head(model)
    parent, attribute = _parent_and_attribute(model, name)
    old = parent._modules[attribute]
    in_features = old.weight.shape[1]  # Linear weights are (out_features, in_features)
    head = nn.Linear(in_features, int(num_classes), bias=old.bias is not None)
    head.astype(old.weight.dtype)
    setattr(parent, attribute, head)  # an existing name keeps its place in the key order
    if isinstance(getattr(model, "config", None), dict) and "num_classes" in model.config:
        model.config["num_classes"] = int(num_classes)
    return model


def freeze(module: nn.Module) -> nn.Module:
    """Set ``requires_grad = False`` on every parameter of ``module``; returns it."""
    return module.requires_grad_(False)


def unfreeze(module: nn.Module) -> nn.Module:
    """Set ``requires_grad = True`` on every parameter of ``module``; returns it."""
    return module.requires_grad_(True)


class BackboneReport(NamedTuple):
    """What ``load_backbone`` did, key by key.

    loaded: keys copied into the model.
    excluded: keys of the state dict skipped because they belong to the head (or ``exclude``).
    mismatched: keys in both whose shapes differ, skipped.
    missing: the model's keys that received nothing: they keep their fresh initialisation.
    unexpected: keys of the state dict the model does not have.
    """

    loaded: list
    excluded: list
    mismatched: list
    missing: list
    unexpected: list


def _matches(key: str, prefixes) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)


def load_backbone(model: nn.Module, state_dict_or_path, exclude=None) -> BackboneReport:
    """Load every weight that fits, except the classification head's; returns a report.

    Args:
        model: the network to fill.
        state_dict_or_path: a state dict (mapping of names to arrays), a model, or the path of a
            file written by ``minicnn.save`` (read with ``minicnn.io.load``).
        exclude: names (module prefixes or full keys) whose entries are not loaded. ``None``
            (the default) means the head, the last Linear layer (``["fc"]`` for a ResNet,
            ``["classifier.6"]`` for VGG); ``[]`` loads everything that fits.

    Keys of the state dict that the model lacks, or whose shape differs from the model's, are
    skipped and listed, as ``load_state_dict(strict=False)`` would, rather than raising: a
    backbone trained on ImageNet loads into a model built for 10 classes.
    """
    state = _as_state_dict(state_dict_or_path)
    if exclude is None:
        exclude = [find_head(model)]
    elif isinstance(exclude, str):
        exclude = [exclude]
    # key -> shape of the model's array (state_dict() would copy every weight just to look)
    own = {key: getattr(module, name).shape
           for key, (module, name, _) in model._state_targets().items()}
    loaded, excluded, mismatched, unexpected = [], [], [], []
    to_load = {}
    for key, value in state.items():
        if _matches(key, exclude):
            excluded.append(key)
        elif key not in own:
            unexpected.append(key)
        elif np.shape(value) != own[key]:
            mismatched.append(key)
        else:
            to_load[key] = value
            loaded.append(key)
    model.load_state_dict(to_load, strict=False)
    missing = [key for key in own if key not in to_load]
    return BackboneReport(loaded, excluded, mismatched, missing, unexpected)


def _as_state_dict(source):
    if isinstance(source, nn.Module):
        return source.state_dict()
    if isinstance(source, (str, os.PathLike)):
        from .. import io  # imported here: reading files is not needed to build models

        return io.load(source)
    if hasattr(source, "items"):
        return source
    raise TypeError(f"load_backbone: expected a state dict, a model or a path, "
                    f"got {type(source).__name__}")
