"""Data-parallel training on several processes, over MPI (mpi4py).

Each process (an MPI *rank*) holds a full copy of the model and trains on its own shard of
every batch. After the backward pass the ranks average their gradients, so every replica takes
the same optimizer step and the replicas stay identical::

    # mpiexec -n 2 python -m mpi4py train.py
    import minicnn
    from minicnn import data, distributed, nn, optim

    distributed.init()                              # MPI, fault handling, threads per rank
    minicnn.manual_seed(0)                          # the same seed on every rank
    model = distributed.DistributedDataParallel(build_model())   # rank 0's weights everywhere
    loader = distributed.shard_loader(data.DataLoader(train_set, batch_size=32, shuffle=True))
    opt = optim.SGD(model.parameters(), lr=0.01)
    for x, y in loader:                             # this rank's shard of the epoch
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        model.backward(loss_fn.backward())          # local gradients, then the all-reduce
        opt.step()
    if distributed.is_main():
        minicnn.save(model.module, "model.npz")     # the inner model: keys without "module."

Run it with ``python -m mpi4py``: then an exception on any rank aborts every rank
(``MPI_Abort``) and its traceback is printed, instead of the other ranks waiting forever in
the next collective operation. ``init()`` installs the same behaviour for scripts started with
plain ``python``.

mpi4py is imported only when a function here is called: ``pip install "minicnn[distributed]"``
installs it together with the MPICH library.
"""

import os
import sys
import time
import zlib

import numpy as np

from .nn.module import Module

__all__ = ["DistributedDataParallel", "all_reduce_sum", "barrier", "init", "is_initialized",
           "is_main", "rank", "shard_loader", "world_size"]

# Seconds between printing an uncaught exception and MPI_Abort (see _abort_on_exception).
ABORT_PAUSE_SECONDS = 0.5

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS")


def _mpi():
    """The ``mpi4py.MPI`` module, or an ImportError naming the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            'minicnn.distributed needs mpi4py and an MPI library: pip install '
            '"minicnn[distributed]" (installs mpi4py and mpich)') from error
    return MPI


def _comm():
    return _mpi().COMM_WORLD


def is_initialized() -> bool:
    """True when MPI runs in this process (``torch.distributed.is_initialized``): mpi4py's MPI
    module was imported (which starts MPI) and MPI is not finalised. Imports nothing, so it
    is False in a script that never touched MPI."""
    MPI = sys.modules.get("mpi4py.MPI")
    return MPI is not None and MPI.Is_initialized() and not MPI.Is_finalized()


def rank() -> int:
    """This process's rank, 0 ... world_size() - 1 (0 without mpiexec)."""
    return _comm().Get_rank()


def world_size() -> int:
    """How many processes take part (1 without mpiexec)."""
    return _comm().Get_size()


def is_main() -> bool:
    """True on rank 0, the one process that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank has arrived here."""
    _comm().Barrier()


def all_reduce_sum(values, group=None) -> np.ndarray:
    """The element-wise sum of ``values`` (an array or a number) over all ranks, as float64.

    ``group``: an mpi4py communicator whose ranks take part (None: all, ``COMM_WORLD``)."""
    local = np.ascontiguousarray(values, dtype=np.float64)
    total = np.empty_like(local)
    (_comm() if group is None else group).Allreduce(local, total, op=_mpi().SUM)
    return total


