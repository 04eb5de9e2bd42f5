"""The pretrained-weight registry: ``arch.tag`` names with provenance, as data.

Each :class:`WeightSpec` says where the file is published, how to check it, what layout its keys
are in, how its images must be prepared, what it reports, under which license, from which
recipe, and whether it was trained here or ported.

Integrity. torchvision and timm publish no full SHA-256 for their files: they put its first 8
hex digits in the file name (``resnet50-0676ba61.pth``), which ``torch.hub`` checks. Those
prefixes are all that can be known without downloading, so the ported entries below verify the
8-digit prefix (32 bits: it catches corruption and truncation, not a deliberate collision), and
the files are only ever read with ``torch.load(weights_only=True)``. An entry with a full
64-digit SHA-256 (our own files) is verified in full. ``classicnets weights`` shows which.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import UnknownWeightsError
from ..preprocessing import Preprocessing

__all__ = [
    "Preprocessing",
    "WeightSpec",
    "default_weights",
    "get_weights",
    "list_weights",
    "register_weights",
    "unregister_weights",
    "weights_for",
]


@dataclass(frozen=True)
class Accuracy:
    """A reported accuracy (percent) and exactly how it was measured, and by whom."""

    top1: float
    top5: float | None
    protocol: str
    source: str


@dataclass(frozen=True)
class WeightSpec:
    """One published set of weights for one registered architecture."""

    arch: str
    tag: str
    url: str
    sha256: str
    layout: Literal["classicnets", "torchvision", "timm"]
    preprocessing: Preprocessing
    accuracy: Accuracy | None
    license: str
    recipe: str
    origin: Literal["ported", "trained here"]
    source: str
    categories: str = "imagenet-1k"
    num_classes: int = 1000
    notes: str = ""
    file_name: str = field(default="")
    #: Rows the file's classifier has before the ``num_classes`` categories (TF-slim's background
    #: class at index 0: 1001 rows), dropped when it is loaded.
    label_offset: int = 0
    #: Only the feature extractor is trained: the file's head (every key under the model's
    #: ``head``) holds no usable values and is never loaded. ``create_model`` then needs
    #: ``features_only=True`` or an explicit ``num_classes`` (a new head, to be trained).
    features_only: bool = False

    def __post_init__(self) -> None:
        h = self.sha256.lower()
        if not (8 <= len(h) <= 64 and all(c in "0123456789abcdef" for c in h)):
            raise ValueError(f"{self.name}: sha256 must be 8 to 64 hex digits, got {self.sha256!r}")

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.tag}"

    @property
    def filename(self) -> str:
        """The cache file name: the URL's last part, as torch.hub names it (shared cache)."""
        return self.file_name or self.url.rsplit("/", 1)[-1].split("?", 1)[0]

    @property
    def full_hash(self) -> bool:
        return len(self.sha256) == 64

    def class_names(self) -> list[str]:
        """The class names, index by index (ImageNet-1k's from torchvision's weight metadata)."""
        if self.categories == "imagenet-1k":
            from torchvision.models import get_weight

            meta = get_weight("ResNet18_Weights.IMAGENET1K_V1").meta
            return list(meta["categories"])
        raise ValueError(f"{self.name}: no class names known for {self.categories!r}")

    def transforms(self) -> Any:
        """The evaluation transform these weights expect, in torchvision's spelling
        (``ResNet50_Weights.IMAGENET1K_V1.transforms()``): ``preprocessing.eval_transform()``."""
        return self.preprocessing.eval_transform()

    def describe_hash(self) -> str:
        if self.full_hash:
            return f"SHA-256 {self.sha256}"
        return f"SHA-256 prefix {self.sha256} (the publisher gives only this prefix)"


_REGISTRY: dict[str, WeightSpec] = {}


def register_weights(spec: WeightSpec, *, default: bool = False) -> WeightSpec:
    """Add an entry (raises on a duplicate name). ``default`` makes it ``pretrained=True``'s."""
    if spec.name in _REGISTRY:
        raise ValueError(f"weights {spec.name!r} are already registered")
    _REGISTRY[spec.name] = spec
    if default or spec.arch not in _DEFAULTS:
        _DEFAULTS[spec.arch] = spec.name
    return spec


def unregister_weights(name: str) -> None:
    """Remove an entry (for tests and for users replacing an entry)."""
    spec = _REGISTRY.pop(name)
    if _DEFAULTS.get(spec.arch) == name:
        rest = [s.name for s in _REGISTRY.values() if s.arch == spec.arch]
        if rest:
            _DEFAULTS[spec.arch] = rest[0]
        else:
            del _DEFAULTS[spec.arch]


