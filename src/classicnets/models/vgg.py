"""VGG. Simonyan, Zisserman: "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(arXiv 1409.1556).

What the paper defines, and how it maps onto this file:

* Table 1: six configurations, A, A-LRN, B, C, D, E (11 to 19 weight layers), written here as the
  paper writes them (``CONFIGS``): "conv<receptive field>-<channels>" layers in five blocks, each
  block followed by a 2x2 max pool of stride 2. Every convolution has stride 1 and "same" padding
  and is followed by a ReLU. A-LRN adds local response normalisation after the first layer; C
  has a 1x1 convolution as the last layer of blocks 3-5, where D has a 3x3.
* The classifier (Sec. 2.1): FC-4096, FC-4096, FC-1000 (ReLU after the first two, dropout 0.5
  after each of them, Sec. 3.1), applied to the 7x7x512 map of a 224x224 input.
* LRN (Sec. 2.1): "the parameters of the LRN layer are those of (Krizhevsky et al., 2012)":
  k=2, n=5, alpha=1e-4, beta=0.75 on the *sum* of squares. PyTorch's ``LocalResponseNorm``
  divides alpha by n, so it gets ``alpha=5e-4`` here to compute the same function.
* Dense evaluation (Sec. 3.2): at test time the FC layers become convolutions (the first a 7x7,
  the other two 1x1), the network runs on the whole rescaled image and the class score map is
  spatially averaged. :meth:`VGG.as_fully_convolutional` returns that network; it shares the
  model's weights (no copy) and at 224x224 gives the same logits as the FC form.

Names: ``vgg11`` (A), ``vgg13`` (B), ``vgg16`` (D) and ``vgg19`` (E) are the paper's
configurations A/B/D/E and also torchvision's names for the same networks, so they are registered
once under those names (a ``vgg_a`` beside ``vgg11`` would be the same network twice). The two
configurations torchvision lacks are ``vgg11_lrn`` (A-LRN) and ``vgg16_c`` (C, the 16-layer net
with 1x1 convolutions). Each has a ``_bn`` variant with batch norm after every convolution.

Deviations from the paper, all documented here:

* **Input size.** The paper flattens the 7x7x512 map of a 224 input into FC-4096. To take other
  sizes in the FC form, the head first average-pools adaptively to 7x7 (torchvision's choice).
  For inputs from 224 to 255 pixels the map already is 7x7 and the pooling is the identity, so the
  network is exactly the paper's; smaller inputs (down to 32, the size at which five pools leave
  one pixel) and larger ones work but are not the paper's network. The paper's own way to use
  other sizes is dense evaluation (``as_fully_convolutional()``), which needs at least 224.
* **Batch norm** (the ``_bn`` names) is not in the paper (it postdates it); it is the torchvision
  variant and the one the SENet paper re-implements. Those convolutions keep their bias although
  BN's shift makes it redundant, as torchvision does, so its checkpoints load unchanged.
* **Initialisation.** The paper draws every weight from N(0, 0.01) for net A and initialises the
  deeper nets' first four conv layers and the FC layers from a trained A; it adds that Glorot
  initialisation works without the pre-training. A constructor cannot pre-train, so convolutions
  get He initialisation (fan-out), FC layers N(0, 0.01), biases zero (as torchvision).

SE-VGG-16 (SENet, Hu et al., arXiv 1709.01507, Table 2): the option ``se=SEConfig()`` on any
configuration. SENet Sec. 4 says SE blocks integrate into VGGNet "by insertion after the
non-linearity following each convolution", and Sec. 5 adds batch norm after each convolution of
VGG-16 to train it from scratch; it gives SE-VGG-16 no other description. So every conv layer
(conv -> [BN] -> ReLU) is followed by an SE block on its output (:class:`SEConvLayer`; 13 of them
in VGG-16; the 1x1 convs of C too); LRN and the FC layers get none. ``se_vgg16_bn`` is VGG-16 with
batch norm and SE (r=16): 138,596,784 parameters, 15.470 G mult-adds (paper: 15.48 G; VGG-16 BN
15.47 G in both).
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputShapeError
from ..layers import ClassifierHead, ConvNormAct, LocalResponseNorm, SEConfig, init_weights
from .base import ClassicNet
from .keys import CheckpointFormats, KeyLayout, remap_keys
from .registry import register_model
from .specs import SENET_PAPER, ErrorFigure, PaperFigures, imagenet_error
from .specs import VGG_PAPER as PAPER

# Table 1, column by column: five blocks per configuration, each followed by "maxpool".
CONFIGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "A": (
        ("conv3-64",),
        ("conv3-128",),
        ("conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512"),
    ),
    "A-LRN": (
        ("conv3-64", "LRN"),
        ("conv3-128",),
        ("conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512"),
    ),
    "B": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512"),
    ),
    "C": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256", "conv1-256"),
        ("conv3-512", "conv3-512", "conv1-512"),
        ("conv3-512", "conv3-512", "conv1-512"),
    ),
    "D": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512", "conv3-512"),
    ),
    "E": (
        ("conv3-64", "conv3-64"),
        ("conv3-128", "conv3-128"),
        ("conv3-256", "conv3-256", "conv3-256", "conv3-256"),
        ("conv3-512", "conv3-512", "conv3-512", "conv3-512"),
        ("conv3-512", "conv3-512", "conv3-512", "conv3-512"),
    ),
}

FC_WIDTH = 4096  # FC-4096, FC-4096 (Table 1)
FC_GRID = 7  # the paper's 224 input leaves a 7x7 map after five pools
DENSE_MIN_INPUT = FC_GRID * 32  # the dense form's 7x7 "FC-4096" conv needs a 7x7 map
# Krizhevsky et al. (2012): b = a / (k + alpha * sum a^2)^beta; PyTorch averages the sum (alpha/n).
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


def parse_layer(spec: str) -> tuple[int, int]:
    """``"conv3-64"`` -> (kernel 3, 64 channels), as Table 1 writes a convolution."""
    kind, _, channels = spec.partition("-")
    if not kind.startswith("conv") or not channels.isdigit():
        raise ValueError(f"layer spec must look like 'conv3-64' or be 'LRN', got {spec!r}")
    return int(kind[len("conv") :]), int(channels)


# -- the paper's figures, one entry per registered model -------------------------------------------

#: Our configurations that torchvision implements, by its name.
_TORCHVISION = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}

# Exact counts with 1000 classes (A-LRN has A's: LRN has no parameters) and G mult-adds at 224.
_REF: dict[str, tuple[int, int, float]] = {
    # config: (params, params with BN, G mult-adds)
    "A": (132_863_336, 132_868_840, 7.609),
    "A-LRN": (132_863_336, 132_868_840, 7.609),
    "B": (133_047_848, 133_053_736, 11.308),
    "C": (133_638_952, 133_647_400, 11.771),
    "D": (138_357_544, 138_365_992, 15.470),
    "E": (143_667_240, 143_678_248, 19.632),
}
_TABLE2_PARAMS = {"A": 133e6, "A-LRN": 133e6, "B": 133e6, "C": 134e6, "D": 138e6, "E": 144e6}
# ResNet paper Sec. 3.3: "VGG-16/19 nets (15.3/19.6 billion FLOPs)" (multiply-adds).
_RESNET_PAPER_MACS = {"D": 15.3e9, "E": 19.6e9}

_DENSE = "dense evaluation, single test scale"


_ERRORS: dict[str, tuple[ErrorFigure, ...]] = {
    "A": (imagenet_error(29.6, 10.4, f"{_DENSE} Q=256, trained at S=256", "Table 3"),),
    "A-LRN": (imagenet_error(29.7, 10.5, f"{_DENSE} Q=256, trained at S=256", "Table 3"),),
    "B": (
        imagenet_error(28.7, 9.9, f"{_DENSE} Q=256, trained at S=256", "Table 3"),
        imagenet_error(
            28.2, 9.6, "dense evaluation, test scales Q={224,256,288}, S=256", "Table 4"
        ),
    ),
    "C": (
        imagenet_error(28.1, 9.4, f"{_DENSE} Q=256, trained at S=256", "Table 3"),
        imagenet_error(27.3, 8.8, f"{_DENSE} Q=384, trained at S=[256;512]", "Table 3"),
        imagenet_error(26.3, 8.2, "dense evaluation, Q={256,384,512}, S=[256;512]", "Table 4"),
    ),
    "D": (
        imagenet_error(27.0, 8.8, f"{_DENSE} Q=256, trained at S=256", "Table 3"),
        imagenet_error(25.6, 8.1, f"{_DENSE} Q=384, trained at S=[256;512]", "Table 3"),
        imagenet_error(24.8, 7.5, "dense evaluation, Q={256,384,512}, S=[256;512]", "Table 4"),
        imagenet_error(24.4, 7.2, "multi-crop and dense evaluation combined", "Table 5"),
    ),
    "E": (
        imagenet_error(27.3, 9.0, f"{_DENSE} Q=256, trained at S=256", "Table 3"),
        imagenet_error(25.5, 8.0, f"{_DENSE} Q=384, trained at S=[256;512]", "Table 3"),
        imagenet_error(24.8, 7.5, "dense evaluation, Q={256,384,512}, S=[256;512]", "Table 4"),
        imagenet_error(24.4, 7.1, "multi-crop and dense evaluation combined", "Table 5"),
    ),
}


def _figures(config: str, batch_norm: bool) -> PaperFigures:
    params, params_bn, gmacs = _REF[config]
    tv = _TORCHVISION.get(config)
    if batch_norm:
        return PaperFigures(
            source="not in the paper: VGG with batch norm (torchvision; SENet Table 2 for D)",
            ref_params=params_bn,
            ref_gmacs=gmacs,
            ref_source=f"computed; equals torchvision {tv}_bn" if tv else "computed",
            notes="BN after every convolution (conv biases kept, as torchvision); BN is not "
            "counted in mult-adds.",
        )
    paper_macs = _RESNET_PAPER_MACS.get(config)
    return PaperFigures(
        source="V1 Table 1, 2, 3" + ("; R1 Sec. 3.3 (mult-adds)" if paper_macs else ""),
        paper_params=_TABLE2_PARAMS[config],
        paper_macs=paper_macs,
        ref_params=params,
        ref_gmacs=gmacs,
        ref_source=f"computed; equals torchvision {tv}" if tv else "computed",
        errors=_ERRORS[config],
        notes="R1's 15.3/19.6 G count the convolutions only (15.347/19.508 G); with the FC "
        "layers 15.470/19.632 G."
        if paper_macs
        else "",
    )


#: Each registered configuration by the name of its model without batch norm.
_MODEL_CONFIGS = {
    "vgg11": "A",
    "vgg11_lrn": "A-LRN",
    "vgg13": "B",
    "vgg16_c": "C",
    "vgg16": "D",
    "vgg19": "E",
}

FIGURES: dict[str, PaperFigures] = {
    **{name: _figures(config, False) for name, config in _MODEL_CONFIGS.items()},
    **{f"{name}_bn": _figures(config, True) for name, config in _MODEL_CONFIGS.items()},
    "se_vgg16_bn": PaperFigures(
        source="S1 Sec. 4, 5.1, Table 2",
        paper_macs=15.48e9,
        ref_params=138_596_784,
        ref_gmacs=15.470,
        ref_source="computed: vgg16_bn + an SE block (r=16) after each of the 13 conv layers "
        "(no torchvision/timm model)",
        errors=(
            ErrorFigure(
                25.22,
                7.70,
                "ImageNet val",
                "single 224x224 center crop (re-implementation)",
                "S1 Table 2",
            ),
        ),
        notes="SENet's VGG-16 (BN) re-implementation: 15.47 GFLOPs, 27.02 / 8.81 error.",
    ),
}


# -- the head --------------------------------------------------------------------------------


class VGGHead(nn.Module):
    """FC-4096 -> ReLU -> dropout -> FC-4096 -> ReLU -> dropout -> FC-``num_classes``.

    ``forward(x, pre_logits=True)`` returns the second FC-4096's output (after its dropout), so
    the pre-logits width is ``hidden_size`` (4096), not the 512 channels of the conv features.
    ``reset(num_classes)`` replaces only the last linear layer. :meth:`score_map` is the same head
    applied as convolutions (the paper's dense evaluation).
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, hidden_size: int = FC_WIDTH, drop_rate: float
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_size = hidden_size
        # Identity for a 7x7 map (inputs of 224-255); lets the FC form take other sizes.
        self.pool = nn.AdaptiveAvgPool2d(FC_GRID)
        # 102M weights: skip nn.Linear's own init (seconds on a CPU), init_weights sets them below
        self.fc6 = nn.utils.skip_init(
            nn.Linear,
            in_channels * FC_GRID * FC_GRID,
            hidden_size,
            device=torch.get_default_device(),
        )
        self.act6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout(drop_rate)
        self.fc7 = nn.Linear(hidden_size, hidden_size)
        self.act7 = nn.ReLU(inplace=True)
        # dropout after FC-4096 #2, then FC-num_classes: exactly a ClassifierHead on a vector
        self.classifier = ClassifierHead(hidden_size, num_classes, drop_rate=drop_rate)
        init_weights(self)  # N(0, 0.01) weights, zero biases

    @property
    def fc(self) -> nn.Module:
        """The last linear layer (``Identity`` after ``reset(0)``)."""
        return self.classifier.fc

    def reset(self, num_classes: int) -> None:
        self.classifier.reset(num_classes)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.pool(x).flatten(1)  # (N, 512, 7, 7) -> (N, 25088), channel-major as in Caffe
        x = self.drop6(self.act6(self.fc6(x)))
        x = self.act7(self.fc7(x))
        return self.classifier(x, pre_logits=pre_logits)

    def score_map(self, x: Tensor) -> Tensor:
        """The FC layers as convolutions (7x7, 1x1, 1x1) over a map of at least 7x7.

        Uses the linear layers' own weights, reshaped: nothing is copied, so the result follows
        the model through training and weight loading.
        """
        if x.shape[-2] < FC_GRID or x.shape[-1] < FC_GRID:
            raise InputShapeError(
                f"dense evaluation needs a feature map of at least {FC_GRID}x{FC_GRID} "
                f"(an input of at least {DENSE_MIN_INPUT}x{DENSE_MIN_INPUT}); got "
                f"{x.shape[-2]}x{x.shape[-1]}"
            )
        w6 = self.fc6.weight.view(self.hidden_size, self.in_channels, FC_GRID, FC_GRID)
        x = self.drop6(self.act6(F.conv2d(x, w6, self.fc6.bias)))  # (N, 4096, H-6, W-6)
        x = self.act7(F.conv2d(x, self.fc7.weight[:, :, None, None], self.fc7.bias))
        x = self.classifier.drop(x)
        fc = self.classifier.fc
        if isinstance(fc, nn.Linear):
            x = F.conv2d(x, fc.weight[:, :, None, None], fc.bias)  # (N, classes, H-6, W-6)
        return x


class SEConvLayer(ConvNormAct):
    """A conv layer (conv -> [BN] -> ReLU) followed by an SE block on its output (SE-VGG)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, se: SEConfig, norm: bool
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, norm=norm, bias=True)
        self.se = se.build(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.se(super().forward(x))

    def fused_for_inference(self) -> nn.Module | None:
        """``deploy()``'s replacement: the fused convolution unit, then the SE block."""
        conv = super().fused_for_inference()
        return None if conv is None else nn.Sequential(conv, self.se)


# -- the network -------------------------------------------------------------------------------


class VGG(ClassicNet):
    """A VGG configuration of Table 1: five blocks of convolutions and max pools, then the head.

    ``se``: an SE block after every conv layer's ReLU (SE-VGG; None: none).
    """

    def __init__(
        self,
        *,
        config: str,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        se: SEConfig | None = None,
    ) -> None:
        if config not in CONFIGS:
            raise ValueError(f"config must be one of {', '.join(CONFIGS)}, got {config!r}")
        super().__init__(
            num_classes=num_classes,
            in_chans=in_chans,
            min_input_size=2 ** len(CONFIGS[config]),  # five 2x2 pools leave 1x1 at 32
        )
        self.config = config
        self.batch_norm = batch_norm
        channels, reduction = in_chans, 1
        stages: list[tuple[list[str], int, int]] = []
        for i, block in enumerate(CONFIGS[config]):
            layers: list[nn.Module] = []
            for spec in block:
                if spec == "LRN":
                    layers.append(
                        LocalResponseNorm(
                            LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K
                        )
                    )
                    continue
                kernel, width = parse_layer(spec)
                if se is None:
                    layers.append(ConvNormAct(channels, width, kernel, norm=batch_norm, bias=True))
                else:
                    layers.append(SEConvLayer(channels, width, kernel, se=se, norm=batch_norm))
                channels = width
            layers.append(nn.MaxPool2d(2, stride=2))
            reduction *= 2
            name = f"stage{i + 1}"
            self.add_module(name, nn.Sequential(*layers))
            stages.append(([name], channels, reduction))
        self.set_stages(stages)
        for names, _, _ in stages:
            init_weights(getattr(self, names[0]))
        self.head = VGGHead(channels, num_classes, drop_rate=drop_rate)  # initialises itself

    @property
    def head_hidden_size(self) -> int:
        return self.head.hidden_size

    def as_fully_convolutional(self) -> VGGDense:
        """The paper's dense-evaluation network (Sec. 3.2), sharing this model's weights."""
        return VGGDense(self)


class VGGDense(nn.Module):
    """Dense evaluation: FC layers as convolutions, class score map averaged over space.

    ``forward(x)`` returns (N, num_classes) logits for any input of at least 224x224; at exactly
    224 they equal the FC form's. ``score_map(x)`` returns the map before averaging. The weights
    are the wrapped model's, so loading or training that model updates this one.
    """

    def __init__(self, model: VGG) -> None:
        super().__init__()
        self.model = model

    def score_map(self, x: Tensor) -> Tensor:
        """(N, num_classes, H/32 - 6, W/32 - 6): the class scores of every 224x224 window."""
        self.model.check_input(x)
        h, w = x.shape[-2:]
        if h < DENSE_MIN_INPUT or w < DENSE_MIN_INPUT:
            raise InputShapeError(
                f"dense evaluation of {self.model.model_name} needs an input of at least "
                f"{DENSE_MIN_INPUT}x{DENSE_MIN_INPUT} (its first FC layer is a 7x7 convolution "
                f"over the 1/32 map); got {h}x{w}: rescale the image or use the model's FC form"
            )
        return self.model.head.score_map(self.model.forward_features(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.score_map(x).mean((2, 3))


# -- torchvision key layout ----------------------------------------------------------------------


def torchvision_layout(config: str, batch_norm: bool) -> dict[str, str]:
    """torchvision's module prefixes mapped to this file's, e.g. ``features.3 -> stage2.0.conv``.

    torchvision numbers every module of one flat Sequential (conv, [bn], relu, ..., pool); here
    each block of Table 1 is ``stage<b>`` and each conv layer a ConvNormAct.
    """
    layout: dict[str, str] = {}
    flat = 0
    for b, block in enumerate(CONFIGS[config], start=1):
        for j, spec in enumerate(block):
            if spec != "LRN":
                layout[f"features.{flat}"] = f"stage{b}.{j}.conv"
                if batch_norm:
                    layout[f"features.{flat + 1}"] = f"stage{b}.{j}.bn"
                flat += 2 if batch_norm else 1  # conv [, bn]
            flat += 1  # relu or LRN
        flat += 1  # max pool
    layout["classifier.0"] = "head.fc6"
    layout["classifier.3"] = "head.fc7"
    layout["classifier.6"] = "head.classifier.fc"
    return layout


def _rules(layout: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((rf"^{re.escape(src)}\.", f"{dst}.") for src, dst in layout.items())


_TV_LAYOUTS = {
    f"{tv}{suffix}": torchvision_layout(config, bn)
    for config, tv in _TORCHVISION.items()
    for suffix, bn in (("", False), ("_bn", True))
}
#: torchvision model name -> key rules for :func:`classicnets.weights.remap_keys`.
TORCHVISION_KEY_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    name: _rules(layout) for name, layout in _TV_LAYOUTS.items()
}


def from_torchvision(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision vgg11/13/16/19(_bn) state dict's keys to this module's names.

    The configuration is recognised from the state dict's own layer numbering.
    """

    have = {k.rsplit(".", 1)[0] for k in state_dict if k.startswith("features.")}
    for name, layout in _TV_LAYOUTS.items():
        if have == {src for src in layout if src.startswith("features.")}:
            return remap_keys(state_dict, TORCHVISION_KEY_RULES[name])
    raise ValueError(
        "state dict does not have the layer layout of torchvision vgg11/13/16/19 or their _bn "
        f"variants (its feature layers: {', '.join(sorted(have)[:6])}, ...)"
    )


# -- timm key layout -----------------------------------------------------------------------------

# timm's VGG keeps torchvision's ``features`` and applies the FC layers as convolutions (its
# "pre_logits" ConvMlp: a 7x7 conv, a 1x1 conv), then global-average-pools before ``head.fc``:
# the same numbers as our linear layers, reshaped. Its forward equals our FC form for inputs of
# 32-255 pixels (both pool a smaller map up to 7x7; at 224-255 the map is 7x7) and, from 224 up,
# our dense evaluation (``as_fully_convolutional()``), which is what it computes at any larger size.
_TIMM_HEAD: dict[str, tuple[str, int]] = {
    # timm prefix: (ours, kernel size of timm's conv; 0 = a linear layer there too)
    "pre_logits.fc1": ("head.fc6", FC_GRID),
    "pre_logits.fc2": ("head.fc7", 1),
    "head.fc": ("head.classifier.fc", 0),
}


def from_timm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and reshape the FC convolutions of) a timm vgg11/13/16/19(_bn) state dict."""
    out = from_torchvision(state_dict)  # the conv layers; other keys pass through unchanged
    for prefix, (ours, kernel) in _TIMM_HEAD.items():
        for param in ("weight", "bias"):
            value = out.pop(f"{prefix}.{param}", None)
            if value is not None:
                out[f"{ours}.{param}"] = value.flatten(1) if kernel and param == "weight" else value
    return out


def to_timm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """This module's VGG (configurations A, B, D, E) state dict in timm's key layout.

    Keys alone do not tell C from D or A-LRN from A (the same layers, other kernels or an LRN):
    ``classicnets.export_weights`` checks the model's name first.
    """
    have = {k.rsplit(".", 1)[0] for k in state_dict if k.startswith("stage")}
    back = next(
        (
            {dst: src for src, dst in layout.items()}
            for layout in _TV_LAYOUTS.values()
            if have == {dst for dst in layout.values() if dst.startswith("stage")}
        ),
        None,
    )
    if back is None:
        raise ValueError(
            "only VGG configurations A, B, D and E (vgg11/13/16/19 and _bn) exist in timm; this "
            f"state dict has the layers {', '.join(sorted(have)[:6])}, ..."
        )
    heads = {ours: (prefix, kernel) for prefix, (ours, kernel) in _TIMM_HEAD.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        prefix, _, param = key.rpartition(".")
        if prefix in heads:
            name, kernel = heads[prefix]
            if kernel and param == "weight":  # (out, C*k*k) -> (out, C, k, k), channel-major
                value = value.reshape(value.shape[0], -1, kernel, kernel)
            out[f"{name}.{param}"] = value
        else:
            out[f"{back[prefix]}.{param}"] = value
    return out


CHECKPOINTS = CheckpointFormats(
    "vgg",
    {
        "torchvision": KeyLayout(convert=from_torchvision),
        "timm": KeyLayout(convert=from_timm, export=to_timm),
    },
)


# -- builders ----------------------------------------------------------------------------------


def _vgg(config: str, batch_norm: bool, **options: Any) -> VGG:
    return VGG(config=config, batch_norm=batch_norm, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg11(**options: Any) -> VGG:
    """VGG configuration A: 11 weight layers: 8 conv, 3 FC."""
    return _vgg("A", False, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg11_bn(**options: Any) -> VGG:
    """VGG A with batch norm: 11 weight layers: 8 conv, 3 FC."""
    return _vgg("A", True, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg11_lrn(**options: Any) -> VGG:
    """VGG configuration A-LRN: A with local response normalisation after the first layer."""
    return _vgg("A-LRN", False, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg11_lrn_bn(**options: Any) -> VGG:
    """VGG A-LRN with batch norm: A with local response normalisation after the first layer."""
    return _vgg("A-LRN", True, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg13(**options: Any) -> VGG:
    """VGG configuration B: 13 weight layers: 10 conv, 3 FC."""
    return _vgg("B", False, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg13_bn(**options: Any) -> VGG:
    """VGG B with batch norm: 13 weight layers: 10 conv, 3 FC."""
    return _vgg("B", True, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg16_c(**options: Any) -> VGG:
    """VGG configuration C: 16 weight layers, a 1x1 conv closing blocks 3-5."""
    return _vgg("C", False, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg16_c_bn(**options: Any) -> VGG:
    """VGG C with batch norm: 16 weight layers, a 1x1 conv closing blocks 3-5."""
    return _vgg("C", True, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg16(**options: Any) -> VGG:
    """VGG configuration D: 16 weight layers: 13 conv (all 3x3), 3 FC."""
    return _vgg("D", False, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg16_bn(**options: Any) -> VGG:
    """VGG D with batch norm: 16 weight layers: 13 conv (all 3x3), 3 FC."""
    return _vgg("D", True, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg19(**options: Any) -> VGG:
    """VGG configuration E: 19 weight layers: 16 conv, 3 FC."""
    return _vgg("E", False, **options)


@register_model(family="vgg", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def vgg19_bn(**options: Any) -> VGG:
    """VGG E with batch norm: 19 weight layers: 16 conv, 3 FC."""
    return _vgg("E", True, **options)


@register_model(family="senet", paper=SENET_PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def se_vgg16_bn(**options: Any) -> VGG:
    """SE-VGG-16: VGG-16 with batch norm and an SE block (r=16) after every conv layer."""
    options.setdefault("se", SEConfig())
    return VGG(config="D", batch_norm=True, **options)
