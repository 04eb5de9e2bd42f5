"""Inception v3. Szegedy, Vanhoucke, Ioffe, Shlens, Wojna: "Rethinking the Inception Architecture
for Computer Vision" (arXiv 1512.00567).

What the paper defines, and how it maps onto this file:

* 299x299 input, batch norm after every convolution (no conv biases), ReLU.
* Sec. 3: factorised convolutions. 5x5 -> two 3x3 (Fig. 5, the 35x35 modules); n x n -> 1 x n
  then n x 1 (Fig. 6, the 17x17 modules, n = 7); expanded filter banks of parallel 1x3 and 3x1
  (Fig. 7, the 8x8 modules).
* Sec. 5, Fig. 10: grid-size reduction by parallel stride-2 convolutions and pooling
  (:class:`Reduction35`, :class:`Reduction17`), instead of pooling before or after an inception
  module.
* Sec. 4, Fig. 8: one auxiliary classifier on the last 17x17 layer; the network of Table 3's last
  row ("Inception-v3") has the "BN-auxiliary": its fully-connected layer is batch-normalised too.

This file builds **the architecture the authors released** (TF-slim ``inception_v3``, whose
weights torchvision and timm load), because the paper does not give the branch widths needed to
build its Table 1 network, and the released one is what every checkpoint has. Its widths are
data (``MODULES``: each module's row of widths); it loads torchvision/timm state dicts exactly
(``from_torchvision``). Where
it differs from the paper's text:

* Stem (Table 1: conv 3x3/2 32, conv 3x3 32, conv 3x3 64 padded, pool 3x3/2, conv 3x3 80,
  conv 3x3/2 192, conv 3x3 288): the release has a **1x1** conv 80, a 3x3 conv 192 and a 3x3/2
  max pool, so the 35x35 modules start from 192 channels (256, 288, 288 out), not 288.
* The 35x35 modules keep a **5x5** branch (1x1 48 -> 5x5 64) beside the double-3x3 branch;
  Fig. 5 replaces the 5x5 by two 3x3s. The paper gives no widths for its form, so it is not
  offered as an option (BN-Inception, ``bn_inception``, is the double-3x3 module with widths).
* The auxiliary classifier: 5x5/3 avg pool, 1x1 conv 128, a 5x5 conv 768 (a fully-connected
  layer on the 5x5 map, batch-normalised) and a linear classifier without batch norm
  (``aux_head="released"``, the default, as torchvision). The paper's Fig. 8 as we read it --
  1x1 conv 128, FC 1024, FC 1000 -- with every layer batch-normalised ("BN-auxiliary") is
  ``aux_head="paper"``; no released checkpoint has it.
* Cost: 5.713 G mult-adds and 23,834,568 params (27,161,264 with the auxiliary head), where the
  paper says "5 billion multiply-adds" and "less than 25 million parameters" (abstract) and
  4.8 G (Table 3) for its Table 1 network.
* Dropout before the classifier: 0.2 (the release's keep probability 0.8; torchvision uses 0.5).
* Initialisation is the project's (He for convs, identity BN, N(0, 0.01) for linear layers).

No hidden input transformation: the released weights expect pixels scaled to [-1, 1]
(``CHECKPOINT_INPUT``: mean = std = 0.5). torchvision converts ImageNet-normalised input inside
``forward`` when its weights are loaded; here the data pipeline normalises with
``CHECKPOINT_INPUT``, or ``transform_input=True`` adds a visible first module
(:class:`~classicnets.layers.Renormalize`) that does torchvision's conversion.

Auxiliary classifier and the output contract: as GoogLeNet (see ``ClassicNet.forward_with_aux``):
``forward`` returns logits only; ``forward_with_aux`` returns ``(logits, [aux])`` in training.
Its loss weight is not stated in the paper; 0.4 is the weight of the authors' released training
code (TF-slim ``train_image_classifier``: ``weights=0.4`` on ``AuxLogits``), in
``aux_loss_weights``. Where the 17x17 map is smaller than 17 pixels (inputs under 299), the 5x5/3
pool would leave less than the 5x5 the next conv needs, so the map is pooled adaptively to 5x5
(:class:`~classicnets.layers.AuxPool`); at 299 and above the window is used as released.

Option ``se=SEConfig()`` (not in this paper; SENet, arXiv 1709.01507, Sec. 4, Fig. 2): an SE
block on the output of each of the eleven mixed modules (the two grid reductions included),
after the concatenation, as in SENet's SE-Inception module; the SE weights are ``mixed<i>.se.*``.
The auxiliary classifier reads mixed6e's recalibrated output.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal, NamedTuple, get_args

import torch
from torch import Tensor, nn

from ..layers import (
    SYMMETRIC,
    AuxClassifier,
    AuxPool,
    ClassifierHead,
    ConcatBranches,
    ConvNormAct,
    Normalization,
    Renormalize,
    SEConfig,
    init_weights,
    run_with_aux,
)
from .base import ClassicNet
from .keys import CheckpointFormats, KeyLayout, remap_keys
from .registry import register_model
from .specs import INCEPTION_V3_PAPER as PAPER
from .specs import PaperFigures, imagenet_error

AuxHeadKind = Literal["released", "paper"]

#: The input normalisation the released weights were trained with ([-1, 1] pixels).
CHECKPOINT_INPUT: Normalization = SYMMETRIC
AUX_LOSS_WEIGHT = 0.4
BN_EPS = 1e-3  # the release's batch-norm epsilon

# The modules' widths (the released network; the paper's Fig. 5-7 give the shapes, not all widths).


class Widths35(NamedTuple):
    """35x35 module: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1 ``pool_proj``."""

    b1x1: int
    b5x5_reduce: int
    b5x5: int
    b3x3dbl_reduce: int
    b3x3dbl: int
    pool_proj: int


class Widths17(NamedTuple):
    """17x17 module (n = 7): 1x1 | 1x1 c7 -> 1x7 c7 -> 7x1 | 1x1 c7 -> (7x1, 1x7) x2 | pool."""

    b1x1: int
    c7: int
    b7x7: int
    b7x7dbl: int
    pool_proj: int


class Widths8(NamedTuple):
    """8x8 module: 1x1 | 1x1 -> [1x3, 3x1] | 1x1 -> 3x3 -> [1x3, 3x1] | avg pool -> 1x1."""

    b1x1: int
    b3x3_reduce: int
    b3x3: int
    b3x3dbl_reduce: int
    b3x3dbl: int
    pool_proj: int


class Reduction35Widths(NamedTuple):
    """35x35 -> 17x17 (Fig. 10): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | 3x3/2 max pool."""

    b3x3: int
    b3x3dbl_reduce: int
    b3x3dbl: int


class Reduction17Widths(NamedTuple):
    """17x17 -> 8x8: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | 3x3/2 max pool."""

    b3x3_reduce: int
    b3x3: int
    b7x7x3: int


def _w35(pool_proj: int) -> Widths35:
    return Widths35(64, 48, 64, 64, 96, pool_proj)


def _w17(c7: int) -> Widths17:
    return Widths17(192, c7, 192, 192, 192)


ModuleWidths = Widths35 | Reduction35Widths | Widths17 | Reduction17Widths | Widths8

# The released network after the stem: (module, widths), input 192 channels at 35x35.
MODULES: tuple[tuple[str, ModuleWidths], ...] = (
    ("mixed5b", _w35(32)),  # 192 -> 256, 35x35
    ("mixed5c", _w35(64)),  # -> 288
    ("mixed5d", _w35(64)),  # -> 288
    ("mixed6a", Reduction35Widths(384, 64, 96)),  # Fig. 10  # -> 768, 17x17
    ("mixed6b", _w17(128)),
    ("mixed6c", _w17(160)),
    ("mixed6d", _w17(160)),
    ("mixed6e", _w17(192)),  # -> 768; the auxiliary classifier's input
    ("mixed7a", Reduction17Widths(192, 320, 192)),  # -> 1280, 8x8
    ("mixed7b", Widths8(320, 384, 384, 448, 384, 192)),  # -> 2048
    ("mixed7c", Widths8(320, 384, 384, 448, 384, 192)),  # -> 2048
)
AUX_TAP = "mixed6e"


# -- the paper's figures, one entry per registered model -------------------------------------------

FIGURES: dict[str, PaperFigures] = {
    "inception_v3": PaperFigures(
        source="I3 abstract, Table 3, Table 4",
        paper_macs=5e9,
        ref_params=23_834_568,
        ref_gmacs=5.713,
        ref_params_with_aux=27_161_264,
        ref_source="the released architecture; equals torchvision inception_v3 (with and "
        "without aux) and timm inception_v3",
        errors=(
            imagenet_error(
                21.2, 5.6, "single crop, 48,238 non-blacklisted val images", "I3 Table 3"
            ),
            imagenet_error(19.47, 4.48, "single model, 12 crops", "I3 Table 4"),
            imagenet_error(18.77, 4.2, "single model, 144 crops", "I3 Table 4"),
            imagenet_error(17.3, 3.5, "4 models, multi-crop", "I3 abstract"),
            imagenet_error(
                22.706, 6.550, "torchvision weights (TF port), resize 342, 299 crop", "TV"
            ),
        ),
        accepted_deviation="the abstract's '5 billion multiply-adds' (4.8 G in Table 3) is for "
        "the network of the paper's Table 1, which the paper does not specify to the branch "
        "widths; the released architecture built here (1x1 conv 80 / 3x3 conv 192 / max pool "
        "stem, 5x5 branches kept in the 35x35 modules) costs 5.713 G, as torchvision's and "
        "timm's inception_v3.",
        notes="The paper gives 'less than 25 million parameters' (abstract): 23.83M here.",
    ),
}


# -- blocks ------------------------------------------------------------------------------------


def _conv(
    cin: int, cout: int, k: int | tuple[int, int], *, stride: int = 1, padding: int | None = None
) -> ConvNormAct:
    return ConvNormAct(cin, cout, k, stride=stride, padding=padding, bn_eps=BN_EPS)


def _seq(**layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


def _avg_pool_proj(cin: int, cout: int) -> nn.Sequential:
    return _seq(pool=nn.AvgPool2d(3, stride=1, padding=1), proj=_conv(cin, cout, 1))


class Inception35(ConcatBranches):
    """35x35 module (released form of Fig. 5), widths from :class:`Widths35`."""

    def __init__(self, in_channels: int, w: Widths35) -> None:
        super().__init__(
            b1x1=_conv(in_channels, w.b1x1, 1),
            b5x5=_seq(
                reduce=_conv(in_channels, w.b5x5_reduce, 1), conv=_conv(w.b5x5_reduce, w.b5x5, 5)
            ),
            b3x3dbl=_seq(
                reduce=_conv(in_channels, w.b3x3dbl_reduce, 1),
                conv1=_conv(w.b3x3dbl_reduce, w.b3x3dbl, 3),
                conv2=_conv(w.b3x3dbl, w.b3x3dbl, 3),
            ),
            pool_proj=_avg_pool_proj(in_channels, w.pool_proj),
        )
        self.out_channels = w.b1x1 + w.b5x5 + w.b3x3dbl + w.pool_proj


class Reduction35(ConcatBranches):
    """35x35 -> 17x17 (Fig. 10), widths from :class:`Reduction35Widths`."""

    def __init__(self, in_channels: int, w: Reduction35Widths) -> None:
        super().__init__(
            b3x3=_conv(in_channels, w.b3x3, 3, stride=2, padding=0),
            b3x3dbl=_seq(
                reduce=_conv(in_channels, w.b3x3dbl_reduce, 1),
                conv1=_conv(w.b3x3dbl_reduce, w.b3x3dbl, 3),
                conv2=_conv(w.b3x3dbl, w.b3x3dbl, 3, stride=2, padding=0),
            ),
            pool=nn.MaxPool2d(3, stride=2),
        )
        self.out_channels = w.b3x3 + w.b3x3dbl + in_channels


class Inception17(ConcatBranches):
    """17x17 module (Fig. 6, n = 7), widths from :class:`Widths17`."""

    def __init__(self, in_channels: int, w: Widths17) -> None:
        c7 = w.c7
        super().__init__(
            b1x1=_conv(in_channels, w.b1x1, 1),
            b7x7=_seq(
                reduce=_conv(in_channels, c7, 1),
                conv1=_conv(c7, c7, (1, 7)),
                conv2=_conv(c7, w.b7x7, (7, 1)),
            ),
            b7x7dbl=_seq(
                reduce=_conv(in_channels, c7, 1),
                conv1=_conv(c7, c7, (7, 1)),
                conv2=_conv(c7, c7, (1, 7)),
                conv3=_conv(c7, c7, (7, 1)),
                conv4=_conv(c7, w.b7x7dbl, (1, 7)),
            ),
            pool_proj=_avg_pool_proj(in_channels, w.pool_proj),
        )
        self.out_channels = w.b1x1 + w.b7x7 + w.b7x7dbl + w.pool_proj


class Reduction17(ConcatBranches):
    """17x17 -> 8x8, widths from :class:`Reduction17Widths`."""

    def __init__(self, in_channels: int, w: Reduction17Widths) -> None:
        super().__init__(
            b3x3=_seq(
                reduce=_conv(in_channels, w.b3x3_reduce, 1),
                conv=_conv(w.b3x3_reduce, w.b3x3, 3, stride=2, padding=0),
            ),
            b7x7x3=_seq(
                reduce=_conv(in_channels, w.b7x7x3, 1),
                conv1=_conv(w.b7x7x3, w.b7x7x3, (1, 7)),
                conv2=_conv(w.b7x7x3, w.b7x7x3, (7, 1)),
                conv3=_conv(w.b7x7x3, w.b7x7x3, 3, stride=2, padding=0),
            ),
            pool=nn.MaxPool2d(3, stride=2),
        )
        self.out_channels = w.b3x3 + w.b7x7x3 + in_channels


def _split_1x3_3x1(channels: int) -> ConcatBranches:
    """Fig. 7's expanded filter bank: parallel 1x3 and 3x1 convs, concatenated."""
    return ConcatBranches(
        conv1x3=_conv(channels, channels, (1, 3)), conv3x1=_conv(channels, channels, (3, 1))
    )


