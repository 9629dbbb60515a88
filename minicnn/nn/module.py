"""``Module``, the base of every layer, and the containers ``Sequential`` and ``Identity``.

A module owns parameters (``Parameter``), buffers (plain arrays saved in the state dict, such as
BatchNorm's running statistics) and child modules, all registered by attribute assignment in the
order they are assigned, which is the order of ``parameters()`` and of the state-dict keys.

The contract every layer follows::

    out = layer.forward(x)          # also layer(x); stores what backward needs
    dx = layer.backward(dout)       # dL/dx from dL/dout; *adds* dL/dp into p.grad

A layer's forward ends with ``self._save_for_backward(cache, out, inputs={"input": x})`` and its
backward starts with ``cache = self._pop_cache(dout)``, which checks ``dout`` (same shape and
dtype as ``out``) before any work, so a wrong gradient is an error that names the layer, not a
broadcasting error.

In-place changes. The cache refers to arrays, it does not copy them where it need not. So an
array the cache shares with the caller (the input, the output, a weight) must not change
between forward and backward: ``x *= 0``, or ``optimizer.step()`` before ``backward()``, would
give the gradient of a forward pass that never happened. Backward checks (by a fingerprint
taken at forward, ``_kept_arrays.py``) and raises a RuntimeError naming the layer and the
array instead. Arrays the layer copied (a padded input, a ReLU mask) may change freely.

Threads. A module keeps one cache, the last training forward's, for one backward. So:

* inference (``minicnn.no_grad()``, which ``predict`` and ``evaluate`` use) keeps nothing and
  leaves that cache alone: any number of threads may run inference on a model, also while
  another thread trains it (they see whatever weights are there at that moment);
* training (a forward with gradients, then its backward) is one thread's at a time: a
  forward or backward in a second thread while the first's forward awaits its backward is a
  RuntimeError naming the layer, never a silently mixed gradient. To train in parallel, give
  each thread its own copy of the model (``copy.deepcopy``).
"""

import threading
from collections import OrderedDict, namedtuple
from collections.abc import Iterator

import numpy as np

from .. import engines
from .._grad_mode import is_grad_enabled
from .._validation import FLOAT_DTYPES, check_gradient
from ._fold import run_in_order
from ._kept_arrays import check_unchanged, fingerprint_function, keep
from .parameter import Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

_NOT_GIVEN = object()  # _pop_cache() called without a gradient: nothing to check