_DEFAULTS: dict[str, str] = {}


def list_weights(pattern: str = "*") -> list[str]:
    """Registered weight names (``arch.tag``) matching a glob, in registration order."""
    return [n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)]


def get_weights(name: str) -> WeightSpec:
    """The entry for ``arch.tag``; an unknown name gets the close ones in the message."""
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownWeightsError(
            f"no weights registered as {name!r}.{hint} `classicnets weights` lists them."
        ) from None


def weights_for(arch: str) -> list[WeightSpec]:
    return [s for s in _REGISTRY.values() if s.arch == arch]


def default_weights(arch: str) -> WeightSpec | None:
    name = _DEFAULTS.get(arch)
    return _REGISTRY[name] if name else None


# -- the entries ---------------------------------------------------------------------------------

_TV_LICENSE = (
    "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms of access may restrict use "
    "(torchvision: the weights 'may have their own licenses or terms and conditions derived "
    "from the dataset used for training')"
)
_TV_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#resnet"
_TV2_RECIPE = "https://github.com/pytorch/vision/issues/3995#new-recipe"
_TV_V1 = Preprocessing(input_size=224, resize_size=256, interpolation="bilinear")
_TV_V2 = Preprocessing(input_size=224, resize_size=232, interpolation="bilinear")
_TV_PROTOCOL = "ImageNet-1k val (50,000 images), single center crop, this entry's preprocessing"


def _tv(
    arch: str,
    tag: str,
    file: str,
    enum: str,
    top1: float,
    top5: float,
    *,
    v2: bool = False,
) -> WeightSpec:
    pre = _TV_V2 if v2 else _TV_V1
    return WeightSpec(
        arch=arch,
        tag=tag,
        url=f"https://download.pytorch.org/models/{file}",
        sha256=file.rsplit("-", 1)[1].split(".")[0],
        layout="torchvision",
        preprocessing=pre,
        accuracy=Accuracy(top1, top5, _TV_PROTOCOL, f"torchvision {enum} metadata"),
        license=_TV_LICENSE,
        recipe=_TV2_RECIPE if v2 else _TV_RECIPE,
        origin="ported",
        source=f"torchvision {enum}",
    )


for _spec in (
    _tv("resnet18", "tv_in1k", "resnet18-f37072fd.pth", "ResNet18_Weights.IMAGENET1K_V1",
        69.758, 89.078),
    _tv("resnet34", "tv_in1k", "resnet34-b627a593.pth", "ResNet34_Weights.IMAGENET1K_V1",
        73.314, 91.420),
    _tv("resnet50_v1_5", "tv_in1k", "resnet50-0676ba61.pth", "ResNet50_Weights.IMAGENET1K_V1",
        76.130, 92.862),
    _tv("resnet50_v1_5", "tv2_in1k", "resnet50-11ad3fa6.pth", "ResNet50_Weights.IMAGENET1K_V2",
        80.858, 95.434, v2=True),
    _tv("resnet101_v1_5", "tv_in1k", "resnet101-63fe2227.pth",
        "ResNet101_Weights.IMAGENET1K_V1", 77.374, 93.546),
    _tv("resnet101_v1_5", "tv2_in1k", "resnet101-cd907fc2.pth",
        "ResNet101_Weights.IMAGENET1K_V2", 81.886, 95.780, v2=True),
    _tv("resnet152_v1_5", "tv_in1k", "resnet152-394f9c45.pth",
        "ResNet152_Weights.IMAGENET1K_V1", 78.312, 94.046),
    _tv("resnet152_v1_5", "tv2_in1k", "resnet152-f82ba261.pth",
        "ResNet152_Weights.IMAGENET1K_V2", 82.284, 96.002, v2=True),
):  # fmt: skip
    register_weights(_spec)

# -- VGG and DenseNet: torchvision's IMAGENET1K_V1 (figures from its installed weight metadata) ----

_TV_VGG_RECIPE = (
    "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg"
)
_TV_DENSENET_RECIPE = "https://github.com/pytorch/vision/pull/116"
_TV_DENSENET_KEYS = (
    "The file names the dense layers' keys 'norm.1', 'conv.1', ... (torchvision renames them in "
    "its loader); densenet.py's rules read both spellings."
)


def _with(spec: WeightSpec, **changes: Any) -> WeightSpec:
    """``spec`` with other fields (``_tv`` gives ResNet's recipe and preprocessing)."""
    return replace(spec, **changes)


