"""What a person reads: the preprocessing's description and the confusion matrix's title."""

from __future__ import annotations

import pytest
import torch

from classicnets.preprocessing import Preprocessing


def test_one_channel_preprocessing_is_described_as_grayscale() -> None:
    gray = Preprocessing(input_size=16, mean=(0.5,), std=(0.25,))
    assert "grayscale" in gray.describe() and "RGB" not in gray.describe()
    assert "RGB" in Preprocessing(input_size=16).describe()


@pytest.mark.parametrize("classes", [["0", "1"], [str(i) for i in range(10)]])
def test_a_confusion_title_fits_its_figure(classes: list[str]) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from classicnets.runtime.plots import confusion_figure

    title = "resnet20 on imagefolder (ten_crop): top-1 97.53% on 10,000 test images, final weights"
    fig = confusion_figure(torch.eye(len(classes), dtype=torch.long), classes, title)
    try:
        fig.canvas.draw()
        box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1, (box, fig.bbox)
        assert box.y1 <= fig.bbox.y1
    finally:
        plt.close(fig)


def test_no_progress_bar_fragments_in_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    """Standard error captured (a file, a pipe): no bar, so no carriage-return fragments; the
    lines written through the bar still appear."""
    from classicnets.training.logging import Progress

    bar = Progress(total_images=64, desc="epoch 1/1", quiet=False)
    for _ in range(4):
        bar.update(16, loss=0.5, acc=0.9, lr=0.1)
    bar.write("warm-up over")
    bar.close()
    out = capsys.readouterr()
    assert "\r" not in out.err and "epoch 1/1" not in out.err
    assert "warm-up over" in out.out
