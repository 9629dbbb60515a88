"""The progress line of ``fit``: a tqdm bar in a terminal, one updating text line in a notebook.

In a Jupyter kernel (Jupyter, VS Code, Colab) a tqdm bar is either a widget, which needs
ipywidgets and is saved in the notebook as its first state ("0%"), or, without ipywidgets, text
redrawn with carriage returns, which a notebook keeps as dozens of chunks. So there the
progress is one plain-text output updated in place (IPython's display handle), cleared when the
epoch ends; what stays in the saved notebook is the epoch's summary line that ``fit`` prints.
"""

import sys

__all__ = ["progress_bar"]


def _in_notebook_kernel() -> bool:
    ipython = sys.modules.get("IPython")  # never imported here: only if the user's session has
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class NotebookProgress:
    """Iterate ``iterable``; show "desc: k/total batches  key value ..." in one output line.

    ``display`` is IPython's ``display`` function (given, so that a test can pass its own);
    the line is redrawn at most when ``set_postfix`` is called and cleared by ``close``.
    """

    def __init__(self, iterable, total, desc: str, display):
        self.iterable, self.total, self.desc = iterable, total, desc
        self.count, self.postfix = 0, {}
        self._handle = display({"text/plain": self._text()}, raw=True, display_id=True)

    def _text(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        fields = "  ".join(f"{key} {value}" for key, value in self.postfix.items())
        return f"{self.desc}: {self.count}{of} batches  {fields}".rstrip()

    def __iter__(self):
        for item in self.iterable:
            self.count += 1
            yield item

    def set_postfix(self, refresh: bool = True, **fields) -> None:
        self.postfix = {key.replace("_", "/"): value for key, value in fields.items()}
        self._handle.update({"text/plain": self._text()}, raw=True)

    def close(self) -> None:
        self._handle.update({"text/plain": ""}, raw=True)


def progress_bar(iterable, total, desc: str):
    """A progress bar over ``iterable`` with ``set_postfix`` and ``close``, as tqdm's."""
    if _in_notebook_kernel():
        from IPython.display import display

        return NotebookProgress(iterable, total, desc, display)
    from tqdm import tqdm  # the terminal bar: tqdm.auto's notebook probe is not needed here

    return tqdm(iterable, total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)