for _spec in (
    _tv("vgg11", "tv_in1k", "vgg11-8a719046.pth", "VGG11_Weights.IMAGENET1K_V1", 69.020, 88.628),
    _tv("vgg11_bn", "tv_in1k", "vgg11_bn-6002323d.pth", "VGG11_BN_Weights.IMAGENET1K_V1",
        70.370, 89.810),
    _tv("vgg13", "tv_in1k", "vgg13-19584684.pth", "VGG13_Weights.IMAGENET1K_V1", 69.928, 89.246),
    _tv("vgg13_bn", "tv_in1k", "vgg13_bn-abd245e5.pth", "VGG13_BN_Weights.IMAGENET1K_V1",
        71.586, 90.374),
    _tv("vgg16", "tv_in1k", "vgg16-397923af.pth", "VGG16_Weights.IMAGENET1K_V1", 71.592, 90.382),
    _tv("vgg16_bn", "tv_in1k", "vgg16_bn-6c64b313.pth", "VGG16_BN_Weights.IMAGENET1K_V1",
        73.360, 91.516),
    _tv("vgg19", "tv_in1k", "vgg19-dcbb9e9d.pth", "VGG19_Weights.IMAGENET1K_V1", 72.376, 90.876),
    _tv("vgg19_bn", "tv_in1k", "vgg19_bn-c79401a0.pth", "VGG19_BN_Weights.IMAGENET1K_V1",
        74.218, 91.842),
):  # fmt: skip
    register_weights(_with(_spec, recipe=_TV_VGG_RECIPE))

# torchvision's VGG16_Weights.IMAGENET1K_FEATURES: convolutional features only. torchvision: "These
# weights can't be used for classification because they are missing values in the classifier
# module. Only the features module has valid values" (NaN in the file); "trained using the
# original input standardization method as described in the paper": mean subtraction on 0-255
# RGB values, no division (torchvision's transform: mean 0.48235, 0.45882, 0.40784, std 1/255).
register_weights(
    WeightSpec(
        arch="vgg16",
        tag="tv_features",
        url="https://download.pytorch.org/models/vgg16_features-amdegroot-88682ab5.pth",
        sha256="88682ab5",
        layout="torchvision",
        # torchvision's numbers: 0-255 RGB values minus (123, 117, 104), not divided
        preprocessing=Preprocessing(
            input_size=224,
            resize_size=256,
            mean=(0.48235, 0.45882, 0.40784),
            std=(1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0),
        ),
        accuracy=None,
        license=_TV_LICENSE,
        recipe="https://github.com/amdegroot/ssd.pytorch#training-ssd",
        origin="ported",
        source="torchvision VGG16_Weights.IMAGENET1K_FEATURES",
        notes="Features only (ported by torchvision from amdegroot/ssd.pytorch): the file's "
        "classifier holds no usable values and is never loaded; create_model('vgg16', "
        "pretrained='vgg16.tv_features') needs features_only=True or num_classes (a new head to "
        "train). No accuracy: it does not classify. Input: 0-255 RGB values minus "
        "(123, 117, 104), not divided (the mean/std above in 0-1 units).",
        features_only=True,
    )
)

for _spec in (
    _tv("densenet121", "tv_in1k", "densenet121-a639ec97.pth", "DenseNet121_Weights.IMAGENET1K_V1",
        74.434, 91.972),
    _tv("densenet161", "tv_in1k", "densenet161-8d451a50.pth", "DenseNet161_Weights.IMAGENET1K_V1",
        77.138, 93.560),
    _tv("densenet169", "tv_in1k", "densenet169-b2777c0a.pth", "DenseNet169_Weights.IMAGENET1K_V1",
        75.600, 92.806),
    _tv("densenet201", "tv_in1k", "densenet201-c1103571.pth", "DenseNet201_Weights.IMAGENET1K_V1",
        76.896, 93.370),
):  # fmt: skip
    register_weights(_with(_spec, recipe=_TV_DENSENET_RECIPE, notes=_TV_DENSENET_KEYS))