class Inception8(ConcatBranches):
    """8x8 module (Fig. 7), widths from :class:`Widths8`; the split branches output twice
    their width."""

    def __init__(self, in_channels: int, w: Widths8) -> None:
        super().__init__(
            b1x1=_conv(in_channels, w.b1x1, 1),
            b3x3=_seq(reduce=_conv(in_channels, w.b3x3_reduce, 1), split=_split_1x3_3x1(w.b3x3)),
            b3x3dbl=_seq(
                reduce=_conv(in_channels, w.b3x3dbl_reduce, 1),
                conv=_conv(w.b3x3dbl_reduce, w.b3x3dbl, 3),
                split=_split_1x3_3x1(w.b3x3dbl),
            ),
            pool_proj=_avg_pool_proj(in_channels, w.pool_proj),
        )
        self.out_channels = w.b1x1 + 2 * w.b3x3 + 2 * w.b3x3dbl + w.pool_proj


_MODULE_CLASS: dict[type[ModuleWidths], type[ConcatBranches]] = {
    Widths35: Inception35,
    Reduction35Widths: Reduction35,
    Widths17: Inception17,
    Reduction17Widths: Reduction17,
    Widths8: Inception8,
}


def _make_module(in_channels: int, widths: ModuleWidths) -> ConcatBranches:
    return _MODULE_CLASS[type(widths)](in_channels, widths)  # type: ignore[call-arg]


