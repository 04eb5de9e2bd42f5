"""Loading a trained model for inference: from a run directory, any weight file we wrote, a
foreign state dict with its model's name, or registered weights; with its classes and the
preprocessing that feeds it (:class:`LoadedModel`). Also the models the other commands take from
the same sources: the one to export (:func:`model_to_export`), the one explain and report show
(:func:`load_source`), and the images quantize calibrates on (:func:`calibration_data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ClassicNetsError, WeightsFileError
from ..preprocessing import Preprocessing
from ..runtime.checkpoint_io import CheckpointError
from .explain import ExplainError, ModelSource

if TYPE_CHECKING:
    from ..weights.metadata import WeightsMetadata


@dataclass
class LoadedModel:
    """A model ready for inference, and what is needed to feed it: one :class:`Preprocessing`,
    from the weights' file or catalog entry. ``config``: the training configuration (its
    ``dataset`` and ``data_dir`` are eval's defaults)."""

    model: nn.Module
    name: str
    classes: tuple[str, ...]
    in_chans: int
    preprocessing: Preprocessing
    config: dict[str, Any]
    #: The file the weights came from (None for registered weights).
    source: Path | None = None
    #: False when the weights record no class names: ``classes`` are then the indices ("0",
    #: "1", ...), and a test split's classes can only be matched to the outputs by position.
    named_classes: bool = True

    def transforms(self) -> Any:
        """The evaluation transform of a PIL image or uint8 tensor (torchvision's spelling)."""
        return self.preprocessing.eval_transform()

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    @property
    def crop_pct(self) -> float:
        """Eval resizes the shorter side to ``input_size / crop_pct`` and takes the centre crop."""
        return self.preprocessing.crop_fraction

    @property
    def mean(self) -> tuple[float, ...]:
        return self.preprocessing.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.preprocessing.std


def load_registered(name: str, model_name: str | None = None) -> LoadedModel:
    """Registered weights (``arch.tag``, see ``classicnets weights``), downloaded or cached,
    with their classes and their catalog entry's evaluation preprocessing."""
    from ..factory import create_model
    from ..weights import get_weights, load_weights
    from ..weights.data_config import pretrained_cfg

    spec = get_weights(name)
    if model_name is not None and model_name != spec.arch:
        raise CheckpointError(
            f"the weights {name} are for {spec.arch}, not {model_name}; leave --model out or "
            f"give --model {spec.arch}"
        )
    pre = spec.preprocessing
    if pre.channel_order != "RGB" or pre.value_range != "0-1":
        raise CheckpointError(
            f"{name} expects {pre.channel_order} input in {pre.value_range}; eval and predict "
            "feed RGB images scaled to 0-1 only"
        )
    try:
        classes, named = tuple(spec.class_names()), True
    except ValueError:  # categories without known names: the indices
        classes, named = tuple(str(i) for i in range(spec.num_classes)), False
    model = create_model(spec.arch, num_classes=spec.num_classes)
    load_weights(model, name)
    model.pretrained_cfg = pretrained_cfg(pre, classes, tag=spec.tag)
    model.eval()
    return LoadedModel(
        model=model,
        name=spec.arch,
        classes=classes,
        in_chans=pre.in_chans,
        preprocessing=pre,
        # ImageNet-style folders (train/ and val/)
        config={"dataset": "imagefolder", "mean": list(pre.mean), "std": list(pre.std)},
        named_classes=named,
    )


#: In a run directory, the weights eval/predict/export take, best first: the final weights
#: (the EMA when the run kept one; written when the run completes), else the best epoch's
#: checkpoint, else the last (a run still going or interrupted).
RUN_WEIGHTS = ("model.safetensors", "best.pt", "last.pt")


def run_weights_file(path: str | Path) -> Path:
    """The file that stands for ``path``: itself, or a run directory's first of
    :data:`RUN_WEIGHTS` that exists."""
    p = Path(path)
    if not p.is_dir():
        return p
    for name in RUN_WEIGHTS:
        if (p / name).is_file():
            return p / name
    raise CheckpointError(
        f"{p} is a directory without {', '.join(RUN_WEIGHTS)}: not a training run's directory"
    )


