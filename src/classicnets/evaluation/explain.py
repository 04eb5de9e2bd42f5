"""Class activation maps: where a network looks when it names a class, for every registered model.

The maps are computed by pytorch-grad-cam (``grad-cam`` on PyPI, the optional extra
``classicnets[explain]``) rather than written again here; what classicnets adds is the target
layer. Every registered model describes its stages (``model.feature_info``: the module that ends
each stage, its channels and reduction), so the layer the CAM papers use, the output of the last
convolutional stage, is ``feature_info[-1].module`` for every family, Inception and DenseNet
included, with no layer picked by hand. ``stage=S`` takes any other stage (0 is the stem).
Auxiliary classifiers never run: the model is explained in eval mode, where they return nothing.

Methods (``METHODS``): Grad-CAM (Selvaraju et al. 2017), Grad-CAM++ (Chattopadhay et al. 2018),
Score-CAM (Wang et al. 2020; gradient-free, one forward pass per channel of the target layer,
so slow on wide layers) and Eigen-CAM (Muhammad & Yeasin 2020; gradient-free and
class-agnostic: the first principal component of the activations).

Python: ``classicnets.explain(model, images)`` returns an :class:`Explanation` (maps of the
images' size, in [0, 1]). Command line: ``classicnets explain IMAGE... -c RUN --out DIR`` writes
an overlay PNG per image and class, and a montage (:func:`explain_files`), named so that no
output of a call overwrites another and each name says which input it shows (:func:`name_inputs`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ClassicNetsError, InputShapeError

if TYPE_CHECKING:
    from ..preprocessing import Preprocessing

__all__ = [
    "INSTALL_HINT",
    "METHODS",
    "ExplainError",
    "Explanation",
    "InputName",
    "ModelSource",
    "Panel",
    "TargetLayer",
    "explain",
    "explain_files",
    "name_inputs",
    "overlay",
    "save_montage",
    "save_panel",
    "target_layer",
]

#: Our method name -> the pytorch_grad_cam class that computes it.
METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "scorecam": "ScoreCAM",
    "eigencam": "EigenCAM",
}
#: Each method's name in captions.
METHOD_NAMES: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "scorecam": "Score-CAM",
    "eigencam": "Eigen-CAM",
}
INSTALL_HINT = "pip install 'classicnets[explain]'  (installs grad-cam==1.5.5)"


class ExplainError(ClassicNetsError, ValueError):
    """A request that cannot be explained as asked (stage, class, source of the model)."""


def _cam_class(method: str) -> Any:
    """The pytorch_grad_cam class of ``method``, imported only when a map is asked for."""
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    try:
        import pytorch_grad_cam
    except ImportError:
        raise ExplainError(
            f"class activation maps need the grad-cam package: {INSTALL_HINT}"
        ) from None
    return getattr(pytorch_grad_cam, METHODS[method])


# -- the target layer from the stage description -------------------------------------------------


@dataclass(frozen=True)
class TargetLayer:
    """The module whose output is explained: the end of stage ``stage`` (``name`` in the model)."""

    stage: int
    name: str
    module: nn.Module


def target_layer(model: nn.Module, stage: int | None = None) -> TargetLayer:
    """The last module of stage ``stage`` (default: the last stage; negative counts back)."""
    info = getattr(model, "feature_info", None)
    if not info:
        raise ExplainError(
            f"{type(model).__name__} has no stage description (feature_info); explain takes a "
            "model built by classicnets.create_model"
        )
    n = len(info)
    index = n - 1 if stage is None else stage
    if not -n <= index < n:
        raise ExplainError(
            f"{getattr(model, 'model_name', type(model).__name__)} has {n} stages (0 = the stem "
            f"... {n - 1} = the last, the default); stage {stage} does not exist: choose one "
            f"from 0 to {n - 1}"
        )
    index %= n
    name = info[index].module
    return TargetLayer(index, name, model.get_submodule(name))


# -- maps ---------------------------------------------------------------------------------------


@dataclass
class Explanation:
    """Maps of one batch: ``maps[i]`` (H x W, in [0, 1]) shows the evidence for class
    ``targets[i]``; ``probs`` are the softmax outputs, ``layer`` the stage explained."""

    maps: Tensor
    targets: list[int]
    probs: Tensor
    method: str
    layer: TargetLayer


def _targets(target: int | Sequence[int] | None, probs: Tensor, num_classes: int) -> list[int]:
    """The class explained for each image: ``target`` (one for all, or one per image) or the
    predicted class."""
    n = probs.shape[0]
    if target is None:
        return probs.argmax(dim=1).tolist()
    chosen = [int(target)] * n if isinstance(target, int) else [int(t) for t in target]
    if len(chosen) != n:
        raise ExplainError(f"{len(chosen)} target classes given for {n} images")
    for k in chosen:
        if not 0 <= k < num_classes:
            raise ExplainError(
                f"class index {k} is beyond the classifier: the model has {num_classes} classes "
                f"(0 ... {num_classes - 1}); choose one of those"
            )
    return chosen


def explain(
    model: nn.Module,
    images: Tensor,
    *,
    method: str = "gradcam",
    target: int | Sequence[int] | None = None,
    stage: int | None = None,
) -> Explanation:
    """Class activation maps of ``images`` (N x C x H x W, or one C x H x W image, already
    normalized as the model expects; any size the model takes) for class ``target`` (default:
    the predicted class of each image), at the end of stage ``stage`` (default: the last)."""
    cam_class = _cam_class(method)
    layer = target_layer(model, stage)
    x = images.unsqueeze(0) if images.dim() == 3 else images
    check = getattr(model, "check_input", None)
    if check is not None:
        check(x)  # an input the model cannot take is named before any hook is set
    x = x.to(next(model.parameters()).device)
    was_training = model.training
    model.eval()  # the auxiliary heads return nothing in eval mode; BN uses its statistics
    try:
        with torch.no_grad():
            probs = model(x).float().softmax(dim=1)
        targets = _targets(target, probs, probs.shape[1])
        maps = _run_cam(cam_class, model, layer.module, x, targets)
    finally:
        model.train(was_training)
    return Explanation(maps, targets, probs.cpu(), method, layer)


def _run_cam(
    cam_class: Any, model: nn.Module, layer: nn.Module, x: Tensor, targets: list[int]
) -> Tensor:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with cam_class(model=model, target_layers=[layer]) as cam:
        if hasattr(cam, "batch_size"):  # Score-CAM: masked copies per forward pass
            cam.batch_size = 64
        maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(k) for k in targets])
    return torch.from_numpy(np.nan_to_num(np.asarray(maps, dtype=np.float32)))


# -- pictures -----------------------------------------------------------------------------------


@dataclass
class Panel:
    """One picture: an RGB image (H x W x 3 in [0, 1]), its map (or None) and a caption."""

    image: np.ndarray
    cam: np.ndarray | None
    title: str


def to_rgb(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalized C x H x W input back to an H x W x 3 image in [0, 1] (grey for 1 channel)."""
    m = torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1)
    img = (x.detach().float().cpu() * s + m).clamp(0, 1)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img[:3].permute(1, 2, 0).numpy()


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The map in the jet colour map laid over the image (both H x W; result H x W x 3)."""
    from matplotlib import colormaps

    heat = colormaps["jet"](np.clip(cam, 0, 1))[..., :3]
    return (1 - alpha) * image + alpha * heat


def _draw(ax: Any, panel: Panel) -> None:
    shown = panel.image if panel.cam is None else overlay(panel.image, panel.cam)
    ax.imshow(shown, interpolation="nearest")
    ax.set_title(panel.title, fontsize=11)
    ax.axis("off")


def save_panel(panel: Panel, path: str | Path) -> Path:
    """One overlay as a PNG with its caption (class name and probability) in the picture."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2, 3.5), dpi=100)
    _draw(fig.add_subplot(), panel)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return Path(path)


