"""Batch normalisation layers: ``BatchNorm1d`` (after Linear) and ``BatchNorm2d`` (after Conv2d).

The math is in ``minicnn.functional.normalization``. The layer owns γ (``weight``), β (``bias``)
and the running statistics, with PyTorch's names, so the state dict of a ``BatchNorm2d`` has
exactly PyTorch's keys: ``weight, bias, running_mean, running_var, num_batches_tracked``.
"""

from numbers import Real

import numpy as np

from .. import engines
from .._grad_mode import is_grad_enabled
from .._validation import check_dim, check_dtype_matches, check_float_array, check_positive_int
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ only in the input ranks they accept.

    Args:
        num_features: C, the number of channels (features) of the input, axis 1.
        eps: added to the variance before the square root, for stability.
        momentum: weight of the newest batch in the running statistics,
            ``running = (1 − momentum)·running + momentum·batch``; None gives the cumulative
            average over every batch so far (weight ``1/num_batches_tracked``), as PyTorch.
        affine: learn γ (``weight``, ones) and β (``bias``, zeros).
        track_running_stats: keep ``running_mean`` (zeros), ``running_var`` (ones) and
            ``num_batches_tracked`` for evaluation; without them the batch's statistics are
            used in evaluation mode too.

    Modes: ``train()`` normalises with the batch's mean and biased variance and updates the
    running statistics (with the unbiased variance); ``eval()`` normalises with the running
    statistics, so the output of a sample does not depend on the rest of its batch.

    Flags changed after construction act as in PyTorch, which decides by the flags *and* by
    which arrays exist: batch statistics are used when training or when ``running_mean`` is
    None; the running statistics are updated only when training with
    ``track_running_stats=True`` and existing buffers; ``num_batches_tracked`` grows only if it
    is not None; γ and β are used if ``weight`` and ``bias`` exist (not by ``affine``). So
    ``track_running_stats=False`` set on a layer built with buffers stops their updates in
    train() but eval() still normalises with them; set True on one built without, it changes
    nothing (there is nothing to track into). The state dict holds what exists: ``weight,
    bias`` with ``affine``, ``running_mean, running_var, num_batches_tracked`` with
    ``track_running_stats`` at construction.
    """

    _ranks: tuple[int, ...] = ()   # input ranks the subclass accepts
    _layouts: tuple[str, ...] = ()  # their layouts, with C standing for num_features
    _what: str = ""                 # what error messages call axis 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        where = type(self).__name__
        num_features = check_positive_int(where, "num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, Real) or not eps > 0:
            raise ValueError(f"{where}: expected eps > 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{where}: expected momentum in [0, 1] or None, got {momentum!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean back to 0, running variance to 1, batch count to 0 (those that exist)."""
        for name, value in (("running_mean", 0), ("running_var", 1), ("num_batches_tracked", 0)):
            if getattr(self, name) is not None:
                getattr(self, name).fill(value)

    def _dtype(self):
        """The dtype the input must have: that of γ (or β), else of the running statistics,
        else any."""
        for array in (self.weight, self.bias, self.running_mean):
            if array is not None:
                return array.dtype
        return None

    # What runs is decided as in PyTorch's _BatchNorm.forward, by the flags *and* by which
    # arrays exist, so that changing ``training``, ``track_running_stats`` or a buffer after
    # construction behaves as it does there.
    def _uses_batch_stats(self) -> bool:
        """Batch statistics when training, or when there are no running statistics to use."""
        return self.training or self.running_mean is None

    def _statistics_given(self):
        """The running statistics handed to the operation: in eval() whatever exists (even with
        track_running_stats switched off later); in train() only if they are tracked."""
        if self.training and not self.track_running_stats:
            return None, None
        return self.running_mean, self.running_var

    def _momentum_for_this_step(self) -> float:
        """Counts the batch and returns the weight of the batch in the running statistics.

        As PyTorch: the count grows when training with tracked statistics and a count exists;
        ``momentum=None`` weighs batch k by 1/k (cumulative average), and by 0 without a count.
        """
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        return factor

    def _check_input(self, x) -> None:
        where = self._name()
        check_float_array(where, x)
        layouts = [layout.replace("C", str(self.num_features)) for layout in self._layouts]
        if x.ndim not in self._ranks:
            expected = " or ".join(f"{rank} {layout}"
                                   for rank, layout in zip(self._ranks, layouts, strict=True))
            raise ValueError(f"{where}: expected input of rank {expected}, got shape {x.shape}")
        layout = layouts[self._ranks.index(x.ndim)]
        check_dim(where, x, 1, self.num_features, self._what, layout)
        if self._dtype() is not None:
            check_dtype_matches(where, x, self._dtype())
        self._check_values_per_channel(x)

    def _check_values_per_channel(self, x) -> None:
        """Batch statistics need two values of each channel at least."""
        where = self._name()
        if self._uses_batch_stats() and x.size // self.num_features < 2:
            when = ("when training" if self.training else
                    "in eval() without running statistics (as with track_running_stats=False), "
                    "which uses batch statistics")
            raise ValueError(f"{where}: expected more than 1 value per channel {when} (the "
                             f"variance of a single value is 0), got input of shape {x.shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        momentum = self._momentum_for_this_step()  # only used when running statistics update
        running_mean, running_var = self._statistics_given()
        gamma = None if self.weight is None else self.weight.data
        beta = None if self.bias is None else self.bias.data
        engine = engines.get_engine()
        F = engines.functions(engine)
        if not self._uses_batch_stats() and not is_grad_enabled():  # evaluation, no backward
            self._save_for_backward(None)
            return F.batch_norm_inference(x, gamma, beta, running_mean, running_var,
                                          eps=self.eps)
        out, cache = F.batch_norm_forward(x, gamma, beta, running_mean, running_var,
                                          training=self.training, momentum=momentum,
                                          eps=self.eps)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)  # checks dout's shape and dtype
        return self._backward_by(engines.functions(engine).batch_norm_backward, dout, cache)

    def _backward_by(self, backward_function, dout, cache) -> np.ndarray:
        """dx by ``backward_function`` (batch norm's, or SyncBatchNorm's), with dγ and dβ
        added to the parameters' gradients where they are needed."""
        dx, dgamma, dbeta = backward_function(
            dout, cache, need_dgamma=self.weight is not None and self.weight.requires_grad,
            need_dbeta=self.bias is not None and self.bias.requires_grad)
        if dgamma is not None:
            self.weight.grad += dgamma
        if dbeta is not None:
            self.bias.grad += dbeta
        return dx

    def _name(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features (after a Linear layer) or (N, C, L) sequences.

    Statistics per feature c, over the batch (and the L positions). See ``_BatchNorm`` for the
    arguments and modes, and ``functional.batch_norm_forward`` for the formulas.
    """

    _ranks = (2, 3)
    _layouts = ("(N, C)", "(N, C, L)")
    _what = "features"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) feature maps (after a Conv2d layer).

    Statistics per channel c, over the batch and every position (m = N·H·W values). See
    ``_BatchNorm`` for the arguments and modes, and ``functional.batch_norm_forward`` for the
    formulas.
    """

    _ranks = (4,)
    _layouts = ("(N, C, H, W)",)
    _what = "channels"