def load_trained(
    checkpoint: str | Path | None = None,
    *,
    model_name: str | None = None,
    weights: str | Path | None = None,
    use_ema: bool = True,
) -> LoadedModel:
    """From a run directory (see :data:`RUN_WEIGHTS`), any weight file we wrote, a foreign state
    dict with ``model_name``, or registered weights (``weights="resnet50_v1_5.tv_in1k"``,
    :func:`load_registered`).

    Files are read by ``weights.files.read_weights`` (any layout we wrote, our training states,
    foreign state dicts); the model is built as the file records (architecture, options,
    classes, input channels) and fed as its preprocessing says. ``model_name`` is needed only
    for a file that does not name its model; naming another model than the file's is refused.
    """
    from ..weights.files import read_weights

    if checkpoint is None and weights is not None and not Path(weights).exists():
        name = str(weights)
        if "/" not in name and not name.endswith((".safetensors", ".pt", ".pth", ".bin")):
            return load_registered(name, model_name)  # an unknown name: the close ones named
    source = checkpoint if checkpoint is not None else weights
    if source is None:
        raise CheckpointError(
            "give a checkpoint (-c: a run directory or any weight file it holds), or --weights "
            "(a weight file, with --model when the file does not name its model, or registered "
            "weights such as resnet50_v1_5.tv_in1k)"
        )
    if Path(source).suffix == ".pt2" and Path(source).is_file():
        return load_int8(source)
    if Path(source).suffix in (".onnx", ".xml") and Path(source).is_file():
        return load_backend(source)
    file = run_weights_file(source)
    try:
        state, meta = read_weights(file, ema=use_ema)
    except WeightsFileError as e:
        raise CheckpointError(str(e)) from None
    if model_name and meta.architecture and model_name != meta.architecture:
        raise CheckpointError(
            f"{file} holds {meta.architecture}, not {model_name}; leave --model out"
        )
    lm = _ready(state, meta, meta.architecture or model_name or "")
    lm.source = file
    return lm