def init(set_threads: bool = True) -> int:
    """Start MPI, make an exception on one rank end all ranks, split the cores; returns rank().

    * Faults: an uncaught exception prints its traceback and calls ``MPI_Abort`` (as
      ``python -m mpi4py`` does), so the other ranks stop instead of waiting in a collective.
    * Threads: with several ranks on one machine, each rank's kernel and BLAS threads are set
      to the cores divided by the ranks on this machine (at least 1), unless you set one of
      OMP_NUM_THREADS, NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS (``set_threads=False`` leaves
      them alone): more busy threads than cores wait for each other (docs/distributed.md).
    """
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1:
        _abort_on_exception(comm)
        if set_threads and not any(os.environ.get(v) for v in _THREAD_VARIABLES):
            node = comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks sharing this machine
            local = node.Get_size()
            node.Free()
            _set_threads(max(1, _usable_cores() // local))
    return comm.Get_rank()


def _abort_on_exception(comm) -> None:
    """After the usual traceback, an uncaught exception calls MPI_Abort (once installed)."""
    previous = sys.excepthook
    if getattr(previous, "_minicnn_aborts", False):
        return

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.flush()
        # MPI_Abort makes mpiexec kill every rank, and with them the forwarding of what this
        # rank wrote last: without a pause, the traceback's last line (the error itself) was
        # lost in 1 of 6 runs. A moment for mpiexec to pass it on first.
        time.sleep(ABORT_PAUSE_SECONDS)
        comm.Abort(1)

    hook._minicnn_aborts = True
    sys.excepthook = hook


def _set_threads(count: int) -> None:
    """``count`` threads for minicnn's kernels and for BLAS in this process."""
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(count)  # for libraries loaded later
    from .fast.threads import set_num_threads
    set_num_threads(count)


def _usable_cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on every platform
        return max(os.cpu_count() or 1, 1)


def _checksum(arrays) -> int:
    """A CRC-32 over the bytes of ``arrays``: equal on two ranks when the arrays are."""
    crc = 0
    for array in arrays:
        crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), crc)
    return crc