class InceptionV3Aux(AuxClassifier):
    """The auxiliary classifier on the last 17x17 module.

    ``"released"``: 5x5/3 avg pool, 1x1 conv 128, 5x5 conv 768 (both BN), global pool, linear.
    ``"paper"`` (Fig. 8, BN-auxiliary): 5x5/3 avg pool, 1x1 conv 128 + BN, FC 1024 + BN, linear.
    """

    def __init__(self, in_channels: int, num_classes: int, *, kind: AuxHeadKind) -> None:
        super().__init__()
        if kind == "released":
            # The 5x5 conv needs >= 5x5; larger maps are pooled globally after it.
            self.pool = AuxPool(5, larger_ok=True)
            self.body = _seq(conv0=_conv(in_channels, 128, 1), conv1=_conv(128, 768, 5, padding=0))
            self.head = ClassifierHead(768, num_classes)
        else:
            self.pool = AuxPool(5)  # the FC takes exactly 5x5x128
            self.body = _seq(
                conv=_conv(in_channels, 128, 1),
                flatten=nn.Flatten(),
                fc=nn.Linear(128 * 5 * 5, 1024, bias=False),
                bn=nn.BatchNorm1d(1024, eps=BN_EPS),
                act=nn.ReLU(inplace=True),
            )
            self.head = ClassifierHead(1024, num_classes)