class Module:
    """Base class of layers and models.

    Subclasses implement ``forward(x)`` and ``backward(dout)``; the rest (parameter traversal,
    state dicts, train/eval, dtype conversion, repr) is inherited.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)

    # -- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, Parameter):
            target = self._parameters
        elif isinstance(value, Module):
            target = self._modules
        elif name in self.__dict__.get("_buffer_names", ()) and value is not None:
            target = self._buffers
        else:
            target = None
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not target:
                registry.pop(name, None)
        if target is not None:
            target[name] = value  # an existing key keeps its place, so key order is stable
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """Register ``array`` as state that is saved and loaded but not learned (running_mean).

        ``None`` records an absent buffer, as PyTorch: not in the state dict, but assigning an
        array to the name later makes it a buffer again.
        """
        if "_buffer_names" not in self.__dict__:
            object.__setattr__(self, "_buffer_names", set())
        self._buffer_names.add(name)
        setattr(self, name, None if array is None else np.asarray(array))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name``; ``None`` records an absent one (bias=False)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module") -> None:
        """Register a child module under ``name`` (used by containers with numbered children)."""
        setattr(self, name, module)

    # -- the layer contract -----------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def backward_params(self, dout) -> None:
        """The backward pass of a training step: every parameter's gradient, no input gradient.

        Adds into each ``p.grad`` exactly what ``backward(dout)`` adds, and returns None: a
        training step never uses ``dL/dx`` of the network's input (PyTorch does not compute
        it either, because the input tensor does not require a gradient). Layers whose input
        gradient costs real work skip it here (``Conv2d``, ``Linear``; ``Sequential`` asks this
        of its first layer only); every other module runs its ``backward`` and drops the
        result. Use ``backward`` when you want ``dL/dx`` (saliency maps, gradient checks).
        """
        self.backward(dout)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _save_for_backward(self, cache, out=None, inputs: dict | None = None) -> None:
        """Keep ``cache`` for the backward pass, unless inside ``minicnn.no_grad()`` (then the
        cache of an earlier training forward stays as it was).

        ``out``, the forward's output, is not kept; only its shape and dtype are, so that
        ``_pop_cache(dout)`` can check the upstream gradient against them. ``inputs``
        ({"input": x}, a loss's {"input": ..., "target": ...}) names the forward's arguments:
        those of them, of ``out`` and of this module's parameters and buffers that the cache
        refers to are fingerprinted, so that backward can refuse to run if one was changed in
        place meanwhile (``_kept_arrays.py``). The cache and these records are stored together,
        so whatever saves and restores one (``summary``) keeps all.
        """
        if not is_grad_enabled():
            return  # inference keeps nothing, and leaves a training forward's cache alone
        self._check_thread("forward")
        # Anything but an array (None, or a custom container's tuple) records nothing to check.
        expected = (out.shape, out.dtype) if isinstance(out, np.ndarray) else None
        kept = keep(cache, inputs, out, self._parameters, self._buffers,
                    fingerprint_function(engines.get_engine()))
        object.__setattr__(self, "_cache", (cache, expected, threading.get_ident(), kept))

    def _check_thread(self, what: str) -> None:
        """RuntimeError if another live thread's forward awaits its backward (see the module
        docstring): one model trained from two threads at once would mix their caches."""
        if self._cache is None:
            return
        owner = self._cache[2]
        if owner != threading.get_ident() and owner in {t.ident for t in threading.enumerate()}:
            raise RuntimeError(
                f"{self._name()}: {what}() in one thread while a forward() of another thread "
                f"awaits its backward(); a model is trained by one thread at a time (inference "
                f"under minicnn.no_grad() may run in any number of threads; to train in "
                f"parallel, give each thread its own copy of the model)")

    def _pop_cache(self, dout=_NOT_GIVEN):
        """The cache of the last forward pass; freed here, as backward uses it exactly once.

        Given ``dout`` (and a forward that passed its ``out``), checks first that the gradient
        is an ndarray of that output's shape and dtype: a TypeError or ValueError naming this
        layer, and the cache is kept for a corrected call. Shapes and dtypes only, O(1). Then
        that no array the cache refers to was changed in place since forward: a RuntimeError
        naming the layer and the array.
        """
        if self._cache is None:
            raise RuntimeError(
                f"{self._name()}: backward() needs a forward() first (forward passes under "
                f"minicnn.no_grad() keep nothing, and each forward serves one backward)")
        self._check_thread("backward")
        cache, expected, _, kept = self._cache
        if expected is not None and dout is not _NOT_GIVEN:
            check_gradient(self._name(), dout, *expected)
        object.__setattr__(self, "_cache", None)
        check_unchanged(self._name(), kept)  # the cache is spent either way: forward again
        return cache

    def _name(self) -> str:
        """How error messages name this layer: ``Conv2d(3, 16)``; override for a short form."""
        return type(self).__name__

    # -- traversal ---------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every descendant, depth first, with dotted names ('' for self)."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its state-dict name, e.g. ``("features.0.weight", p)``."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if id(param) not in seen:  # a shared parameter is listed once
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules(prefix):
            for name, buf in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buf

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many scalars the parameters hold (only the unfrozen ones if ``trainable_only``)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, BatchNorm uses batch statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout is the identity, BatchNorm uses running statistics)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to zero."""
        for param in self.parameters():
            param.zero_grad()

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (``False``) or unfreeze every parameter of this module; returns self."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def astype(self, dtype) -> "Module":
        """Convert every floating parameter, gradient and buffer to ``dtype``; returns self.

        ``model.astype(np.float64)`` is how gradient checks run a float32 model in float64.
        """
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self._name()}.astype: expected float32 or float64, got {dtype}")
        for module in self.modules():
            for param in module._parameters.values():
                param.astype(dtype)
            for name, buf in list(module._buffers.items()):
                if buf.dtype in FLOAT_DTYPES:
                    setattr(module, name, buf.astype(dtype))
            object.__setattr__(module, "_cache", None)
        return self

    # -- state dicts ------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters then buffers of each module, with PyTorch's dotted keys; arrays are copies."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            dotted = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                state[dotted + name] = param.data.copy()
            for name, buf in module._buffers.items():
                state[dotted + name] = np.array(buf, copy=True)
        return state

    def _state_targets(self):
        """Every state-dict key with (owning module, attribute name, is_parameter)."""
        targets = OrderedDict()
        for module_name, module in self.named_modules():
            dotted = f"{module_name}." if module_name else ""
            for name in module._parameters:
                targets[dotted + name] = (module, name, True)
            for name in module._buffers:
                targets[dotted + name] = (module, name, False)
        return targets

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Values are cast to each parameter's dtype. With ``strict=True`` (the default) the keys must
        match exactly; in every case the shapes must match. Nothing is changed unless every check
        passes. Returns ``(missing_keys, unexpected_keys)``, as PyTorch does.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"{self._name()}.load_state_dict: expected a mapping of names to "
                            f"arrays, got {type(state_dict).__name__}")
        targets = self._state_targets()
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        problems = []
        for key, (module, name, _) in targets.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            current = getattr(module, name)
            current_shape = current.data.shape if isinstance(current, Parameter) else current.shape
            if value.shape != current_shape:
                problems.append(f"{key}: expected shape {current_shape}, got {value.shape}")
            elif not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
                problems.append(f"{key}: expected a numeric array, got dtype {value.dtype}")
        if strict:
            problems += [f"missing key: {key}" for key in missing]
            problems += [f"unexpected key: {key}" for key in unexpected]
        if problems:
            raise ValueError(f"{self._name()}.load_state_dict: the state dict does not fit "
                             f"({len(problems)} problem(s)):\n  " + "\n  ".join(problems))
        for key, (module, name, is_param) in targets.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            if is_param:
                param = getattr(module, name)
                param.data = value.astype(param.data.dtype, copy=True)
            else:
                current = getattr(module, name)
                setattr(module, name, value.astype(current.dtype, copy=True))
        return IncompatibleKeys(missing, unexpected)

    # -- repr -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown in the repr, e.g. ``1, 6, kernel_size=(5, 5)``."""
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; ``backward`` runs them in reverse.

    ``Sequential(m0, m1, ...)`` names the children ``"0"``, ``"1"``, ...;
    ``Sequential(OrderedDict(conv=..., relu=...))`` keeps the given names.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            for name, module in modules[0].items():
                self._add(str(name), module)
        else:
            for index, module in enumerate(modules):
                self._add(str(index), module)

    def _add(self, name: str, module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: expected Module instances, got "
                            f"{type(module).__name__} for child {name!r}")
        self.add_module(name, module)

    def append(self, module: Module) -> "Sequential":
        self._add(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(modules[index]))
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential: index {index} out of range for {len(modules)} modules")
        return modules[index][1]

    def __setitem__(self, index: int, module: Module) -> None:
        name = list(self._modules)[index]
        self._add(name, module)

    def forward(self, x):
        # Each module in turn; in fast-engine inference Conv2d → BatchNorm2d (→ ReLU) runs as
        # one convolution (nn/_fold.py).
        x = run_in_order(self._modules.values(), x)
        self._save_for_backward(None, x)  # nothing to keep but the output's shape and dtype
        return x

    def backward(self, dout):
        self._pop_cache(dout)  # a wrong gradient is reported as the model's, not its last layer's
        for module in reversed(self._modules.values()):
            dout = module.backward(dout)
        return dout

    def backward_params(self, dout) -> None:
        """``backward`` without the input gradient: the first layer is asked for none.

        A subclass that overrides ``backward`` (and not this) gets its ``backward`` run, so
        that ``fit`` never skips what it added.
        """
        if type(self).backward is not Sequential.backward:
            self.backward(dout)
            return
        self._pop_cache(dout)
        modules = list(self._modules.values())
        for module in reversed(modules[1:]):
            dout = module.backward(dout)
        if modules:
            modules[0].backward_params(dout)


class Identity(Module):
    """Returns its input unchanged; a placeholder, e.g. for a removed classifier head."""

    def forward(self, x):
        self._save_for_backward(None, x)
        return x

    def backward(self, dout):
        self._pop_cache(dout)
        return dout