def load_int8(path: str | Path) -> LoadedModel:
    """The int8 program ``classicnets quantize`` wrote (``.pt2``), with the classes and the
    preprocessing it recorded from its source weights."""
    from ..deployment.int8.run import load_quantized

    path = Path(path)
    try:
        quantized = load_quantized(path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    info = quantized.info
    if info.preprocessing is None:
        raise CheckpointError(
            f"{path} records no preprocessing (written by an earlier classicnets): quantize the "
            "source weights again to evaluate or predict with it"
        )
    classes = info.classes
    if classes is None:
        with torch.no_grad():
            outputs = quantized(torch.zeros(1, *info.image_shape)).shape[1]
        classes = tuple(str(i) for i in range(outputs))
    return LoadedModel(
        model=quantized,
        name=f"{info.architecture} (int8)",
        classes=tuple(classes),
        in_chans=info.image_shape[0],
        preprocessing=Preprocessing.from_dict(info.preprocessing),
        config={},
        source=path,
        named_classes=info.classes is not None,
    )


def load_backend(path: str | Path) -> LoadedModel:
    """An ONNX file (run by onnxruntime) or an OpenVINO IR (``.xml``) that ``export`` or
    ``quantize --backend`` wrote, with the classes and the preprocessing it records."""
    import warnings

    from ..deployment.backends import load_backend_file

    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the note on a file without metadata
        model = load_backend_file(path)
    info = model.info
    meta = info.metadata
    if meta is None or meta.preprocessing is None:
        raise CheckpointError(
            f"{path} records no classicnets preprocessing (not written by classicnets export "
            "or quantize from weights that record it): evaluating it would mean guessing how "
            "its images are prepared"
        )
    in_chans = meta.in_chans or meta.preprocessing.in_chans
    classes = meta.classes or tuple(str(i) for i in range(meta.num_classes or 0))
    if not classes:
        size = meta.preprocessing.input_size
        with torch.no_grad():
            outputs = model(torch.zeros(1, in_chans, size, size)).shape[1]
        classes = tuple(str(i) for i in range(outputs))
    return LoadedModel(
        model=model,
        name=f"{info.architecture} ({info.precision}, {info.backend})",
        classes=tuple(classes),
        in_chans=in_chans,
        preprocessing=meta.preprocessing,
        config={},
        source=path,
        named_classes=bool(meta.classes),
    )


def load_run(path: str | Path, *, use_ema: bool = True) -> LoadedModel:
    """A trained model ready for inference, with its classes and preprocessing: from a run
    directory (its final weights, see :data:`RUN_WEIGHTS`) or any weight file we wrote
    (``model.safetensors``, ``best.pt``, ``save_weights``' and ``convert``'s files).

    ``lm.model(lm.transforms()(image).unsqueeze(0))`` classifies a PIL image;
    ``lm.classes`` names the outputs.
    """
    return load_trained(path, use_ema=use_ema)


def _ready(state: dict[str, torch.Tensor], meta: WeightsMetadata, name: str) -> LoadedModel:
    """The model the file describes, its weights loaded strictly (every key that does not fit
    in the table of the error), in eval mode."""
    from ..errors import WeightsError
    from ..factory import create_model
    from ..models.registry import model_info
    from ..weights import load_weights
    from ..weights.data_config import default_preprocessing, pretrained_cfg

    if not name:
        raise CheckpointError("the file does not say which model it holds; give --model")
    info = model_info(name)  # an unknown name: the close ones named
    classes = meta.classes or tuple(str(i) for i in range(meta.num_classes or info.num_classes))
    in_chans = meta.in_chans or 3
    model = create_model(name, num_classes=len(classes), in_chans=in_chans, **meta.options)
    try:
        load_weights(model, state, layout=meta.layout or "auto", adapt=False, progress=False)
    except WeightsError as e:
        raise CheckpointError(f"the weights do not fit {name}: {e}") from None
    preprocessing = meta.preprocessing or default_preprocessing(name)
    model.pretrained_cfg = pretrained_cfg(preprocessing, classes)
    return LoadedModel(
        model=model.eval(),
        name=name,
        classes=classes,
        in_chans=in_chans,
        preprocessing=preprocessing,
        config=meta.config,
        named_classes=bool(meta.classes),
    )


# -- the models of export, explain/report and quantize ------------------------------------------


@dataclass
class ModelToExport:
    """A model to export, its name and input size, and the metadata its file records."""

    model: nn.Module
    name: str
    input_size: int
    metadata: WeightsMetadata
    #: The weight file it came from (None for a registered model built afresh).
    source: Path | None = None

    @property
    def in_chans(self) -> int:
        return self.metadata.in_chans


def model_to_export(
    checkpoint: str | Path | None,
    model_name: str | None,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
) -> ModelToExport:
    """Built as the checkpoint records it (any file we wrote, or a run directory, see
    :func:`load_trained`), else the registered model ``model_name`` with ``num_classes`` and
    ``in_chans`` (its defaults when None)."""
    from ..weights import WeightsMetadata

    if checkpoint:
        if num_classes is not None or in_chans is not None:
            raise ClassicNetsError(
                "--num-classes and --in-chans are for a MODEL without -c; a checkpoint's are "
                "what it records"
            )
        lm = load_trained(checkpoint, model_name=model_name)
        metadata = WeightsMetadata(
            architecture=lm.name, num_classes=len(lm.classes), in_chans=lm.in_chans,
            classes=lm.classes, preprocessing=lm.preprocessing, source=str(lm.source),
        )  # fmt: skip
        return ModelToExport(lm.model, lm.name, lm.input_size, metadata, lm.source)
    if not model_name:
        raise ClassicNetsError("give a MODEL to export, or --checkpoint (a run or a weight file)")
    from ..factory import create_model
    from ..weights.data_config import default_preprocessing

    model = create_model(model_name, num_classes=num_classes, in_chans=in_chans)
    pre = default_preprocessing(model_name)
    metadata = WeightsMetadata(
        architecture=model_name, num_classes=model.num_classes, in_chans=model.in_chans,
        preprocessing=pre if model.in_chans == pre.in_chans else None,
    )  # fmt: skip
    return ModelToExport(model, model_name, pre.input_size, metadata)


def load_source(
    checkpoint: str | Path | None = None,
    *,
    model_name: str | None = None,
    weights: str | Path | None = None,
) -> ModelSource:
    """What explain and report take: a run directory / checkpoint, a model with a weights file,
    or registered weights."""
    run = Path(checkpoint) if checkpoint is not None else None
    if run is not None and run.is_dir() and not (run / "last.pt").is_file():
        raise ExplainError(
            f"the run {checkpoint} has no weights yet (no last.pt): train it first "
            f"(classicnets train --run-dir {checkpoint}) or give --model with --weights"
        )
    if checkpoint is None and weights is None:
        raise ExplainError(
            "say which network to explain: -c RUN_DIR, --weights ARCH.TAG (registered weights), "
            "or --model NAME --weights FILE.safetensors"
        )
    lm = load_trained(checkpoint, model_name=model_name, weights=weights)
    return ModelSource(lm.model, lm.name, tuple(lm.classes), lm.preprocessing, dict(lm.config))


def calibration_data(lm: LoadedModel, folder: str | None = None) -> Any:
    """The images int8 quantization calibrates on: ``folder`` (images in class sub-folders)
    when given, else the training split of the dataset the weights record."""
    if folder is not None:
        return folder
    if lm.config.get("dataset") is None:
        raise ClassicNetsError(
            "these weights record no training data to calibrate on; give --calibrate FOLDER "
            "(images in class sub-folders, prepared as the model's preprocessing says)"
        )
    from ..data.datasets import DataError, open_split

    dataset, data_dir = lm.config["dataset"], lm.config.get("data_dir")
    try:
        return open_split(dataset, "train", data_dir, in_chans=lm.model.in_chans, labelled=False)
    except DataError as e:  # its fix names train's flags; quantize's is --calibrate
        raise DataError(
            f"cannot calibrate on the training data these weights record ({dataset}"
            f"{f' from {data_dir}' if data_dir else ''}): {e.problem}",
            "give --calibrate FOLDER (images in class sub-folders) to calibrate on",
        ) from None
