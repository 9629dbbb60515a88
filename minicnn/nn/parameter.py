"""``Parameter``: a learnable array and the gradient that backward passes add into."""

import numpy as np


class Parameter:
    """A learnable array.

    Attributes:
        data: the values, an ndarray (float32 by default).
        grad: an ndarray of the same shape and dtype; backward passes *add* into it (``+=``),
            so gradients from several uses accumulate until ``zero_grad()``.
        requires_grad: ``False`` freezes the parameter: layers skip its gradient and optimizers
            leave it unchanged (transfer learning).
    """

    def __init__(self, data, requires_grad: bool = True):
        data = np.asarray(data)
        if data.dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter: expected float32 or float64 data, got {data.dtype}")
        self.data = data
        # np.zeros (unlike zeros_like) maps untouched pages: a model's gradients cost no memory
        # until the first backward pass writes them.
        self.grad = np.zeros(data.shape, dtype=data.dtype)
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        """Reset the accumulated gradient to zeros (in place)."""
        self.grad.fill(0)

    def astype(self, dtype) -> "Parameter":
        """Convert data and grad to ``dtype`` in place of the old arrays; returns self."""
        self.data = self.data.astype(dtype)
        self.grad = self.grad.astype(dtype)
        return self

    def __repr__(self) -> str:
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}{frozen})"