def save_montage(
    panels: Sequence[Panel], path: str | Path, columns: int = 4, panel_inches: float = 3.0
) -> Path:
    """All panels in one grid PNG, each ``panel_inches`` wide (100 pixels an inch)."""
    from matplotlib.figure import Figure

    cols = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(panel_inches * cols, (panel_inches + 0.3) * rows), dpi=100)
    for i, panel in enumerate(panels):
        _draw(fig.add_subplot(rows, cols, i + 1), panel)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    return Path(path)


# -- the `classicnets explain` command ------------------------------------------------------------


@dataclass(frozen=True)
class ModelSource:
    """What explain and report need of a loaded model (built by ``loading.load_source``)."""

    model: nn.Module
    name: str
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    config: dict[str, Any]


def _prepare(path: str | Path, src: ModelSource, native_size: bool) -> Tensor:
    """An image file as the network's input: its preprocessing, or normalization only
    (``native_size``: the image at its own size, for a fully convolutional look)."""
    from torchvision.transforms import v2

    from ..data import BadImageError, load_image

    in_chans = getattr(src.model, "in_chans", src.preprocessing.in_chans)
    try:
        img = load_image(path, in_chans)
    except (OSError, ValueError, SyntaxError) as e:
        raise BadImageError(f"cannot read image {path}: {e}; give a PNG or JPEG file") from e
    pre = src.preprocessing
    smallest = getattr(src.model, "min_input_size", 1)
    if native_size and min(img.size) < smallest:
        raise InputShapeError(
            f"{path} is {img.size[0]}x{img.size[1]} pixels, smaller than the {smallest}x"
            f"{smallest} that {src.name} takes; leave out --native-size to have it resized"
        )
    if native_size:
        return v2.Compose([v2.ToImage(), *pre.normalize_transforms()])(img)
    return pre.eval_transform()(img)