# timm's own DenseNet-121 ("ra": its RandAugment recipe). timm 1.0 serves it from the Hugging Face
# hub (timm/densenet121.ra_in1k), whose file's SHA-256 is not in its name and could not be
# obtained here; the entry is the file timm's configuration named before the hub (a GitHub
# release whose name carries the prefix). The two copies were not compared here (no network).
register_weights(
    WeightSpec(
        arch="densenet121",
        tag="ra_in1k",
        url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
        "densenet121_ra-50efcf5c.pth",
        sha256="50efcf5c",
        layout="timm",
        # timm's configuration: 224, crop_pct 0.875 (resize 256), bicubic
        preprocessing=Preprocessing(input_size=224, resize_size=256, interpolation="bicubic"),
        accuracy=Accuracy(
            75.56,
            92.65,
            "ImageNet-1k val (50,000 images), single center crop, this entry's preprocessing",
            "timm documentation, docs/models/densenet.md (model-index)",
        ),
        license="Apache-2.0 (timm); trained on ImageNet-1k, whose terms of access apply",
        recipe="timm's RandAugment recipe (the 'ra' tag); no exact hyper-parameters or training "
        "log are published with the file",
        origin="ported",
        source="timm densenet121.ra_in1k (GitHub release v0.1-weights; timm 1.0 serves it from "
        "the HF hub as timm/densenet121.ra_in1k)",
        notes="timm 1.0 evaluates it at 288 with test crop 0.95 as well (the network takes any "
        "size); the accuracy above is at 224.",
    )
)

register_weights(
    WeightSpec(
        arch="resnet50_v1_5",
        tag="a1_in1k",
        url="https://github.com/huggingface/pytorch-image-models/releases/download/"
        "v0.1-rsb-weights/resnet50_a1_0-14fe96d1.pth",
        sha256="14fe96d1",
        layout="timm",
        # timm's crop_pct 0.95 at 224: resize to floor(224 / 0.95) = 235
        preprocessing=Preprocessing(input_size=224, resize_size=235, interpolation="bicubic"),
        accuracy=Accuracy(
            80.4,
            None,
            "ImageNet-1k val, 224x224, no extra data (timm's own evaluation at 288 with crop "
            "1.0 reports more)",
            "Wightman, Touvron, Jégou, 'ResNet strikes back' (arXiv 2110.00476), recipe A1",
        ),
        license="Apache-2.0 (timm); trained on ImageNet-1k, whose terms of access apply",
        recipe="ResNet strikes back, procedure A1 (arXiv 2110.00476): 600 epochs, LAMB, BCE loss",
        origin="ported",
        source="timm resnet50.a1_in1k (GitHub release v0.1-rsb-weights; also on the HF hub as "
        "timm/resnet50.a1_in1k)",
        notes="timm's resnet50 is v1.5 (stride on the 3x3). Evaluated by timm at 288 with "
        "test crop 1.0 (the network takes any size).",
    )
)

# -- Inception (GoogLeNet, Inception v3, Inception-v4, Inception-ResNet-v2) ------------------------
#
# Every one of these was trained with TensorFlow on pixels scaled to [-1, 1] (mean = std = 0.5),
# and that is the preprocessing stated below: it is what the registered networks, which transform
# nothing inside, need. torchvision feeds its GoogLeNet and Inception v3 weights ImageNet mean/std
# and converts inside its model (it sets transform_input=True when it loads them), which gives the
# first conv the same input; each torchvision entry's note says so.
#
# timm 1.0 serves its Inception weights from the Hugging Face hub (timm/inception_v3.tf_in1k,
# timm/inception_v4.tf_in1k, timm/inception_resnet_v2.tf_in1k, model.safetensors): their SHA-256
# is not in their name and could not be obtained here, so those files are not registered (download
# one and pass its path: load_weights detects timm's layout). The entries below are the files
# timm's configurations named for these weights before the hub (timm <= 0.6: GitHub releases,
# names that carry the SHA-256 prefix); those configurations give their classifier 1001 rows
# (label_offset 1: TF-slim's background class first), which is dropped on load. The hub copies
# and these files were not compared here (no network). Accuracies are timm's evaluation
# (results-imagenet.csv) with the preprocessing given.

_TF_INPUT = (0.5, 0.5, 0.5)
_TV_TRANSFORM = (
    "torchvision evaluates these weights on ImageNet mean/std input converted inside its model "
    "(transform_input=True, which it sets when it loads them); that is this input. Equivalently: "
    "ImageNet mean/std and create_model(..., transform_input=True)"
)
_TIMM_GH = "https://github.com/rwightman/pytorch-image-models/releases/download"
_TIMM_LICENSE = (
    "Apache-2.0 (TF-slim's released checkpoints, ported by timm); trained on ImageNet-1k, whose "
    "terms of access apply"
)
_TF_SLIM = "https://github.com/tensorflow/models/tree/master/research/slim"
_TIMM_PROTOCOL = "ImageNet-1k val (50,000 images), single center crop, this entry's preprocessing"
_TIMM_RESULTS = "timm results/results-imagenet.csv"