# -- the network -------------------------------------------------------------------------------


class InceptionV3(ClassicNet):
    """Inception v3 as released: stem, 3 x 35x35, reduction, 4 x 17x17, reduction, 2 x 8x8."""

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        aux_logits: bool = True,
        aux_head: AuxHeadKind = "released",
        transform_input: bool = False,
        se: SEConfig | None = None,
    ) -> None:
        if aux_head not in get_args(AuxHeadKind):
            raise ValueError(f"aux_head must be 'released' or 'paper', got {aux_head!r}")
        if transform_input and in_chans != 3:
            raise ValueError(
                "transform_input converts 3-channel ImageNet-normalised images; in_chans=3"
            )
        # Unpadded convs and pools: 75x75 is the smallest input that leaves 3x3 for mixed7a.
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=75)
        self.aux_logits = aux_logits
        self.aux_loss_weights = (AUX_LOSS_WEIGHT,) if aux_logits else ()

        stem: list[str] = []
        if transform_input:
            self.input_transform = Renormalize(target=CHECKPOINT_INPUT)
            stem.append("input_transform")
        self.conv1a = _conv(in_chans, 32, 3, stride=2, padding=0)  # 299 -> 149
        self.conv2a = _conv(32, 32, 3, padding=0)  # -> 147
        self.conv2b = _conv(32, 64, 3)  # -> 147
        self.pool1 = nn.MaxPool2d(3, stride=2)  # -> 73
        self.conv3b = _conv(64, 80, 1)  # -> 73
        self.conv4a = _conv(80, 192, 3, padding=0)  # -> 71
        self.pool2 = nn.MaxPool2d(3, stride=2)  # -> 35
        stages: list[tuple[list[str], int, int]] = [
            ([*stem, "conv1a", "conv2a", "conv2b"], 64, 2),
            # conv4a (valid 3x3, 192 channels) opens the next stage so that every stage's map
            # stays close to input / reduction even at the 75x75 minimum
            (["pool1", "conv3b"], 80, 4),
        ]
        modules, channels, reduction = ["conv4a", "pool2"], 192, 8
        for name, widths in MODULES:
            if isinstance(widths, Reduction35Widths | Reduction17Widths):
                stages.append((modules, channels, reduction))
                modules, reduction = [], reduction * 2
            block = _make_module(channels, widths)
            if se is not None:
                block.set_se(se.build(block.out_channels))  # type: ignore[arg-type]
            self.add_module(name, block)
            modules.append(name)
            channels = block.out_channels  # type: ignore[assignment]
        stages.append((modules, channels, reduction))
        self.set_stages(stages)
        self.head = ClassifierHead(channels, num_classes, drop_rate=drop_rate)
        if aux_logits:
            self.aux = InceptionV3Aux(768, num_classes, kind=aux_head)
        init_weights(self)

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits and, in training mode, the auxiliary classifier's logits (eval: ``[]``)."""
        if not (self.training and self.aux_logits):
            return self.forward(x), []
        self.check_input(x)
        trunk = [(n, getattr(self, n)) for names in self._stage_modules for n in names]
        features, aux = run_with_aux(x, trunk, {AUX_TAP: self.aux})
        return self.forward_head(features), aux

    def reset_classifier(self, num_classes: int) -> None:
        """New main and auxiliary classifiers (with 0, the auxiliary head returns features)."""
        super().reset_classifier(num_classes)
        if self.aux_logits:
            self.aux.reset(num_classes)


