"""Every tuning knob of the fast engine, in one place, each with the benchmark that set it.

The figures behind each value are in ``benchmarks/README.md`` (section named in brackets);
rerun the benchmark named before changing one. Nothing here changes a result beyond rounding:
the knobs choose how work is cut up and which method runs, never what is computed.

``ELEMENTWISE_BLOCK`` is compiled into a Numba kernel as a constant: after changing it, delete
``minicnn/fast/kernels/__pycache__`` (Numba's disk cache does not notice).
"""

# -- convolution, method "im2col" (``conv.py``) -------------------------------------------------
# Bytes of column matrix per chunk of the batch: small enough to stay in cache between im2col
# and the product, large enough for an efficient product. [bench_layers.py; "Chunking"]
CHUNK_BYTES = 8 * 2**20

# A layer whose whole column matrix fits in this many bytes keeps it for the backward pass
# instead of rebuilding it. [bench_train.py, LeNet-5 step; "Kept columns"]
KEEP_COLS_BYTES = CHUNK_BYTES

# -- convolution, methods "direct" and "batch_last" and the chooser (``methods.py``) -----------
# "auto" considers the direct methods only up to this many input and output channels.
# [bench_layers.py --methods; "The convolution methods"]
DIRECT_MAX_CHANNELS = 32
# ... and the direct method only where the padded row is at most this much longer than the
# output row (its garbage columns are computed too). [bench_layers.py --methods]
DIRECT_MAX_WIDTH_RATIO = 1.3
# Values a parallel task of the direct method sums into (128 KB of float32, within L2).
# [bench_layers.py --methods; "The convolution methods"]
DIRECT_TASK_VALUES = 32 * 1024
# "auto" takes batch_last for runs of Wo·N values at least this long, and kernels of at least
# BATCH_LAST_MIN_TAPS taps or output rows shorter than BATCH_LAST_SHORT_ROW.
# [bench_layers.py --methods; "The batch_last method"]
BATCH_LAST_MIN_RUN = 256
BATCH_LAST_MIN_TAPS = 25
BATCH_LAST_SHORT_ROW = 16

# "auto" takes Winograd's F(2×2, 3×3) for 3×3 stride-1 layers with at least this many input
# and output channels; None: never (selectable by name only). [bench_layers.py --winograd;
# "Winograd F(2x2, 3x3)"]
WINOGRAD_MIN_CHANNELS = None
# The same for a forward under ``no_grad`` (inference: no backward follows), where only the
# forward's time counts; None: never. [bench_layers.py --winograd; "Winograd F(2x2, 3x3)"]
WINOGRAD_INFERENCE_MIN_CHANNELS = None

# -- inference: Conv2d → BatchNorm2d (→ ReLU) as one convolution (``fold.py``, ``nn/_fold.py``) --
# The switch: False computes those layers one by one in inference too, as the reference does.
# It changes results by rounding only. [bench_fold.py; "Folding batch norm into the convolution"]
FOLD_BATCH_NORM = True
# Fold a layer only where each filter gives at least this many output values (N·Ho·Wo) per
# weight it has ((C/groups)·kh·kw): folding costs a pass over the weights, and saves passes
# over the output. [bench_fold.py --batch 1; "Folding batch norm into the convolution"]
FOLD_MIN_OUTPUTS_PER_WEIGHT = 1

# -- threads (``parallel.py``, ``threads.py``) -------------------------------------------------
# Element operations below which a kernel call stays on the calling thread: handing work to a
# sleeping thread costs more than small calls take. [bench_train.py, LeNet-5 and ResNet-20
# steps; "Threads"]
MIN_PARALLEL_WORK = 2**20
# OpenBLAS's idle threads spin 2**this many cycles when ``configure_process`` shortens it
# (OpenBLAS's own default is 2**28). [bench_train.py --threading; "Threads"]
BLAS_SPIN_EXPONENT = 16

# -- memory (``allocator.py``) ---------------------------------------------------------------
# Freed memory glibc may keep for reuse when ``configure_process`` asks it to.
# [bench_train.py; "Allocator"]
KEEP_FREED_BYTES = 256 * 2**20

# -- kernels (``kernels/``) -----------------------------------------------------------------------
# Elements per task of the ReLU kernels (256 KB of float32). [bench_layers.py; "ReLU"]
ELEMENTWISE_BLOCK = 2**16
# Values per sample a batch-norm task's group of channels holds. [bench_layers.py; "Batch norm"]
BATCH_NORM_GROUP_VALUES = 2048