def _tf_port(input_size: int, crop_pct: float) -> Preprocessing:
    """timm's evaluation transform: resize floor(size / crop_pct), bicubic, [-1, 1] pixels."""
    return Preprocessing(
        input_size=input_size,
        resize_size=math.floor(input_size / crop_pct),
        interpolation="bicubic",
        mean=_TF_INPUT,
        std=_TF_INPUT,
    )


def _tv_tf_input(input_size: int, resize_size: int) -> Preprocessing:
    """torchvision's files ported from TF: [-1, 1] pixels, which torchvision reaches inside."""
    return Preprocessing(
        input_size=input_size,
        resize_size=resize_size,
        mean=_TF_INPUT,
        std=_TF_INPUT,
        note=_TV_TRANSFORM,
    )


_TV_PORTED = "not trained by torchvision (its metadata: 'ported from the original paper')"

register_weights(
    _with(
        _tv("googlenet_torchvision", "tv_in1k", "googlenet-1378be20.pth",
            "GoogLeNet_Weights.IMAGENET1K_V1", 69.778, 89.530),
        preprocessing=_tv_tf_input(224, 256),
        recipe=f"{_TV_PORTED}; the layout is TF-slim's inception_v1 (batch norm, 3x3 in the "
        "'5x5' branch). "
        "https://github.com/pytorch/vision/tree/main/references/classification#googlenet",
        notes="The file holds auxiliary heads that torchvision says are not trained ('auxiliary "
        "heads in the pretrained googlenet model are NOT pretrained'); build aux_logits=False for "
        "inference, or train them before using forward_with_aux.",
    )
)  # fmt: skip
register_weights(
    _with(
        _tv("inception_v3", "tv_in1k", "inception_v3_google-0cc3c7bd.pth",
            "Inception_V3_Weights.IMAGENET1K_V1", 77.294, 93.450),
        preprocessing=_tv_tf_input(299, 342),
        recipe=f"{_TV_PORTED}, from Google's TensorFlow release. "
        "https://github.com/pytorch/vision/tree/main/references/classification#inception-v3",
        notes="Includes the auxiliary classifier. timm's inception_v3.tv_in1k names torchvision's "
        "earlier file inception_v3_google-1a9a5a14.pth as its origin (not compared here); timm "
        "reports 77.434 / 93.474 for it with bicubic resize 341 and mean = std = 0.5.",
    )
)  # fmt: skip


def _timm_tf(
    arch: str,
    path: str,
    timm_name: str,
    first_name: str,
    crop_pct: float,
    accuracy: tuple[float, float],
    *,
    recipe: str,
    notes: str = "",
) -> WeightSpec:
    """A TF-slim checkpoint as timm published it before the hub (1001 classes: background
    first); accuracy from timm's results at 299 with ``crop_pct``."""
    return WeightSpec(
        arch=arch,
        tag="tf_in1k",
        url=f"{_TIMM_GH}/{path}",
        sha256=path.rsplit("-", 1)[1].split(".")[0],
        layout="timm",
        preprocessing=_tf_port(299, crop_pct),
        accuracy=Accuracy(*accuracy, _TIMM_PROTOCOL, f"{_TIMM_RESULTS} ({timm_name}.tf_in1k)"),
        license=_TIMM_LICENSE,
        recipe=recipe,
        origin="ported",
        source=f"timm {timm_name}.tf_in1k (first published as {first_name}; timm 1.0 serves it "
        f"from the HF hub as timm/{timm_name}.tf_in1k)",
        notes=notes,
        label_offset=1,
    )


for _spec in (
    _timm_tf("inception_v3", "v0.1-weights/tf_inception_v3-e0069de4.pth", "inception_v3",
             "tf_inception_v3", 0.875, (77.862, 93.644),
             recipe=f"TF-slim inception_v3_2016_08_28 checkpoint ({_TF_SLIM}), ported by timm",
             notes="No auxiliary classifier in the file (a model built with one keeps it "
             "initialised; aux_logits=False builds the inference network)."),
    _timm_tf("inception_v4_tf", "v0.1-cadene/inceptionv4-8e4777a0.pth", "inception_v4",
             "inception_v4", 0.875, (80.156, 94.968),
             recipe=f"TF-slim inception_v4 checkpoint ({_TF_SLIM}), ported to PyTorch by Remi "
             "Cadene (pretrainedmodels, same file name) and republished by timm"),
    _timm_tf("inception_resnet_v2_tf", "v0.1-weights/inception_resnet_v2-940b1cd6.pth",
             "inception_resnet_v2", "inception_resnet_v2", 0.8975, (80.462, 95.308),
             recipe=f"TF-slim inception_resnet_v2_2016_08_30 checkpoint ({_TF_SLIM}), ported by "
             "timm"),
):  # fmt: skip
    register_weights(_spec)