# -- torchvision / timm key layout -----------------------------------------------------------------

_BRANCHES: dict[str, tuple[tuple[str, str], ...]] = {
    "5[bcd]": (
        ("branch1x1", "b1x1"),
        ("branch5x5_1", "b5x5.reduce"),
        ("branch5x5_2", "b5x5.conv"),
        ("branch3x3dbl_1", "b3x3dbl.reduce"),
        ("branch3x3dbl_2", "b3x3dbl.conv1"),
        ("branch3x3dbl_3", "b3x3dbl.conv2"),
        ("branch_pool", "pool_proj.proj"),
    ),
    "6a": (
        ("branch3x3", "b3x3"),
        ("branch3x3dbl_1", "b3x3dbl.reduce"),
        ("branch3x3dbl_2", "b3x3dbl.conv1"),
        ("branch3x3dbl_3", "b3x3dbl.conv2"),
    ),
    "6[bcde]": (
        ("branch1x1", "b1x1"),
        ("branch7x7_1", "b7x7.reduce"),
        ("branch7x7_2", "b7x7.conv1"),
        ("branch7x7_3", "b7x7.conv2"),
        ("branch7x7dbl_1", "b7x7dbl.reduce"),
        ("branch7x7dbl_2", "b7x7dbl.conv1"),
        ("branch7x7dbl_3", "b7x7dbl.conv2"),
        ("branch7x7dbl_4", "b7x7dbl.conv3"),
        ("branch7x7dbl_5", "b7x7dbl.conv4"),
        ("branch_pool", "pool_proj.proj"),
    ),
    "7a": (
        ("branch3x3_1", "b3x3.reduce"),
        ("branch3x3_2", "b3x3.conv"),
        ("branch7x7x3_1", "b7x7x3.reduce"),
        ("branch7x7x3_2", "b7x7x3.conv1"),
        ("branch7x7x3_3", "b7x7x3.conv2"),
        ("branch7x7x3_4", "b7x7x3.conv3"),
    ),
    "7[bc]": (
        ("branch1x1", "b1x1"),
        ("branch3x3_1", "b3x3.reduce"),
        ("branch3x3_2a", "b3x3.split.conv1x3"),
        ("branch3x3_2b", "b3x3.split.conv3x1"),
        ("branch3x3dbl_1", "b3x3dbl.reduce"),
        ("branch3x3dbl_2", "b3x3dbl.conv"),
        ("branch3x3dbl_3a", "b3x3dbl.split.conv1x3"),
        ("branch3x3dbl_3b", "b3x3dbl.split.conv3x1"),
        ("branch_pool", "pool_proj.proj"),
    ),
}

