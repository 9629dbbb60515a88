"""``SyncBatchNorm``: batch normalisation with the statistics of the batch of every rank.

In data-parallel training (``minicnn.distributed``) each rank normalises its shard. A
``BatchNorm2d`` uses the shard's mean and variance there; a ``SyncBatchNorm`` uses those of
the whole batch, gathered by one all-reduce in forward and one in backward
(``functional.sync_batch_norm_forward``), so that two ranks with half the batch each compute
what one process computes on all of it. PyTorch's ``torch.nn.SyncBatchNorm``: the same
arguments, state-dict keys and ``convert_sync_batchnorm``.

When it synchronises (as PyTorch): in ``train()`` mode, when MPI runs in this process
(``minicnn.distributed.is_initialized()``) and the group has more than one rank. Otherwise,
in ``eval()`` mode, on one process, or in a script that never started MPI, it is a
``BatchNorm`` and computes exactly what ``BatchNorm2d`` computes. The layer reaches MPI only
through ``minicnn.distributed``, and only when it synchronises: importing it, or using it on
one process, imports no mpi4py. (That module sits above ``nn`` in the house plan; it is
imported inside the methods that need it, so importing ``minicnn.nn`` never loads it: the one
place where a layer calls upward, and only while it runs.)
"""

import copy
from collections import namedtuple

from .. import engines
from .module import Module
from .normalization import _BatchNorm

__all__ = ["SyncBatchNorm"]

# What a synchronised forward keeps for its backward; BatchNorm's code path keeps (engine, cache).
_Synchronised = namedtuple("_Synchronised", ["engine", "cache"])


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation of (N, C), (N, C, L) or (N, C, H, W) input over all ranks' batches.

    Args: those of ``BatchNorm2d`` (``num_features, eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True``), then ``process_group``: the mpi4py communicator whose ranks
    share their statistics (None: every rank, ``COMM_WORLD``), PyTorch's argument.

    Synchronised training mode, per channel over the m_r values of each rank r and M = Σ m_r:
    μ and the biased σ² of all M values normalise every rank's shard; the running mean and the
    unbiased running variance (σ²·M/(M − 1)) are updated with them, the same on every rank.
    The backward all-reduces Σ dout and Σ dout·x̂; ``weight.grad`` and ``bias.grad`` get this
    rank's share, which ``DistributedDataParallel`` averages like every other gradient.

    Each rank's upstream gradient is taken as that of its own mean loss, weighted by its share
    of the samples, as ``DistributedDataParallel`` weighs gradients: so with uneven shards too,
    the averaged gradients equal those of one process on the whole batch. (PyTorch's DDP
    averages ranks equally and its SyncBatchNorm does the same; with equal shards the two
    agree.) A rank may hold a single value per channel if the ranks together hold two or more.

    Every rank must run forward and backward equally often: each call waits for all ranks.
    """

    _ranks = (2, 3, 4)
    _layouts = ("(N, C)", "(N, C, L)", "(N, C, H, W)")
    _what = "channels"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats)
        if process_group is not None and not all(hasattr(process_group, method)
                                                 for method in ("Get_size", "Allreduce")):
            raise TypeError(f"SyncBatchNorm: expected process_group as an mpi4py communicator "
                            f"or None, got {process_group!r}")
        self.process_group = process_group  # an mpi4py communicator or None; not state

    def __deepcopy__(self, memo):
        # A communicator is a handle to share, not state to copy (mpi4py cannot copy one):
        # the copy synchronises over the same group. Everything else is copied as usual.
        memo[id(self.process_group)] = self.process_group
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            object.__setattr__(clone, name, copy.deepcopy(value, memo))
        return clone

    def _synchronises(self) -> bool:
        """True in train() mode with MPI running and more than one rank in the group."""
        if not self.training:
            return False
        from .. import distributed  # above nn: imported at call time only

        if not distributed.is_initialized():
            return False
        group = self.process_group
        size = distributed.world_size() if group is None else group.Get_size()
        return size > 1

    def _all_reduce_sum(self, values):
        from .. import distributed

        return distributed.all_reduce_sum(values, group=self.process_group)

    def _check_values_per_channel(self, x) -> None:
        # Synchronised, one value per channel on this rank is enough: the functional checks
        # that all ranks together hold two, and raises on every rank alike, not on one.
        if not self._synchronises():
            super()._check_values_per_channel(x)

    def forward(self, x):
        if not self._synchronises():
            return super().forward(x)  # BatchNorm's code path: exactly BatchNorm's numbers
        self._check_input(x)
        momentum = self._momentum_for_this_step()
        running_mean, running_var = self._statistics_given()
        gamma = None if self.weight is None else self.weight.data
        beta = None if self.bias is None else self.bias.data
        engine = engines.get_engine()
        F = engines.functions(engine)  # the fast engine has no kernel: it runs the reference
        out, cache = F.sync_batch_norm_forward(x, gamma, beta, running_mean, running_var,
                                               momentum=momentum, eps=self.eps,
                                               all_reduce_sum=self._all_reduce_sum)
        self._save_for_backward(_Synchronised(engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout):
        kept = None if self._cache is None else self._cache[0]  # what the last forward kept
        if not isinstance(kept, _Synchronised):
            return super().backward(dout)  # the forward ran BatchNorm's code path
        engine, cache = self._pop_cache(dout)
        return self._backward_by(engines.functions(engine).sync_batch_norm_backward, dout,
                                 cache)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Replace every BatchNorm layer in ``module`` by a ``SyncBatchNorm`` (PyTorch's).

        The new layers take over the old ones' arguments, their ``weight`` and ``bias``
        Parameters (the same objects: an optimizer built before keeps working), their
        running statistics and their train/eval mode. Returns ``module`` with its BatchNorm
        children replaced, or a new ``SyncBatchNorm`` if ``module`` itself is a BatchNorm.
        Call it before wrapping the model in ``DistributedDataParallel``.
        """
        converted = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                converted.register_parameter(name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                converted.register_buffer(name, getattr(module, name))
            converted.training = module.training
        for name, child in list(module.named_children()):
            setattr(converted, name, cls.convert_sync_batchnorm(child, process_group))
        return converted