# -- ResNeXt (torchvision) and SENet (timm's legacy ports) ---------------------------------------


def _tv_resnext(
    arch: str,
    tag: str,
    file: str,
    enum: str,
    top1: float,
    top5: float,
    *,
    recipe: str,
    resize_232: bool = False,
) -> WeightSpec:
    """A torchvision ResNeXt entry; recipe and resize size as in torchvision's metadata."""
    return _with(_tv(arch, tag, file, enum, top1, top5, v2=resize_232), recipe=recipe)


_TVX = "https://github.com/pytorch/vision/tree/main/references/classification#resnext"
_TVX2 = "https://github.com/pytorch/vision/issues/3995#new-recipe"

for _spec in (
    _tv_resnext("resnext50_32x4d", "tv_in1k", "resnext50_32x4d-7cdf4587.pth",
                "ResNeXt50_32X4D_Weights.IMAGENET1K_V1", 77.618, 93.698, recipe=_TVX),
    _tv_resnext("resnext50_32x4d", "tv2_in1k", "resnext50_32x4d-1a0047aa.pth",
                "ResNeXt50_32X4D_Weights.IMAGENET1K_V2", 81.198, 95.340, recipe=_TVX2,
                resize_232=True),
    _tv_resnext("resnext101_32x8d", "tv_in1k", "resnext101_32x8d-8ba56ff5.pth",
                "ResNeXt101_32X8D_Weights.IMAGENET1K_V1", 79.312, 94.526, recipe=_TVX),
    _tv_resnext("resnext101_32x8d", "tv2_in1k", "resnext101_32x8d-110c445d.pth",
                "ResNeXt101_32X8D_Weights.IMAGENET1K_V2", 82.834, 96.228,
                recipe=_TVX2 + "-with-fixres", resize_232=True),
    _tv_resnext("resnext101_64x4d", "tv_in1k", "resnext101_64x4d-173b62eb.pth",
                "ResNeXt101_64X4D_Weights.IMAGENET1K_V1", 83.246, 96.454,
                recipe="https://github.com/pytorch/vision/pull/5935", resize_232=True),
):  # fmt: skip
    register_weights(_spec)

_SENET_RELEASES = "https://github.com/rwightman/pytorch-image-models/releases/download/"
_SENET_LICENSE = (
    "timm lists apache-2.0; the weights are the SENet authors' released Caffe models "
    "(github.com/hujie-frank/SENet; their terms were not checked offline), converted by Cadene "
    "(pretrained-models.pytorch); trained on ImageNet-1k, whose terms of access apply"
)
_SENET_RECIPE = (
    "the SENet authors' Caffe training (Hu et al., arXiv 1709.01507, Sec. 5.1; SENet-154: "
    "Appendix); ported, not retrained"
)
_SENET_PROTOCOL = (
    "ImageNet-1k val, single 224x224 center crop, reported by the authors for their released "
    "Caffe model; not re-measured on this PyTorch port (timm's own evaluation is not available "
    "offline)"
)


def _legacy_senet(
    arch: str, file: str, timm_name: str, error: tuple[float, float], source: str
) -> WeightSpec:
    return WeightSpec(
        arch=arch,
        tag="legacy_in1k",
        url=_SENET_RELEASES + file,
        sha256=file.rsplit("-", 1)[1].split(".")[0],
        layout="timm",
        preprocessing=Preprocessing(input_size=224, resize_size=256, interpolation="bilinear"),
        accuracy=Accuracy(
            round(100 - error[0], 2), round(100 - error[1], 2), _SENET_PROTOCOL, source
        ),
        license=_SENET_LICENSE,
        recipe=_SENET_RECIPE,
        origin="ported",
        source=f"timm {timm_name}.in1k (GitHub release file, the URL timm's pretrained_cfg "
        "names; the key layout of timm's legacy senet.py)",
        notes="RGB, 0-1, ImageNet mean/std, as timm's cfg and Cadene's port give (the Caffe "
        "originals were fed BGR 0-255 with mean subtraction; the port is not).",
    )