@dataclass(frozen=True)
class InputName:
    """How one input image of a call is named: ``stem`` begins its PNGs' names, ``title``
    begins its captions."""

    stem: str
    title: str


def _relative_to_common_parent(paths: Sequence[str]) -> list[Path]:
    """Each absolute path relative to the deepest folder that holds all of them."""
    absolute = [Path(p) for p in paths]
    try:
        common = Path(os.path.commonpath([p.parent for p in absolute]))
    except ValueError:  # on different drives (Windows): no common folder
        return [p.relative_to(p.anchor) for p in absolute]
    return [p.relative_to(common) for p in absolute]


def _first_clash(stems: Iterable[str]) -> tuple[int, int] | None:
    """The positions of the first two equal stems, compared case-insensitively (``A_top1.png``
    and ``a_top1.png`` are one file on macOS and Windows); None when all differ."""
    seen: dict[str, int] = {}
    for i, stem in enumerate(stems):
        j = seen.setdefault(stem.casefold(), i)
        if j != i:
            return j, i
    return None


def name_inputs(images: Sequence[str | Path]) -> list[InputName]:
    """Names that tell the inputs of one call apart, in the plainest form that does.

    The file's stem and name (``0000``, ``0000.jpg``) when no two inputs share a stem; otherwise
    the path relative to the common parent of all the call's inputs, folders joined by ``_`` in
    the stem (``cat/0000.jpg`` -> ``cat_0000``, title ``cat/0000.jpg``), and with the extension
    kept when only that tells two inputs apart (``0000.jpg`` beside ``0000.png``). The form is
    chosen for the whole call, so its names read alike. Flat names rather than a mirrored tree
    of folders: one folder shows every output, sorted by input folder, and a PNG seen alone (an
    attachment, a slide) still says which input it shows. Inputs that no form tells apart (the
    same file given twice; ``a_b/c.png`` beside ``a/b_c.png`` where file names repeat) are
    refused before anything is computed or written: an output never overwrites another.
    """
    absolute = [os.path.abspath(p) for p in images]
    relative = _relative_to_common_parent(absolute)
    forms = [
        [InputName(Path(p).stem, Path(p).name) for p in absolute],
        [InputName("_".join(r.with_suffix("").parts), r.as_posix()) for r in relative],
        [InputName("_".join(r.parts), r.as_posix()) for r in relative],
    ]
    for names in forms:
        clash = _first_clash(n.stem for n in names)
        if clash is None:
            return names
    first, second = (str(images[i]) for i in clash)
    if absolute[clash[0]] == absolute[clash[1]]:
        raise ExplainError(f"image {first} is given twice; give each image once")
    raise ExplainError(
        f"images {first} and {second} would both be written as {forms[-1][clash[0]].stem}_*.png; "
        "rename one of them or explain them in separate calls"
    )


def explain_files(
    src: ModelSource,
    images: Sequence[str | Path],
    out_dir: str | Path,
    *,
    method: str = "gradcam",
    target: int | None = None,
    top_k: int = 1,
    stage: int | None = None,
    native_size: bool = False,
) -> list[Path]:
    """Overlay PNGs (``<input>_<rank or class>.png``, ``<input>`` as :func:`name_inputs` names
    it, also in the captions) and ``montage.png`` in ``out_dir``; returns the paths written,
    the montage last."""
    names = name_inputs(images)  # a clash is refused before the folder is touched
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pre = src.preprocessing
    panels: list[Panel] = []
    written: list[Path] = []
    for path, name in zip(images, names, strict=True):
        x = _prepare(path, src, native_size)
        first = explain(src.model, x, method=method, target=target, stage=stage)
        if target is None:  # the top-k classes, the first (the predicted one) already done
            ranked = first.probs[0].topk(min(top_k, first.probs.shape[1])).indices.tolist()
            results = [first] + [
                explain(src.model, x, method=method, target=k, stage=stage) for k in ranked[1:]
            ]
        else:
            results = [first]
        for rank, ex in enumerate(results, 1):
            k = ex.targets[0]
            label = src.classes[k] if k < len(src.classes) else str(k)
            caption = f"{name.title}: {label} {float(ex.probs[0, k]):.1%}"
            panel = Panel(
                to_rgb(x, pre.mean, pre.std),
                ex.maps[0].numpy(),
                f"{caption}\n{method}, stage {ex.layer.stage} ({ex.layer.name})",
            )
            panels.append(panel)
            suffix = f"class{k}" if target is not None else f"top{rank}"
            written.append(save_panel(panel, out / f"{name.stem}_{suffix}.png"))
    written.append(save_montage(panels, out / "montage.png"))
    return written
