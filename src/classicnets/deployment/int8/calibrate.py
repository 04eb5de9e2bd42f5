"""int8 calibration: the images, their checks, and the pass that measures activation ranges.

Static quantization measures every activation's range on real images before it fixes the
scales: :func:`calibration_batches` prepares them from a folder or dataset exactly as for
evaluation, :func:`check_calibration` refuses data that does not suit the model, and
:func:`calibrate_and_convert` runs them through the observed graph and turns the observers into
quantize / dequantize pairs.

Within ``int8/`` this imports :mod:`.prepare` only (the quantizer it observes with); ``run``
does not need it, ``quantize`` and ``accuracy`` build on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.fx import GraphModule

from ...errors import ClassicNetsError
from .prepare import x86_quantizer

__all__ = [
    "CalibrationError",
    "calibrate_and_convert",
    "calibration_batches",
    "check_calibration",
]


class CalibrationError(ClassicNetsError, ValueError):
    """Calibration data that is missing, empty or of the wrong shape for the model."""


def calibration_batches(
    source: str | Path | torch.utils.data.Dataset,
    preprocessing: Any,
    *,
    num_images: int = 256,
    batch_size: int = 32,
) -> list[Tensor]:
    """``num_images`` images from ``source`` prepared exactly as for evaluation, in batches.

    ``source`` is an image folder (``root/<class>/<image>``) or a dataset yielding
    ``(PIL image, label)``; ``preprocessing`` the model's :class:`~classicnets.preprocessing.
    Preprocessing` (calibrating on differently prepared images would measure the wrong ranges).
    The images are spread evenly over the dataset (which is sorted by class), so every class is
    seen; unreadable files are skipped, and empty class folders do not matter (labels go unused).
    """
    from ...data.datasets import BadSample, ImageFolderDataset

    if num_images < 1:
        raise CalibrationError(f"num_images must be at least 1, got {num_images}")
    dataset = (
        ImageFolderDataset(source, in_chans=preprocessing.in_chans, labelled=False)
        if isinstance(source, (str, Path))
        else source
    )
    total = len(dataset)  # type: ignore[arg-type]
    if total == 0:
        raise CalibrationError("the calibration dataset is empty")
    transform = preprocessing.eval_transform()
    step = max(1, total // num_images)
    images = []
    for index in range(0, total, step):
        sample = dataset[index]
        if not isinstance(sample, BadSample):
            images.append(transform(sample[0]))
        if len(images) == num_images:
            break
    if not images:
        raise CalibrationError("no readable calibration image in the dataset")
    stacked = torch.stack(images)
    return list(stacked.split(batch_size))


def check_calibration(
    model: nn.Module, calibration: Iterable[Tensor] | Tensor
) -> tuple[list[Tensor], tuple[int, int, int]]:
    """The calibration batches as a list, after checking they suit the model and each other;
    and their (channels, height, width). Raises :class:`CalibrationError` otherwise."""
    batches = [calibration] if isinstance(calibration, Tensor) else list(calibration)
    if not batches or all(b.numel() == 0 for b in batches):
        raise CalibrationError(
            "no calibration data: static int8 quantization measures activation ranges on "
            "real images; pass batches prepared with the model's preprocessing "
            "(see classicnets.deployment.int8.calibrate.calibration_batches)"
        )
    shape = tuple(batches[0].shape[1:])
    in_chans = getattr(model, "in_chans", None)
    min_size = getattr(model, "min_input_size", 1)
    for b in batches:
        if b.dim() != 4:
            raise CalibrationError(
                f"calibration batches must be (N, C, H, W), got {tuple(b.shape)}"
            )
        if tuple(b.shape[1:]) != shape:
            raise CalibrationError(
                f"calibration batches differ in image shape ({tuple(b.shape[1:])} vs {shape}); "
                "the int8 program is built for one image size"
            )
        if not b.is_floating_point():
            raise CalibrationError(f"calibration images must be float tensors, got {b.dtype}")
    c, h, w = shape
    if in_chans is not None and c != in_chans:
        raise CalibrationError(f"calibration images have {c} channels, the model takes {in_chans}")
    if h < min_size or w < min_size:
        raise CalibrationError(
            f"calibration images are {h}x{w}, smaller than the model's minimum "
            f"{min_size}x{min_size}"
        )
    return batches, (c, h, w)


def calibrate_and_convert(captured: GraphModule, batches: list[Tensor]) -> GraphModule:
    """Observers inserted into ``captured`` (which this changes: batch norms are folded), the
    ``batches`` run through it, then the quantize / dequantize graph with the measured scales:
    the reference int8 program, float kernels
    (:func:`~classicnets.deployment.int8.quantize.quantize_int8` compiles it to int8)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(captured, x86_quantizer())
    with torch.no_grad():
        for batch in batches:
            prepared(batch.float())
    return convert_pt2e(prepared)
