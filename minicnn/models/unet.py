"""U-Net (Ronneberger, Fischer and Brox 2015, "U-Net: Convolutional Networks for Biomedical
Image Segmentation"): a per-pixel classifier built as an encoder, a decoder and skip connections.

    input ─► enc1 ──────────────────── copy and crop ──────────────────► dec1 ─► head ─► logits
               └► pool1 ─► enc2 ─────── copy and crop ──────────► dec2 ─┘ up1
                             └► pool2 ─► …  bottleneck  … ─► up2 ─┘

Each encoder level doubles the channels and halves the map (two 3×3 convolutions with ReLU, a
2×2 max-pool); each decoder level doubles the map and halves the channels (a 2×2
up-convolution), concatenates the encoder map of its level (centre-cropped to its size, since
unpadded convolutions shrink every map by 2 pixels each), and applies two 3×3 convolutions. A
final 1×1 convolution gives ``num_classes`` scores per pixel, for ``nn.CrossEntropyLoss`` on
(N, num_classes, H, W) logits with (N, H, W) labels.
"""

from .. import nn
from .._validation import check_dim, check_float_array, check_positive_int, check_rank
from ._common import check_builder_args

__all__ = ["UNet", "unet", "unet_output_size", "unet_valid_size"]

PADDINGS = ("valid", "same")
UPSAMPLINGS = ("transpose", "bilinear")


def _check_layout(where: str, depth, padding, upsampling) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"{where}: expected depth as an int >= 1, got {depth!r}")
    if padding not in PADDINGS:
        raise ValueError(f"{where}: expected padding in {PADDINGS}, got {padding!r}")
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"{where}: expected upsampling in {UPSAMPLINGS}, got {upsampling!r}")


def _trace_sizes(size: int, depth: int, padding: str) -> str | None:
    """Follow one side of the image through the net; None if it fits, else why it does not."""
    shrink = 4 if padding == "valid" else 0  # two unpadded 3×3 convolutions: 2 pixels each
    for level in range(1, depth + 1):
        size -= shrink
        if size < 2 or size % 2:
            return (f"the map entering pool{level} would be {size} pixels; 2×2 max-pooling "
                    f"needs an even size >= 2")
        size //= 2
    size -= shrink
    if size < 1:
        return f"the bottleneck's output would be {size} pixels"
    for level in range(depth, 0, -1):
        size = 2 * size - shrink
        if size < 1:
            return f"the output of dec{level} would be {size} pixels"
    return None


def unet_output_size(size: int, depth: int = 4, padding: str = "valid") -> int:
    """The output height (or width) of a U-Net for an input of ``size`` pixels.

    ``padding="valid"`` (the paper): 572 → 388 for depth 4. ``"same"``: the size itself. A
    ValueError, with the nearest valid sizes, if ``size`` does not fit (see ``unet_valid_size``).
    """
    _check_layout("unet_output_size", depth, padding, "transpose")
    why = _trace_sizes(size, depth, padding)
    if why is not None:
        raise ValueError(_invalid_size_message("unet_output_size", size, depth, padding, why))
    if padding == "same":
        return size
    shrink, out = 4, size
    for _ in range(depth):
        out = (out - shrink) // 2
    out -= shrink
    for _ in range(depth):
        out = 2 * out - shrink
    return out


def unet_valid_size(size: int, depth: int = 4, padding: str = "valid") -> int:
    """The valid U-Net input size nearest to ``size`` (the larger one on a tie).

    A size fits when every map entering a 2×2 max-pool is even and no map shrinks to nothing:
    with ``padding="same"``, multiples of ``2**depth``; with ``"valid"``, sizes ``s`` with
    ``s + 4`` a multiple of ``2**depth`` and ``(s + 4) / 2**depth >= 12`` (11 for depth 1: the
    bottleneck's map must be large enough for the decoder not to shrink to nothing), e.g. 188,
    204, …, 572 for depth 4. To segment an image of any size, pad (or tile) it to a valid size.
    """
    _check_layout("unet_valid_size", depth, padding, "transpose")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"unet_valid_size: expected size as an int >= 1, got {size!r}")
    for distance in range(size + 2 ** (depth + 4)):
        for candidate in (size + distance, size - distance):
            if candidate >= 1 and _trace_sizes(candidate, depth, padding) is None:
                return candidate
    raise AssertionError("unreachable: large enough sizes always fit")


def _invalid_size_message(where: str, size: int, depth: int, padding: str, why: str) -> str:
    return (f"{where}: an input size of {size} does not fit a U-Net of depth {depth} with "
            f"padding={padding!r} ({why}); the nearest valid size is "
            f"{unet_valid_size(size, depth, padding)} (models.unet_valid_size)")