for _spec in (
    _legacy_senet("seresnet50", "v0.1-cadene/se_resnet50-ce0d4300.pth", "legacy_seresnet50",
                  (22.37, 6.36), "SENet GitHub README (released models)"),
    _legacy_senet("seresnet101", "v0.1-cadene/se_resnet101-7e38fcc6.pth", "legacy_seresnet101",
                  (21.75, 5.72), "SENet GitHub README (released models)"),
    _legacy_senet("seresnet152", "v0.1-cadene/se_resnet152-d17c99b7.pth", "legacy_seresnet152",
                  (21.34, 5.54), "SENet GitHub README (released models)"),
    _legacy_senet("seresnext50_32x4d", "v0.1-weights/legacy_se_resnext50_32x4d-f3651bad.pth",
                  "legacy_seresnext50_32x4d", (20.97, 5.54),
                  "SENet GitHub README (released models)"),
    _legacy_senet("seresnext101_32x4d", "v0.1-weights/legacy_se_resnext101_32x4d-37725eac.pth",
                  "legacy_seresnext101_32x4d", (19.81, 4.96),
                  "SENet GitHub README (released models)"),
    _legacy_senet("senet154", "v0.1-weights/legacy_senet154-e9eb9fe6.pth", "legacy_senet154",
                  (18.68, 4.47), "SENet paper (arXiv 1709.01507) Table 8, 224x224 crop"),
):  # fmt: skip
    register_weights(_spec)

# -- SENet: timm's weights for its compatibility variants (models/senet.py) -------------------
#
# URLs and preprocessing are timm 1.0.31's pretrained_cfg (url; input_size, crop_pct,
# interpolation, mean/std; license). timm 1.0 serves these from the HF hub (timm/<name>), whose
# files' SHA-256 are not in their names; the entries are the GitHub release files that the same
# cfg names, whose names carry the prefix. Hub copies and these files were not compared here (no
# network). Accuracies: legacy_seresnet18/34 from timm's documentation (docs/models/
# legacy-se-resnet.md, model-index); the others from the "Model Comparison" table of timm's
# Hugging Face ResNet-family model cards (read in the card of
# timm/resnext101_32x16d.fb_swsl_ig1b_ft_in1k), which lists timm's own evaluation at each size.

_TIMM_SE_LICENSE = "Apache-2.0 (timm's pretrained_cfg); trained on ImageNet-1k, whose terms apply"
_TIMM_SE_DOCS = "timm documentation, docs/models/legacy-se-resnet.md (model-index)"
_TIMM_SE_CARDS = (
    "timm Hugging Face model cards, 'Model Comparison' table (as read in the card of "
    "timm/resnext101_32x16d.fb_swsl_ig1b_ft_in1k)"
)
_RSB = "ResNet strikes back (Wightman, Touvron, Jégou, arXiv 2110.00476), procedure"


def _timm_se(
    arch: str,
    tag: str,
    url: str,
    *,
    input_size: int = 224,
    crop_pct: float = 0.875,
    interpolation: str = "bicubic",
    accuracy: tuple[float, float, str],
    recipe: str,
    source: str,
    notes: str = "",
) -> WeightSpec:
    """A timm weight file for one of SENet's timm variants; preprocessing from its cfg."""
    top1, top5, where = accuracy
    return WeightSpec(
        arch=arch,
        tag=tag,
        url=url,
        sha256=url.rsplit("-", 1)[1].split(".")[0],
        layout="timm",
        preprocessing=Preprocessing(
            input_size=input_size,
            resize_size=math.floor(input_size / crop_pct),
            interpolation=interpolation,
        ),
        accuracy=Accuracy(
            top1,
            top5,
            f"ImageNet-1k val (50,000 images), single center crop at {input_size}x{input_size}, "
            "this entry's preprocessing; timm's evaluation",
            where,
        ),
        license=_TIMM_SE_LICENSE,
        recipe=recipe,
        origin="ported",
        source=source,
        notes=notes,
    )


_TIMM_OWN = (
    "trained by timm's author with timm's training script; no hyper-parameters or log are "
    "published with the file"
)
_GLUON = (
    "trained by GluonCV (MXNet; https://cv.gluon.ai/model_zoo/classification.html), converted "
    "to PyTorch by timm's author (github.com/rwightman/pytorch-pretrained-gluonresnet)"
)

