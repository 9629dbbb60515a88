"""The progress line of ``fit``: tqdm in a terminal, one updated text output in a notebook.

Checked with a stand-in for IPython's ``display``: the notebook line shows the batch count and
the fields of ``set_postfix``, is updated in place (one display, then updates to the same
handle), holds no carriage return, and is cleared at the end, so a saved notebook keeps only
fit's epoch line. Outside a kernel (this test process) the terminal bar is tqdm's.
"""

import tqdm

from minicnn._progress import NotebookProgress, progress_bar


class FakeHandle:
    def __init__(self, log):
        self.log = log

    def update(self, bundle, raw):
        assert raw
        self.log.append(("update", bundle["text/plain"]))


def fake_display(log):
    def display(bundle, raw, display_id):
        assert raw and display_id
        log.append(("display", bundle["text/plain"]))
        return FakeHandle(log)
    return display


def test_notebook_line_is_one_output_updated_in_place_and_cleared():
    log = []
    bar = NotebookProgress(range(3), 3, "train", fake_display(log))
    for _ in bar:
        bar.set_postfix(loss="0.5000", acc="90.00%", img_s="1,000", refresh=False)
    bar.close()
    assert [kind for kind, _ in log] == ["display", "update", "update", "update", "update"]
    assert log[0][1] == "train: 0/3 batches"
    assert log[3][1] == "train: 3/3 batches  loss 0.5000  acc 90.00%  img/s 1,000"
    assert log[-1][1] == ""
    assert not any("\r" in text for _, text in log)


def test_outside_a_kernel_the_bar_is_tqdm():
    bar = progress_bar(range(2), 2, "train")
    assert isinstance(bar, tqdm.tqdm)
    assert list(bar) == [0, 1]
    bar.close()