def double_conv(in_channels: int, out_channels: int, padding: int,
                batch_norm: bool) -> nn.Sequential:
    """Two 3×3 convolutions, each followed by ReLU (and BatchNorm before it if asked)."""
    layers = []
    for c_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(c_in, out_channels, kernel_size=3, padding=padding,
                                bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def up_conv(in_channels: int, out_channels: int, upsampling: str) -> nn.Module:
    """Double the map, set the channels: a 2×2 stride-2 transposed convolution, or bilinear
    upsampling followed by a 1×1 convolution."""
    if upsampling == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"),
                         nn.Conv2d(in_channels, out_channels, kernel_size=1))


class UNet(nn.Module):
    """U-Net; build it with ``models.unet`` (see there for the layer table and the sizes).

    Children, in the order the forward pass uses them: ``enc1``, ``pool1``, …, ``enc{depth}``,
    ``pool{depth}``, ``bottleneck``, then from the deepest level up ``up{k}``, ``crop{k}``,
    ``cat{k}``, ``dec{k}`` (k = depth … 1), and ``head``. State-dict keys follow:
    ``enc1.0.weight``, ``up4.weight``, ``dec1.2.bias``, ``head.weight``.

    Backward runs the same path in reverse. Each encoder map feeds two consumers, its pool and
    its skip, so its gradient is the sum of the two: what comes back through the pool, and what
    the crop (zero-padded back to the encoder map's size) hands down from the concatenation.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64,
                 depth: int = 4, padding: str = "valid", upsampling: str = "transpose",
                 batch_norm: bool = False):
        super().__init__()
        check_builder_args("unet", num_classes, in_channels)
        check_positive_int("unet", "base_channels", base_channels)
        _check_layout("unet", depth, padding, upsampling)
        pad = 0 if padding == "valid" else 1
        self.in_channels, self.num_classes = in_channels, num_classes
        self.base_channels, self.depth = base_channels, depth
        self.padding, self.upsampling, self.batch_norm = padding, upsampling, bool(batch_norm)

        widths = [base_channels * 2 ** k for k in range(depth + 1)]  # 64, 128, …, 1024
        c_in = in_channels
        for level in range(1, depth + 1):
            setattr(self, f"enc{level}", double_conv(c_in, widths[level - 1], pad, batch_norm))
            setattr(self, f"pool{level}", nn.MaxPool2d(2))
            c_in = widths[level - 1]
        self.bottleneck = double_conv(c_in, widths[depth], pad, batch_norm)
        for level in range(depth, 0, -1):
            width = widths[level - 1]
            setattr(self, f"up{level}", up_conv(2 * width, width, upsampling))
            setattr(self, f"crop{level}", nn.CenterCrop2d())
            setattr(self, f"cat{level}", nn.Cat(dim=1))
            # the concatenation holds the skip's `width` channels and the upsampled `width`
            setattr(self, f"dec{level}", double_conv(2 * width, width, pad, batch_norm))
        self.head = nn.Conv2d(base_channels, num_classes, kernel_size=1)
        self.arch = "unet"

    def _level(self, kind: str, level: int) -> nn.Module:
        return getattr(self, f"{kind}{level}")

    def _name(self) -> str:
        return f"UNet({self.extra_repr()})"

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"base_channels={self.base_channels}, depth={self.depth}, "
                f"padding={self.padding!r}, upsampling={self.upsampling!r}"
                + (", batch_norm=True" if self.batch_norm else ""))

    def _check_input(self, x) -> None:
        where = self._name()
        check_float_array(where, x)
        check_rank(where, x, 4, "(N, C, H, W)")
        check_dim(where, x, 1, self.in_channels, "channels", f"(N, {self.in_channels}, H, W)")
        for axis, side in ((2, "height"), (3, "width")):
            why = _trace_sizes(x.shape[axis], self.depth, self.padding)
            if why is not None:
                raise ValueError(_invalid_size_message(f"{where}: input {side}", x.shape[axis],
                                                       self.depth, self.padding, why))

    def forward(self, x):
        self._check_input(x)
        skips = []
        out = x
        for level in range(1, self.depth + 1):
            out = self._level("enc", level)(out)
            skips.append(out)
            out = self._level("pool", level)(out)
        out = self.bottleneck(out)
        for level in range(self.depth, 0, -1):
            out = self._level("up", level)(out)
            skip = self._level("crop", level)(skips[level - 1], size=out.shape[2:])
            out = self._level("dec", level)(self._level("cat", level)(skip, out))
        out = self.head(out)
        self._save_for_backward(None, out)  # the children keep the caches; this only the shape
        return out

    def backward(self, dout):
        self._pop_cache(dout)
        d = self.head.backward(dout)
        d_skips = {}
        for level in range(1, self.depth + 1):  # the decoder ran depth … 1
            d_skip, d = self._level("cat", level).backward(self._level("dec", level).backward(d))
            d_skips[level] = self._level("crop", level).backward(d_skip)
            d = self._level("up", level).backward(d)
        d = self.bottleneck.backward(d)
        for level in range(self.depth, 0, -1):
            d = self._level("pool", level).backward(d) + d_skips[level]
            d = self._level("enc", level).backward(d)
        return d


def unet(in_channels: int = 1, num_classes: int = 2, base_channels: int = 64, depth: int = 4,
         padding: str = "valid", upsampling: str = "transpose", batch_norm: bool = False) -> UNet:
    """U-Net (Ronneberger et al. 2015); the defaults are the paper's net, 31,030,658 parameters.

    Args:
        in_channels: channels of the input image (1 in the paper).
        num_classes: scores per pixel (2 in the paper: cell and border/background).
        base_channels: channels of the first level; level k has ``base_channels · 2**(k−1)``
            and the bottleneck ``base_channels · 2**depth``.
        depth: the number of 2×2 poolings (4 in the paper).
        padding: "valid" (the paper: unpadded 3×3 convolutions, every map shrinks by 2 per
            convolution, encoder maps are centre-cropped before concatenation, the output is
            smaller than the input) or "same" (padding 1, the output has the input's size,
            which must then be a multiple of ``2**depth``).
        upsampling: "transpose" (the paper's 2×2 "up-convolution", a stride-2 transposed
            convolution) or "bilinear" (bilinear upsampling then a 1×1 convolution halving the
            channels, a common variant without checkerboard artefacts).
        batch_norm: BatchNorm2d after every 3×3 convolution (then those have no bias); not in
            the paper, which predates it.

    The paper's layout, depth 4, base 64, 572×572 input (valid padding):

    ===========  ==========================================  ==========  ============
    module       layers                                      channels    output
    ===========  ==========================================  ==========  ============
    enc1         [3×3 conv, ReLU] × 2                        1 → 64      570, 568
    pool1        2×2 max-pool, stride 2                      64          284
    enc2, pool2  [3×3 conv, ReLU] × 2; pool                  64 → 128    280; 140
    enc3, pool3  [3×3 conv, ReLU] × 2; pool                  128 → 256   136; 68
    enc4, pool4  [3×3 conv, ReLU] × 2; pool                  256 → 512   64; 32
    bottleneck   [3×3 conv, ReLU] × 2                        512 → 1024  28
    up4          2×2 up-conv, stride 2                       1024 → 512  56
    crop4, cat4  enc4's 64×64 map cropped to 56, stacked     512 + 512   56
    dec4         [3×3 conv, ReLU] × 2                        1024 → 512  52
    up3 … dec3   up-conv; crop enc3 (136 → 104); 2 convs     512 → 256   104 → 100
    up2 … dec2   up-conv; crop enc2 (280 → 200); 2 convs     256 → 128   200 → 196
    up1 … dec1   up-conv; crop enc1 (568 → 392); 2 convs     128 → 64    392 → 388
    head         1×1 conv                                    64 → 2      388
    ===========  ==========================================  ==========  ============

    Parameters (3×3 convolution c → c': 9·c·c' + c'; 2×2 up-conv c → c/2: 4·c·c/2 + c/2;
    head 64·2 + 2): encoder 37,568 + 221,440 + 885,248 + 3,539,968; bottleneck 14,157,824;
    up-convolutions 2,097,664 + 524,544 + 131,200 + 32,832; decoder 7,078,912 + 1,769,984 +
    442,624 + 110,720; head 130: 31,030,658 in all.

    Input sizes: not every size fits (each map entering a pool must be even). With "valid",
    ``s`` fits when ``s + 4`` is a multiple of ``2**depth`` and at least ``12 · 2**depth``
    (depth ≥ 2; 188, 204, …, 572, … for depth 4); with "same", multiples of ``2**depth``.
    ``unet_valid_size`` gives the nearest size that fits, ``unet_output_size`` the output size;
    the forward pass of a size that does not fit raises a ValueError naming both.

    Initialisation: each layer's default (PyTorch's), not the paper's N(0, 2/fan_in).
    """
    return UNet(in_channels, num_classes, base_channels, depth, padding, upsampling, batch_norm)
