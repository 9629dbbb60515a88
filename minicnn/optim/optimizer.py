"""``Optimizer``: the base of SGD and Adam; parameter groups, per-parameter state, state dicts.

An optimizer updates parameters in place from the gradients that ``model.backward`` added into
``p.grad``::

    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    opt.zero_grad()                      # p.grad = 0, as gradients accumulate with +=
    model.backward(loss_fn.backward())   # p.grad = dL/dp
    opt.step()                           # p.data updated from p.grad

Parameter groups (PyTorch's layout). ``opt.param_groups`` is a list of dicts, each holding
``'params'`` (a list of ``Parameter``) and the hyperparameters for those parameters. Passing dicts
instead of parameters gives each group its own settings, the rest coming from the constructor's
arguments; e.g. fine-tuning a pretrained body slowly and a new head fast::

    optim.SGD([{"params": body.parameters()},
               {"params": head.parameters(), "lr": 0.1}], lr=0.001, momentum=0.9)

A learning-rate schedule changes ``group['lr']`` between epochs.

State. ``opt.state[p]`` is a dict of what the method remembers about ``p`` between steps (SGD's
momentum buffer; Adam's step count and moment estimates). Frozen parameters
(``p.requires_grad == False``) are skipped entirely: they are neither updated nor given state.
"""

import copy
import math
from collections.abc import Mapping
from numbers import Real

import numpy as np

from ..nn.parameter import Parameter

__all__ = ["Optimizer", "check_hyperparameter"]

# Keys a parameter group may hold besides 'params' and the optimizer's hyperparameters:
# 'initial_lr' is written by learning-rate schedulers, 'name' is a label some users add.
_BOOKKEEPING_KEYS = ("initial_lr", "name")


