"""Which convolution method the fast engine runs: the one function that chooses, and its rules.

Pure Python on shapes (no Numba), so that ``nn.Conv2d`` can check a ``method=`` argument when it
is built without loading the fast engine. The thresholds are in ``tuning.py``; the
measurements behind them in ``benchmarks/README.md`` ("The convolution methods").
"""

from ..functional.conv import conv_output_size
from . import tuning

__all__ = ["METHODS", "check_method", "choose_method", "direct_is_possible",
           "winograd_is_possible"]

METHODS = ("auto", "im2col", "direct", "batch_last", "winograd")


def choose_method(where: str, method: str, x_shape, w_shape, stride, pads,
                  dilation=(1, 1), inference: bool = False) -> str:
    """``method`` checked (``check_method``), with "auto" resolved to the method it takes:
    winograd where ``winograd_is_faster``, else batch_last where ``batch_last_is_faster``, else
    direct where ``direct_is_faster``, else im2col (which runs every shape). With groups, the
    shapes are one group's. ``inference``: no backward follows (a forward under ``no_grad``),
    so only the forward's speed counts."""
    check_method(where, method, w_shape[2:], stride, pads, dilation)
    if method != "auto":
        return method
    if (winograd_is_possible(w_shape[2:], stride, dilation)
            and winograd_is_faster(x_shape, w_shape, inference)):
        return "winograd"
    if not direct_is_possible(w_shape[2:], stride, pads, dilation):
        return "im2col"
    if batch_last_is_faster(x_shape, w_shape, pads):
        return "batch_last"
    return "direct" if direct_is_faster(x_shape, w_shape, pads) else "im2col"


def check_method(where: str, method: str, kernel_size, stride, pads, dilation=(1, 1)) -> None:
    """ValueError naming ``where`` for an unknown method, or a direct one where it cannot run
    (never a silent fall-back to another method: a lab comparing methods must know)."""
    if method not in METHODS:
        raise ValueError(f"{where}: unknown method {method!r}; expected one of {METHODS}")
    if method == "winograd" and not winograd_is_possible(kernel_size, stride, dilation):
        raise ValueError(f"{where}: method='winograd' needs a 3x3 kernel, stride 1 and no "
                         f"dilation, got kernel {tuple(kernel_size)}, stride {tuple(stride)} "
                         f"and dilation {tuple(dilation)}")
    if method in ("direct", "batch_last") and tuple(dilation) != (1, 1):
        raise ValueError(f"{where}: method={method!r} does not do dilation, got dilation "
                         f"{tuple(dilation)}; use method='auto' (the reference's dilated im2col)")
    if method in ("direct", "batch_last") and not direct_is_possible(kernel_size, stride, pads):
        raise ValueError(f"{where}: method={method!r} needs stride 1 and padding smaller than the "
                         f"kernel, got stride {tuple(stride)}, padding {pads} and kernel "
                         f"{tuple(kernel_size)}")


def direct_is_possible(kernel_size, stride, pads, dilation=(1, 1)) -> bool:
    """Stride 1, no dilation, and each padding below the kernel size (so that the input
    gradient is a full convolution of dout, padded by ``kernel − 1 − padding`` ≥ 0).
    ``kernel_size`` is (kh, kw)."""
    kh, kw = kernel_size
    (top, bottom), (left, right) = pads
    return (tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and max(top, bottom) < kh and max(left, right) < kw)


def winograd_is_possible(kernel_size, stride, dilation=(1, 1)) -> bool:
    """Winograd's F(2×2, 3×3) (``winograd.py``): a 3×3 kernel at stride 1, no dilation; any
    padding."""
    return (tuple(kernel_size) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1))


def winograd_is_faster(x_shape, w_shape, inference: bool = False) -> bool:
    """At least the tuned number of channels on both sides (the 16 products over C are then
    larger ones), with a threshold of its own for inference, where only the forward counts.
    Both thresholds are None (never) on the machine measured: ``tuning.py`` says why."""
    least = (tuning.WINOGRAD_INFERENCE_MIN_CHANNELS if inference
             else tuning.WINOGRAD_MIN_CHANNELS)
    return least is not None and min(x_shape[1], w_shape[0]) >= least


def direct_is_faster(x_shape, w_shape, pads) -> bool:
    """Few channels on both sides, and a padded row little longer than the output row.

    The direct loops do the multiply-adds at a fixed, modest speed; BLAS gets faster the more
    channels there are, and im2col's copies matter less. The direct method also computes the
    padded row's garbage columns, hence the width ratio.
    """
    channels, (out_channels, _, _, kw) = x_shape[1], w_shape
    width_p = x_shape[3] + pads[1][0] + pads[1][1]
    out_w = width_p - kw + 1
    return (max(channels, out_channels) <= tuning.DIRECT_MAX_CHANNELS
            and width_p <= tuning.DIRECT_MAX_WIDTH_RATIO * out_w)


def batch_last_is_faster(x_shape, w_shape, pads) -> bool:
    """Few channels, long runs of Wo·N values, and much arithmetic per value moved.

    The method's price is four transposes (x, out, dout and dx each change layout once); its
    gain, runs of Wo·N values where the direct method's are Wp long. So: both C and O few, Wo·N
    long (not a handful of images), and either a kernel of many taps (5×5) or output rows too
    short for the direct method.
    """
    n_samples, channels, _, width = x_shape
    out_channels, _, kh, kw = w_shape
    out_w = conv_output_size(width, kw, 1, pads[1])
    return (max(channels, out_channels) <= tuning.DIRECT_MAX_CHANNELS
            and out_w * n_samples >= tuning.BATCH_LAST_MIN_RUN
            and (kh * kw >= tuning.BATCH_LAST_MIN_TAPS or out_w < tuning.BATCH_LAST_SHORT_ROW))