for _spec in (
    _timm_se("seresnet18_timm_legacy", "in1k",
             f"{_TIMM_GH}/v0.1-weights/seresnet18-4bb0ce65.pth",
             accuracy=(71.74, 90.34, _TIMM_SE_DOCS), recipe=_TIMM_OWN,
             source="timm legacy_seresnet18.in1k (GitHub release file named by its cfg)"),
    _timm_se("seresnet34_timm_legacy", "in1k",
             f"{_TIMM_GH}/v0.1-weights/seresnet34-a4004e63.pth", interpolation="bilinear",
             accuracy=(74.79, 92.13, _TIMM_SE_DOCS), recipe=_TIMM_OWN,
             source="timm legacy_seresnet34.in1k (GitHub release file named by its cfg)"),
    _timm_se("seresnet50_timm", "a1_in1k",
             "https://github.com/huggingface/pytorch-image-models/releases/download/"
             "v0.1-rsb-weights/seresnet50_a1_0-ffa00869.pth", crop_pct=0.95,
             accuracy=(80.02, 94.71, _TIMM_SE_CARDS), recipe=f"{_RSB} A1 (600 epochs)",
             source="timm seresnet50.a1_in1k (GitHub release; HF hub timm/seresnet50.a1_in1k)",
             notes="timm also evaluates it at 288 with crop 1.0: 81.10 / 95.12 (same table)."),
    _timm_se("seresnet50_timm", "a2_in1k",
             "https://github.com/huggingface/pytorch-image-models/releases/download/"
             "v0.1-rsb-weights/seresnet50_a2_0-850de0d9.pth", crop_pct=0.95,
             accuracy=(80.08, 94.74, _TIMM_SE_CARDS), recipe=f"{_RSB} A2 (300 epochs)",
             source="timm seresnet50.a2_in1k (GitHub release; HF hub timm/seresnet50.a2_in1k)",
             notes="timm also evaluates it at 288 with crop 1.0: 81.10 / 95.23 (same table)."),
    _timm_se("seresnet50_timm", "a3_in1k",
             "https://github.com/huggingface/pytorch-image-models/releases/download/"
             "v0.1-rsb-weights/seresnet50_a3_0-317ecd56.pth", input_size=160, crop_pct=0.95,
             accuracy=(75.10, 92.08, _TIMM_SE_CARDS), recipe=f"{_RSB} A3 (100 epochs at 160)",
             source="timm seresnet50.a3_in1k (GitHub release; HF hub timm/seresnet50.a3_in1k)",
             notes="Trained at 160x160 (timm's cfg input); at 224 timm reports 77.02 / 93.07 "
             "(same table)."),
    _timm_se("seresnet50_timm", "ra2_in1k",
             f"{_TIMM_GH}/v0.1-weights/seresnet50_ra_224-8efdb4bb.pth",
             accuracy=(80.26, 95.08, _TIMM_SE_CARDS),
             recipe="timm's RandAugment recipe (the 'ra2' tag); " + _TIMM_OWN,
             source="timm seresnet50.ra2_in1k (GitHub release; HF hub timm/seresnet50.ra2_in1k)"),
    _timm_se("seresnext50_32x4d_timm", "racm_in1k",
             f"{_TIMM_GH}/v0.1-weights/seresnext50_32x4d_racm-a304a460.pth",
             accuracy=(81.27, 95.62, _TIMM_SE_CARDS),
             recipe="timm's RandAugment + CutMix recipe (the 'racm' tag); " + _TIMM_OWN,
             source="timm seresnext50_32x4d.racm_in1k (GitHub release; HF hub "
             "timm/seresnext50_32x4d.racm_in1k)"),
    _timm_se("seresnext50_32x4d_timm", "gluon_in1k",
             "https://github.com/rwightman/pytorch-pretrained-gluonresnet/releases/download/"
             "v0.1/gluon_seresnext50_32x4d-90cf2d6e.pth",
             accuracy=(79.91, 94.82, _TIMM_SE_CARDS), recipe=_GLUON,
             source="timm seresnext50_32x4d.gluon_in1k (GitHub release; HF hub "
             "timm/seresnext50_32x4d.gluon_in1k)"),
    _timm_se("seresnext101_32x4d_timm", "gluon_in1k",
             "https://github.com/rwightman/pytorch-pretrained-gluonresnet/releases/download/"
             "v0.1/gluon_seresnext101_32x4d-cf52900d.pth",
             accuracy=(80.90, 95.31, _TIMM_SE_CARDS), recipe=_GLUON,
             source="timm seresnext101_32x4d.gluon_in1k (GitHub release; HF hub "
             "timm/seresnext101_32x4d.gluon_in1k)"),
):  # fmt: skip
    register_weights(_spec)