def check_hyperparameter(where: str, name: str, value, low: float, high: float = math.inf, *,
                         low_open: bool = False, high_open: bool = True) -> float:
    """``float(value)`` if it is a real number in the range, else a ValueError saying which range.

    ``low_open``/``high_open`` exclude the end points: ``low=0, low_open=True`` means ``> 0``.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where}: expected {name} as a number, got {value!r}")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):  # also catches NaN, which fails every comparison
        if math.isinf(high):
            wanted = f"{name} {'>' if low_open else '>='} {low}"
        else:
            wanted = (f"{name} in {'(' if low_open else '['}{low}, "
                      f"{high}{')' if high_open else ']'}")
        raise ValueError(f"{where}: expected {wanted}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses implement ``_update``.

    Args:
        params: an iterable of ``Parameter`` (e.g. ``model.parameters()``), or of dicts
            ``{'params': [...], 'lr': ..., ...}``, one per parameter group.
        defaults: every hyperparameter with its value for groups that do not set it.

    A subclass implements ``_check_group(group, where)``, which validates a group's
    hyperparameters (and may normalise them, e.g. to float), and ``_update(param, group, state)``,
    which updates one parameter in place.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[Parameter, dict] = {}
        self.param_groups: list[dict] = []
        name = type(self).__name__
        if isinstance(params, (Parameter, np.ndarray, Mapping)):
            raise TypeError(f"{name}: expected an iterable of Parameters or of dicts, got a "
                            f"single {type(params).__name__}; pass model.parameters() or a list")
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"{name}: expected an iterable of Parameters or of dicts, "
                            f"got {type(params).__name__}") from None
        if not items:
            raise ValueError(f"{name}: got an empty parameter list")
        if all(isinstance(item, Mapping) for item in items):
            for item in items:
                self.add_param_group(item)
        else:
            self._add_group({"params": items}, where=name)

    # -- parameter groups -------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping) -> None:
        """Add a group ``{'params': [...], hyperparameter: value, ...}``, e.g. a new layer to
        train after unfreezing it; missing hyperparameters take the constructor's values."""
        where = f"{type(self).__name__} (parameter group {len(self.param_groups)})"
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(f"{where}: expected a dict with a 'params' entry, got {param_group!r}")
        self._add_group(dict(param_group), where)

    def _add_group(self, group: dict, where: str) -> None:
        params = group["params"]
        group["params"] = [params] if isinstance(params, Parameter) else list(params)
        for param in group["params"]:
            if not isinstance(param, Parameter):
                raise TypeError(f"{where}: expected Parameters, got {type(param).__name__} "
                                f"(pass model.parameters(), not the model or arrays)")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError(f"{where}: a parameter appears more than once in the group")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in group["params"]):
            raise ValueError(f"{where}: some parameters are already in another parameter group")
        unknown = sorted(set(group) - {"params", *self.defaults, *_BOOKKEEPING_KEYS})
        if unknown:
            raise ValueError(f"{where}: unknown hyperparameter(s) {unknown}; expected some of "
                             f"{sorted(self.defaults)}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group, where)
        self.param_groups.append(group)

    def _check_group(self, group: dict, where: str) -> None:
        """Validate (and normalise) the hyperparameters of one group; subclasses override."""

    # -- the update -------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Reset every parameter's gradient to zero (gradients accumulate with ``+=``)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.zero_grad()

    def step(self) -> None:
        """Update every trainable parameter once from its ``.grad``; frozen ones are skipped."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.requires_grad:
                    self._update(param, group, self.state.setdefault(param, {}))

    def _update(self, param: Parameter, group: dict, state: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement _update()")

    # -- state dicts --------------------------------------------------------------------------
    def _indexed_params(self) -> list[Parameter]:
        """All parameters, group by group; a parameter's position here is its state-dict index."""
        return [param for group in self.param_groups for param in group["params"]]

    def state_dict(self) -> dict:
        """``{'state': {index: {name: array or number}}, 'param_groups': [{..., 'params':
        [indices]}]}``, PyTorch's layout: parameters are numbered 0, 1, ... across the groups in
        order. Arrays are copies, so later steps do not change a saved state dict."""
        index = {id(param): i for i, param in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            saved = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            saved["params"] = [index[id(param)] for param in group["params"]]
            groups.append(saved)
        state = {
            index[id(param)]: copy.deepcopy(self.state[param])
            for param in self._indexed_params() if self.state.get(param)
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore hyperparameters and state saved by ``state_dict()`` of a like optimizer.

        The groups must match in number and size, and state arrays in shape; arrays are cast to
        each parameter's dtype. Nothing changes unless every check passes.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not (isinstance(state_dict, Mapping) and {"state", "param_groups"} <= set(state_dict)):
            raise TypeError(f"{where}: expected a dict with 'state' and 'param_groups' (from "
                            f"optimizer.state_dict()), got {type(state_dict).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{where}: expected {len(self.param_groups)} parameter group(s), "
                             f"got {len(saved_groups)}")
        param_at = {}  # saved index -> this optimizer's Parameter
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{where}: parameter group {i}: expected "
                                 f"{len(group['params'])} parameters, got {len(saved['params'])}")
            missing = sorted(key for key in self.defaults if key not in saved)
            if missing:
                raise ValueError(f"{where}: parameter group {i}: expected the hyperparameters "
                                 f"{sorted(self.defaults)}, missing {missing} (is this the state "
                                 f"of another kind of optimizer?)")
            param_at.update(zip(saved["params"], group["params"], strict=True))
        state = {}
        for index, entries in state_dict["state"].items():
            if index not in param_at:
                raise ValueError(f"{where}: state for parameter {index}, which no group lists")
            param = param_at[index]
            state[param] = {name: _restore(where, index, name, value, param)
                            for name, value in entries.items()}
        # every check passed: commit
        self.state = state
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            group.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            count = len(group["params"])
            lines.append(f"  group {i}: {count} parameter{'' if count == 1 else 's'}, {settings}")
        return "\n".join(lines) + "\n)"


def _restore(where: str, index, name: str, value, param: Parameter):
    """A copy of one saved state entry, arrays checked against and cast to the parameter."""
    if not isinstance(value, np.ndarray):
        return copy.deepcopy(value)  # a number, e.g. Adam's step count
    if value.shape != param.shape:
        raise ValueError(f"{where}: state {name!r} of parameter {index}: expected shape "
                         f"{param.shape}, got {value.shape}")
    return value.astype(param.dtype, copy=True)