class DistributedDataParallel(Module):
    """Wrap ``model`` for data-parallel training (``torch.nn.parallel.DistributedDataParallel``).

    * Construction broadcasts rank 0's parameters and buffers to every rank, so all replicas
      start equal, whatever each rank's random initialisation drew.
    * ``forward(x)`` is the model's; it records ``len(x)``, this rank's sample count.
    * ``backward(dout)`` (and ``backward_params``) runs the model's backward, then replaces
      every parameter's gradient by the average over all ranks, weighted by each rank's sample
      count: ``g = sum_r n_r g_r / sum_r n_r``. For a loss that is a mean over the batch (the
      default ``reduction="mean"``) that is exactly the gradient of one process on the
      concatenated batch, also when the ranks' batches differ in size (an uneven last batch).
      (PyTorch divides by the world size instead, which is the same for equal batches.) All
      gradients travel in one flat buffer (of the gradients' dtype) in one ``Allreduce``,
      with the sample count as its last element.
    * BatchNorm statistics stay per rank: each rank normalises with its own shard's batch
      mean and variance and updates its own running averages, as PyTorch's DDP does without
      ``SyncBatchNorm``. The replicas' running statistics therefore differ; save rank 0's.
      ``nn.SyncBatchNorm.convert_sync_batchnorm(model)`` before wrapping shares them.
    * ``fit`` and ``evaluate`` given this model report loss and accuracy over all ranks'
      samples (summed by ``sum_over_ranks``); ``fit`` prints and writes its checkpoint on
      rank 0 only (``is_main``). A validation loader may be sharded too, or the same on every
      rank; with BatchNorm, each rank evaluates with its own running statistics.
    * ``state_dict()`` keys carry the prefix ``module.``, as PyTorch's; ``ddp.module`` is the
      model itself, so ``ddp.module.state_dict()`` is the state dict to save and load into a
      plain model.

    Every rank must call forward and backward the same number of times (shard the data with
    ``shard_loader`` or ``DataLoader(shard=...)``, which gives every rank the same batch count).
    """

    def __init__(self, model: Module):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got "
                            f"{type(model).__name__}")
        self.module = model
        object.__setattr__(self, "_comm", _comm())
        object.__setattr__(self, "_samples", 0)
        self._check_same_structure()
        self._broadcast_state()

    def _name(self) -> str:
        return "DistributedDataParallel"

    def _check_same_structure(self) -> None:
        """Every rank must wrap the same architecture: ValueError on all ranks otherwise."""
        shapes = [(name, np.shape(value), str(np.asarray(value).dtype))
                  for name, value in self._state_arrays()]
        signatures = self._comm.allgather(zlib.crc32(repr(shapes).encode()))
        if len(set(signatures)) > 1:
            raise ValueError(f"DistributedDataParallel: the ranks wrap different models (their "
                             f"parameter and buffer names, shapes or dtypes differ; signatures "
                             f"{signatures})")

    def _state_arrays(self):
        """(name, array) of every parameter's data and every buffer of the model, in order."""
        for name, param in self.module.named_parameters():
            yield name, param.data
        yield from self.module.named_buffers()

    def _broadcast_state(self) -> None:
        for module in self.module.modules():
            for param in module._parameters.values():
                param.data = self._broadcast(param.data)
            for name, buf in list(module._buffers.items()):
                setattr(module, name, self._broadcast(buf))

    def _broadcast(self, array: np.ndarray) -> np.ndarray:
        array = np.array(array, copy=True, order="C")  # rank 0 sends, the others receive here
        self._comm.Bcast(array, root=0)
        return array

    def forward(self, x):
        object.__setattr__(self, "_samples", len(x))
        return self.module.forward(x)

    def backward(self, dout):
        dx = self.module.backward(dout)
        self._average_gradients()
        return dx

    def backward_params(self, dout) -> None:
        self.module.backward_params(dout)
        self._average_gradients()

    def _average_gradients(self) -> None:
        """One Allreduce of [n g_1, ..., n g_k, n]; then every g_i = sum(n g_i) / sum(n)."""
        params = [p for p in self.module.parameters() if p.requires_grad]
        dtype = np.result_type(*(p.grad.dtype for p in params)) if params else np.float64
        local = np.empty(sum(p.grad.size for p in params) + 1, dtype=dtype)
        offset = 0
        for p in params:
            np.multiply(p.grad.ravel(), self._samples, out=local[offset:offset + p.grad.size])
            offset += p.grad.size
        local[-1] = self._samples
        total = np.empty_like(local)
        self._comm.Allreduce(local, total, op=_mpi().SUM)
        if total[-1] == 0:
            raise RuntimeError("DistributedDataParallel: backward() with no samples on any rank")
        total /= total[-1]
        offset = 0
        for p in params:
            p.grad[...] = total[offset:offset + p.grad.size].reshape(p.grad.shape)
            offset += p.grad.size

    def in_sync(self) -> bool:
        """True when every rank holds bit-identical parameters (a checksum's max == its min)."""
        MPI = _mpi()
        local = _checksum(p.data for p in self.module.parameters())
        highest = self._comm.allreduce(local, op=MPI.MAX)
        lowest = self._comm.allreduce(local, op=MPI.MIN)
        return highest == lowest

    @property
    def is_main(self) -> bool:
        """True on rank 0: ``fit`` prints and writes checkpoints there only."""
        return self._comm.Get_rank() == 0

    def sum_over_ranks(self, values) -> np.ndarray:
        """``values`` summed element-wise over all ranks, as float64 (``fit`` and ``evaluate``
        report the loss and accuracy of all ranks' samples this way)."""
        return all_reduce_sum(values)

    def extra_repr(self) -> str:
        return f"world_size={self._comm.Get_size()}"


def shard_loader(loader):
    """Make ``loader`` (a ``minicnn.data.DataLoader``) iterate over this rank's shard.

    Broadcasts rank 0's shuffle seed, so that every rank draws the same epoch order, and sets
    ``loader.shard = (rank(), world_size())`` (``DataLoader``'s docstring: PyTorch's
    ``DistributedSampler`` semantics, the same batch count on every rank). Returns the loader.
    """
    comm = _comm()
    loader.seed = comm.bcast(loader.seed, root=0)
    loader.shard = (comm.Get_rank(), comm.Get_size())
    return loader