#: torchvision ``inception_v3`` and timm ``inception_v3`` (same names, timm has no aux head).
TORCHVISION_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^Conv2d_1a_3x3\.", "conv1a."),
    (r"^Conv2d_2a_3x3\.", "conv2a."),
    (r"^Conv2d_2b_3x3\.", "conv2b."),
    (r"^Conv2d_3b_1x1\.", "conv3b."),
    (r"^Conv2d_4a_3x3\.", "conv4a."),
    *(
        (rf"^Mixed_({group})\.{old}\.", rf"mixed\1.{new}.")
        for group, branches in _BRANCHES.items()
        for old, new in branches
    ),
    (r"^AuxLogits\.(conv[01])\.", r"aux.body.\1."),
    (r"^AuxLogits\.fc\.", "aux.head.fc."),
    (r"^fc\.", "head.fc."),
)
TIMM_KEY_RULES = TORCHVISION_KEY_RULES
#: Our keys of the auxiliary classifier (``classicnets.weights`` loads with or without it).
AUX_HEAD_PREFIXES: tuple[str, ...] = ("aux.",)


def from_torchvision(
    state_dict: dict[str, torch.Tensor], *, aux_logits: bool = True
) -> dict[str, torch.Tensor]:
    """Rename a torchvision (or timm) Inception v3 state dict's keys to this module's names.

    ``aux_logits=False`` drops torchvision's auxiliary head, for a model built without one.
    """

    if not aux_logits:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("AuxLogits.")}
    return remap_keys(state_dict, TORCHVISION_KEY_RULES)


def from_timm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a timm ``inception_v3`` state dict's keys (timm uses torchvision's names).

    timm's default has no auxiliary head (``AuxLogits`` only with ``aux_logits=True``).
    """
    return from_torchvision(state_dict)


#: timm's ``inception_v3`` uses torchvision's names (its aux head only with aux_logits=True).
CHECKPOINTS = CheckpointFormats(
    "inception_v3",
    {"torchvision": KeyLayout(TORCHVISION_KEY_RULES), "timm": KeyLayout(TORCHVISION_KEY_RULES)},
    aux_head_prefixes=AUX_HEAD_PREFIXES,
)


# -- builders ----------------------------------------------------------------------------------


@register_model(
    family="inception", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS, input_size=299
)
def inception_v3(**options: Any) -> InceptionV3:
    """Inception v3 as released (torchvision/timm layout); aux_head='paper' for BN-auxiliary."""
    return InceptionV3(**options)
