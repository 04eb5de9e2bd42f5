"""int8 quantization of a model, from calibration images to a compiled :class:`QuantizedModel`.

The stages, each in its own module of ``int8/`` (why this path: docs/int8.md):

1. :mod:`.prepare`: the eval-mode model is captured with ``torch.export`` (dynamic batch,
   fixed image size) for the x86 inductor quantizer;
2. :mod:`.calibrate`: ``prepare_pt2e`` inserts observers (per-channel symmetric int8 weights,
   per-tensor affine uint8 activations, batch norm folded into the convolutions), the
   calibration images run through it once, and ``convert_pt2e`` turns the observers into
   quantize / dequantize pairs with the measured scales;
3. :mod:`.run`: ``torch.compile`` with weight freezing lowers those pairs to oneDNN's int8
   operators, after :mod:`.lower`'s rewrites of the compiled copy.

Within ``int8/`` this imports :mod:`.calibrate`, :mod:`.prepare` and :mod:`.run`; only
:mod:`.accuracy` builds on it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from .calibrate import calibrate_and_convert, check_calibration
from .prepare import capture_for_quantization, export_dynamic_batch
from .run import QuantizedModel, QuantizedModelInfo, require_int8

__all__ = ["quantize_int8"]


def quantize_int8(
    model: nn.Module,
    calibration: Iterable[Tensor] | Tensor,
    *,
    compile: bool = True,
) -> QuantizedModel:
    """A static int8 copy of ``model`` calibrated on ``calibration``; the original is untouched.

    ``calibration``: one (N, C, H, W) tensor or an iterable of such batches, prepared with the
    model's own preprocessing; every batch must have the same image size, which becomes the only
    size the int8 model takes. Aux-head models are quantized in their inference (eval) form.
    ``compile=False`` keeps the reference quantize/dequantize program (float kernels, for
    debugging and export only); the default lowers it to int8 kernels, compiled on first call.

    Raises :class:`~.calibrate.CalibrationError` for missing or ill-shaped data and
    :class:`~.run.Int8UnavailableError` where this PyTorch build cannot run int8.
    """
    require_int8()
    batches, image_shape = check_calibration(model, calibration)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            converted = calibrate_and_convert(capture_for_quantization(model, batches[0]), batches)
            program = export_dynamic_batch(converted, batches[0])
            # export keeps its example input, a view of the user's first calibration batch,
            # and torch.export.save would write that batch into the .pt2: drop it
            program.example_inputs = None
    finally:
        model.train(was_training)
    info = QuantizedModelInfo(
        architecture=getattr(model, "model_name", type(model).__name__),
        image_shape=image_shape,
        calibration_images=sum(b.shape[0] for b in batches),
    )
    return QuantizedModel(program, info, compile=compile)
