"""DenseNet. Huang, Liu, van der Maaten, Weinberger: "Densely Connected Convolutional Networks"
(arXiv 1608.06993).

What the paper defines, and how it maps onto this file:

* Sec. 3: a *dense block* in which layer l receives the concatenation of the block's input and
  all earlier layers' outputs, and adds ``growth_rate`` (k) feature maps of its own. Each layer
  is the composite function BN-ReLU-Conv(3x3). *DenseNet-B* puts a bottleneck BN-ReLU-Conv(1x1)
  producing 4k maps before it (``bottleneck=True``). Between blocks a *transition layer*: BN,
  1x1 conv, 2x2 average pool; with *compression* theta < 1 (*DenseNet-C*) the 1x1 conv outputs
  floor(theta * m) of the m maps it gets. *DenseNet-BC* is both, with theta = 0.5.
* Dropout (Sec. 4.2): for the runs without data augmentation, dropout 0.2 "after each
  convolutional layer (except the first one)" (``conv_drop_rate=0.2``; the default 0 is the
  augmented "+" setting). ``drop_rate`` is the contract's dropout before the classifier, which
  the paper does not use.
* Table 1, the ImageNet networks: DenseNet-BC with a 7x7/2 conv of 2k filters and a 3x3/2 max
  pool, four dense blocks of (6, 12, 24, 16) / (6, 12, 32, 32) / (6, 12, 48, 32) / (6, 12, 64, 48)
  layers for DenseNet-121/169/201/264, k = 32, then BN-ReLU, global average pooling and the
  classifier. DenseNet-161 (k = 48, 96-filter stem, (6, 12, 36, 24)) is the authors' released
  model and torchvision's, not in the paper's table (``IMAGENET_CONFIGS``).
* Sec. 4.2 / Table 2, the CIFAR networks: a 3x3 conv with 16 filters (2k for DenseNet-BC), three
  dense blocks of equal size on 32/16/8 maps, transitions between them, then BN-ReLU, global
  average pooling and the classifier. Depth L counts the convolutions and the classifier:
  (L - 4) / 3 layers per block, or (L - 4) / 6 bottleneck layers (``CIFAR_CONFIGS``).
* Memory-efficient mode (``memory_efficient=True``; Pleiss et al., "Memory-Efficient
  Implementation of DenseNets", arXiv 1707.06990): the concatenation, batch norm and ReLU in
  front of each layer's first convolution are not kept for the backward pass but recomputed in it
  (one ``torch.utils.checkpoint`` segment per layer, ending with that convolution; PyTorch stops
  the recomputation once the convolution's input is back, so the convolution itself is not re-run).
  Only the layers' k- or 4k-channel outputs stay in memory, which turns the quadratic activation
  memory of a dense block into linear. The recomputation uses the same batch statistics and does
  not update BN's running averages a second time, so the gradients, the outputs and the running
  statistics are those of the standard mode. It applies whenever autograd records (training, or
  gradients through an eval-mode model); ``benchmarks/densenet_memory.py`` measures what it
  saves.

Table 1's configuration for "DenseNet-264", blocks (6, 12, 64, 48), has 265 weight layers by the
paper's own way of counting (2 x 130 in the blocks, the stem, 3 transitions, the classifier); the
table's blocks are what is built, under the table's name.

Deviations from the paper: none in the architecture. The transition of the authors' code (and
torchvision's) has a ReLU between BN and the 1x1 conv, the composite function of Sec. 3; so does
this one. timm's ``densenet264d`` is a different, deep-stem network; ``densenet264`` here is the
paper's.

Option ``se=SEConfig()`` (not in this paper, nor in the SENet paper, arXiv 1709.01507, which has
no SE-DenseNet): SENet integrates SE with residual networks by recalibrating the non-identity
branch before it merges with the identity (Sec. 4). The DenseNet counterpart chosen here is the
same rule: each dense layer's k new feature maps pass through an SE block before they join the
concatenation, so earlier features are never rescaled twice. With k = 32 and r = 16 that is a
hidden width of 2 (``max(1, k // r)``, layers/se.py); the transitions and the stem get none.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..layers import ClassifierHead, ConvNormAct, SEConfig, init_weights
from ..layers.fused import BatchNormReLU, FusedConv, fold_batchnorm_into, foldable
from .base import ClassicNet
from .keys import CheckpointFormats, KeyLayout
from .registry import register_model
from .specs import DENSENET_PAPER as PAPER
from .specs import ErrorFigure, PaperFigures, imagenet_error

Stem = Literal["imagenet", "cifar"]

# Table 1 (and the released DenseNet-161): depth -> (growth rate k, layers per dense block).
IMAGENET_CONFIGS: dict[int, tuple[int, tuple[int, ...]]] = {
    121: (32, (6, 12, 24, 16)),
    169: (32, (6, 12, 32, 32)),
    201: (32, (6, 12, 48, 32)),
    264: (32, (6, 12, 64, 48)),
    161: (48, (6, 12, 36, 24)),
}

# Table 2: name -> (depth L, growth rate k, DenseNet-BC). Three equal blocks.
CIFAR_CONFIGS: dict[str, tuple[int, int, bool]] = {
    "densenet40_k12": (40, 12, False),
    "densenet100_k12": (100, 12, False),
    "densenet100_k24": (100, 24, False),
    "densenet_bc100_k12": (100, 12, True),
    "densenet_bc250_k24": (250, 24, True),
    "densenet_bc190_k40": (190, 40, True),
}

BOTTLENECK_WIDTH = 4  # DenseNet-B: "each 1x1 convolution produce[s] 4k feature-maps"
BC_COMPRESSION = 0.5  # DenseNet-C/BC: theta = 0.5 in the experiments


def cifar_layers_per_block(depth: int, bottleneck: bool) -> int:
    """Layers per block of a 3-block CIFAR DenseNet of depth L (stem, 2 transitions, classifier)."""
    convs_per_layer = 2 if bottleneck else 1
    n, rest = divmod(depth - 4, 3 * convs_per_layer)
    if rest or n < 1:
        kind = "DenseNet-B(C)" if bottleneck else "DenseNet"
        raise ValueError(
            f"a 3-block {kind} has depth 3 * {convs_per_layer} * n + 4; {depth} is not of that form"
        )
    return n


# -- the paper's figures, one entry per registered model -------------------------------------------

_ONE_CROP, _TEN_CROP = "single 224 center crop", "10-crop testing"

# depth: (exact params with 1000 classes, G mult-adds at 224, Table 3 errors 1-crop, 10-crop)
_IMAGENET_FIGURES: dict[int, tuple[int, float, tuple[ErrorFigure, ...]]] = {
    121: (
        7_978_856,
        2.834,
        (
            imagenet_error(25.02, 7.71, _ONE_CROP, "Table 3"),
            imagenet_error(23.61, 6.66, _TEN_CROP, "Table 3"),
        ),
    ),
    169: (
        14_149_480,
        3.360,
        (
            imagenet_error(23.80, 6.85, _ONE_CROP, "Table 3"),
            imagenet_error(22.08, 5.92, _TEN_CROP, "Table 3"),
        ),
    ),
    201: (
        20_013_928,
        4.291,
        (
            imagenet_error(22.58, 6.34, _ONE_CROP, "Table 3"),
            imagenet_error(21.46, 5.54, _TEN_CROP, "Table 3"),
        ),
    ),
    264: (
        33_337_704,
        5.752,
        (
            imagenet_error(22.15, 6.12, _ONE_CROP, "Table 3"),
            imagenet_error(20.80, 5.29, _TEN_CROP, "Table 3"),
        ),
    ),
    161: (28_681_000, 7.728, ()),
}


def _imagenet_figures(depth: int) -> PaperFigures:
    params, gmacs, errors = _IMAGENET_FIGURES[depth]
    if depth == 161:
        return PaperFigures(
            source="D2 (the authors' released model; not in the paper)",
            ref_params=params,
            ref_gmacs=gmacs,
            ref_source="computed; equals torchvision densenet161",
            notes="k=48, 96-filter stem, blocks (6, 12, 36, 24).",
        )
    tv = depth != 264
    return PaperFigures(
        source="D1 Table 1, 3" + ("; Sec. 4.4 (params)" if depth == 201 else ""),
        paper_params=20e6 if depth == 201 else None,  # "DenseNet-201 with 20M parameters"
        ref_params=params,
        ref_gmacs=gmacs,
        ref_source=f"computed; equals torchvision densenet{depth}" if tv else "computed",
        errors=errors,
    )


# Table 2 (with 10 classes): paper params, exact params, G mult-adds at 32x32, and the errors
# C10 (no augmentation, dropout 0.2), C10+, C100 (dropout 0.2), C100+; None where not reported.
_CIFAR_FIGURES: dict[str, tuple[float, int, float, tuple[float | None, ...]]] = {
    "densenet40_k12": (1.0e6, 1_019_722, 0.265, (7.00, 5.24, 27.55, 24.42)),
    "densenet100_k12": (7.0e6, 6_979_642, 1.770, (5.77, 4.10, 23.79, 20.20)),
    "densenet100_k24": (27.2e6, 27_249_082, 6.889, (5.83, 3.74, 23.42, 19.25)),
    "densenet_bc100_k12": (0.8e6, 769_162, 0.288, (5.92, 4.51, 24.15, 22.27)),
    "densenet_bc250_k24": (15.3e6, 15_324_406, 5.419, (5.19, 3.62, 19.64, 17.60)),
    "densenet_bc190_k40": (25.6e6, 25_624_430, 9.302, (None, 3.46, None, 17.18)),
}
_CIFAR_PROTOCOLS = (
    ("CIFAR-10 test", "no augmentation, dropout 0.2"),
    ("CIFAR-10 test", "C10+: translation and mirroring augmentation"),
    ("CIFAR-100 test", "no augmentation, dropout 0.2"),
    ("CIFAR-100 test", "C100+: translation and mirroring augmentation"),
)


def _cifar_figures(name: str) -> PaperFigures:
    paper_params, params, gmacs, errors = _CIFAR_FIGURES[name]
    return PaperFigures(
        source="D1 Table 2",
        paper_params=paper_params,
        # Table 2 prints one decimal of millions: half of it is 6% of "0.8M"
        rel_tol=max(0.02, 0.05e6 / paper_params),
        ref_params=params,
        ref_gmacs=gmacs,
        errors=tuple(
            ErrorFigure(e, None, dataset, protocol, "Table 2")
            for e, (dataset, protocol) in zip(errors, _CIFAR_PROTOCOLS, strict=True)
            if e is not None
        ),
    )


FIGURES: dict[str, PaperFigures] = {
    **{f"densenet{depth}": _imagenet_figures(depth) for depth in _IMAGENET_FIGURES},
    **{name: _cifar_figures(name) for name in _CIFAR_FIGURES},
}


# -- blocks ------------------------------------------------------------------------------------


def _batch_norm(bn: nn.BatchNorm2d, x: Tensor, *, update_stats: bool) -> Tensor:
    """``bn(x)``; with ``update_stats=False`` the running averages stay as they are.

    Used for the memory-efficient recomputation: the same batch statistics normalise the same
    input again, but the running averages were already updated by the first pass. Scratch
    copies take the update, so autograd saves the same set of tensors as the first time.
    """
    if update_stats or not bn.training:
        return bn(x)
    assert bn.running_mean is not None and bn.running_var is not None
    return F.batch_norm(
        x,
        bn.running_mean.clone(),
        bn.running_var.clone(),
        bn.weight,
        bn.bias,
        training=True,
        momentum=0.0,
        eps=bn.eps,
    )


def _conv_dropout(rate: float) -> nn.Module:
    """Dropout after a convolution; no module call at all at rate 0 (the default)."""
    return nn.Dropout(rate) if rate > 0 else nn.Identity()


class DenseLayer(nn.Module):
    """One layer of a dense block: k new feature maps from all earlier ones.

    Bottleneck (DenseNet-B): BN-ReLU-Conv(1x1, 4k) -> BN-ReLU-Conv(3x3, k); otherwise
    BN-ReLU-Conv(3x3, k). ``conv_drop_rate`` drops out after each convolution. ``se``: an SE
    block on the k new maps, last.
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        *,
        bottleneck: bool,
        conv_drop_rate: float = 0.0,
        memory_efficient: bool = False,
        se: SEConfig | None = None,
    ) -> None:
        super().__init__()
        self.memory_efficient = memory_efficient
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.norm2: nn.BatchNorm2d | None = None
        self.conv2: nn.Conv2d | None = None
        if bottleneck:
            width = BOTTLENECK_WIDTH * growth_rate
            self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, growth_rate, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
        self.drop = _conv_dropout(conv_drop_rate)
        self.se = se.build(growth_rate) if se is not None else nn.Identity()

    def first_conv(self, *features: Tensor, update_stats: bool = True) -> Tensor:
        """Concatenate -> BN -> ReLU -> first conv: the memory-efficient mode's recomputed part."""
        # (N, C_in, H, W): the block's input and all earlier layers (one tensor: no copy)
        x = features[0] if len(features) == 1 else torch.cat(features, 1)
        return self.conv1(
            F.relu(_batch_norm(self.norm1, x, update_stats=update_stats), inplace=True)
        )

    def _first_conv_recomputed(self, features: Sequence[Tensor]) -> Tensor:
        calls = 0

        def run(*feats: Tensor) -> Tensor:
            nonlocal calls
            calls += 1  # the first call is the forward pass, later ones recompute in backward
            return self.first_conv(*feats, update_stats=calls == 1)

        out = checkpoint(run, *features, use_reentrant=False)
        assert isinstance(out, Tensor)
        return out

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        if self.memory_efficient and torch.is_grad_enabled():
            out = self._first_conv_recomputed(features)
        else:
            out = self.first_conv(*features)
        out = self.drop(out)  # (N, 4k or k, H, W)
        if self.norm2 is not None and self.conv2 is not None:  # the bottleneck's 3x3
            out = F.relu(self.norm2(out), inplace=True)  # BN keeps no output for backward
            out = self.drop(self.conv2(out))  # (N, k, H, W)
        return self.se(out)

    def fused_for_inference(self) -> FusedDenseLayer | None:
        """``deploy()``'s replacement: BN -> ReLU in one pass (reading the block's buffer in
        place), and the bottleneck's conv1 -> BN -> ReLU as one fused convolution."""
        norms = [self.norm1] if self.norm2 is None else [self.norm1, self.norm2]
        if not all(foldable(n) for n in norms):
            return None
        if self.norm2 is None or self.conv2 is None:
            return FusedDenseLayer(BatchNormReLU(self.norm1), self.conv1, self.drop, self.se)
        conv1 = copy.deepcopy(self.conv1)
        fold_batchnorm_into(conv1, self.norm2)
        fused = FusedConv(conv1, relu=True)
        return FusedDenseLayer(
            BatchNormReLU(self.norm1), fused, self.drop, self.conv2, self.drop, self.se
        )


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; returns the input and every layer's output, concatenated."""

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        *,
        bottleneck: bool,
        conv_drop_rate: float = 0.0,
        memory_efficient: bool = False,
        se: SEConfig | None = None,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            self[f"layer{i + 1}"] = DenseLayer(
                in_channels + i * growth_rate,
                growth_rate,
                bottleneck=bottleneck,
                conv_drop_rate=conv_drop_rate,
                memory_efficient=memory_efficient,
                se=se,
            )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)  # (N, C_in + L * k, H, W)

    def fused_for_inference(self) -> PreallocatedDenseBlock | None:
        """``deploy()``'s replacement, once every layer is fused: no per-layer concatenation."""
        if not all(isinstance(layer, FusedDenseLayer) for layer in self.values()):
            return None
        return PreallocatedDenseBlock(dict(self.items()), self.out_channels)


class Transition(nn.Module):
    """BN -> ReLU -> 1x1 conv (to ``out_channels``) -> [dropout] -> 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int, *, conv_drop_rate: float = 0.0):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.drop = _conv_dropout(conv_drop_rate)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.drop(self.conv(F.relu(self.norm(x), inplace=True))))

    def fused_for_inference(self) -> nn.Sequential | None:
        """``deploy()``'s replacement: BN -> ReLU in one pass."""
        if not foldable(self.norm):
            return None
        return nn.Sequential(BatchNormReLU(self.norm), self.conv, self.drop, self.pool)


# -- deploy()'s fused forms (``deployment.convert.fuse_convolutions`` swaps them in) -------------


class FusedDenseLayer(nn.Sequential):
    """Inference: a :class:`DenseLayer` on the concatenated maps as one tensor, its
    pre-activation a :class:`BatchNormReLU` and, in a bottleneck layer, conv1 -> BN -> ReLU one
    ``FusedConv`` call."""


class PreallocatedDenseBlock(nn.ModuleDict):
    """Inference: a :class:`DenseBlock` of :class:`FusedDenseLayer` whose layers write into one
    preallocated output and read their input as a channel slice of it, instead of
    concatenating all earlier maps again for every layer. With gradients enabled it
    concatenates, as the paper's block does."""

    def __init__(self, layers: dict[str, nn.Module], out_channels: int) -> None:
        super().__init__(layers)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if torch.is_grad_enabled():
            features = [x]
            for layer in self.values():
                features.append(layer(torch.cat(features, 1)))
            return torch.cat(features, 1)
        n, c, h, w = x.shape
        cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        fmt = torch.channels_last if cl else torch.contiguous_format
        out = torch.empty(
            (n, self.out_channels, h, w), dtype=x.dtype, device=x.device, memory_format=fmt
        )
        out[:, :c].copy_(x)
        for layer in self.values():
            new = layer(out[:, :c])  # every earlier map, read in place
            out[:, c : c + new.shape[1]].copy_(new)
            c += new.shape[1]
        return out


# -- the network -------------------------------------------------------------------------------


class DenseNet(ClassicNet):
    """A DenseNet: stem, dense blocks joined by transitions, BN-ReLU, global pooling, classifier.

    ``stem="imagenet"``: 7x7/2 conv + BN-ReLU + 3x3/2 max pool (Table 1); ``stem="cifar"``: one
    3x3 conv (Sec. 4.2). ``stem_width`` defaults to the paper's: 2k on ImageNet and for CIFAR
    DenseNet-BC, 16 for the other CIFAR networks. ``se``: an SE block on every dense layer's new
    maps (see the module docstring; None: none).
    """

    def __init__(
        self,
        *,
        block_layers: Sequence[int],
        growth_rate: int,
        stem: Stem = "imagenet",
        stem_width: int | None = None,
        bottleneck: bool = True,
        compression: float = BC_COMPRESSION,
        conv_drop_rate: float = 0.0,
        memory_efficient: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        se: SEConfig | None = None,
    ) -> None:
        if stem not in get_args(Stem):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression (theta) must be in (0, 1], got {compression}")
        if growth_rate < 1 or not block_layers or min(block_layers) < 1:
            raise ValueError(
                f"growth_rate ({growth_rate}) and every entry of block_layers "
                f"({tuple(block_layers)}) must be >= 1"
            )
        n_pools = len(block_layers) - 1
        # the stem's two stride-2 steps round up (ceil(s/4)), each transition's pool rounds down
        min_size = 4 * (2**n_pools - 1) + 1 if stem == "imagenet" else 2**n_pools
        super().__init__(num_classes=num_classes, in_chans=in_chans, min_input_size=min_size)
        self.growth_rate = growth_rate
        self.bottleneck = bottleneck
        self.compression = compression
        if stem_width is None:
            paper_bc = bottleneck and compression < 1
            stem_width = 2 * growth_rate if stem == "imagenet" or paper_bc else 16

        stages: list[tuple[list[str], int, int]] = []
        if stem == "imagenet":
            self.stem = ConvNormAct(in_chans, stem_width, 7, stride=2)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            stages.append((["stem"], stem_width, 2))
            first, reduction = ["maxpool"], 4
        else:  # a plain conv: the first dense layer's BN-ReLU comes next
            self.stem = ConvNormAct(in_chans, stem_width, 3, norm=False, act=False, bias=False)
            stages.append((["stem"], stem_width, 1))
            first, reduction = [], 1

        channels = stem_width
        for i, num_layers in enumerate(block_layers):
            names = list(first) if i == 0 else []
            if i > 0:
                out = int(compression * channels)  # floor(theta * m)
                self.add_module(
                    f"transition{i}", Transition(channels, out, conv_drop_rate=conv_drop_rate)
                )
                names.append(f"transition{i}")
                channels, reduction = out, reduction * 2
            block = DenseBlock(
                num_layers,
                channels,
                growth_rate,
                bottleneck=bottleneck,
                conv_drop_rate=conv_drop_rate,
                memory_efficient=memory_efficient,
                se=se,
            )
            self.add_module(f"block{i + 1}", block)
            names.append(f"block{i + 1}")
            channels = block.out_channels
            stages.append((names, channels, reduction))
        self.final_norm = nn.BatchNorm2d(channels)
        self.final_act = nn.ReLU(inplace=True)
        stages[-1][0].extend(["final_norm", "final_act"])
        self.set_stages(stages)
        self.head = ClassifierHead(channels, num_classes, drop_rate=drop_rate)
        init_weights(self)

    @property
    def memory_efficient(self) -> bool:
        """Whether the dense layers recompute instead of storing; settable on a built model."""
        return all(layer.memory_efficient for layer in self._dense_layers())

    @memory_efficient.setter
    def memory_efficient(self, value: bool) -> None:
        for layer in self._dense_layers():
            layer.memory_efficient = value

    def _dense_layers(self) -> list[DenseLayer]:
        return [m for m in self.modules() if isinstance(m, DenseLayer)]


# -- torchvision key layout ----------------------------------------------------------------------

TORCHVISION_KEY_RULES: tuple[tuple[str, str], ...] = (
    (r"^features\.conv0\.", "stem.conv."),
    (r"^features\.norm0\.", "stem.bn."),
    # "norm.1" is the layout of torchvision's published files, "norm1" of its current modules
    (
        r"^features\.denseblock(\d+)\.denselayer(\d+)\.(norm|conv)\.?([12])\.",
        r"block\1.layer\2.\3\4.",
    ),
    (r"^features\.transition(\d+)\.", r"transition\1."),
    (r"^features\.norm5\.", "final_norm."),
    (r"^classifier\.", "head.fc."),
)


CHECKPOINTS = CheckpointFormats("densenet", {"torchvision": KeyLayout(TORCHVISION_KEY_RULES)})


# -- builders ----------------------------------------------------------------------------------


def _imagenet(depth: int, **options: Any) -> DenseNet:
    k, layers = IMAGENET_CONFIGS[depth]
    options.setdefault("growth_rate", k)
    return DenseNet(block_layers=layers, stem="imagenet", **options)


def _cifar(name: str, **options: Any) -> DenseNet:
    depth, k, bc = CIFAR_CONFIGS[name]
    n = cifar_layers_per_block(depth, bc)
    options.setdefault("growth_rate", k)
    options.setdefault("bottleneck", bc)
    options.setdefault("compression", BC_COMPRESSION if bc else 1.0)
    return DenseNet(block_layers=(n, n, n), stem="cifar", **options)


@register_model(family="densenet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def densenet121(**options: Any) -> DenseNet:
    """DenseNet-BC-121 (ImageNet, k=32): dense blocks (6, 12, 24, 16), theta 0.5."""
    return _imagenet(121, **options)


@register_model(family="densenet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def densenet169(**options: Any) -> DenseNet:
    """DenseNet-BC-169 (ImageNet, k=32): dense blocks (6, 12, 32, 32), theta 0.5."""
    return _imagenet(169, **options)


@register_model(family="densenet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def densenet201(**options: Any) -> DenseNet:
    """DenseNet-BC-201 (ImageNet, k=32): dense blocks (6, 12, 48, 32), theta 0.5."""
    return _imagenet(201, **options)


@register_model(family="densenet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def densenet264(**options: Any) -> DenseNet:
    """DenseNet-BC-264 (ImageNet, k=32): dense blocks (6, 12, 64, 48), theta 0.5."""
    return _imagenet(264, **options)


@register_model(family="densenet", paper=PAPER, figures=FIGURES, checkpoints=CHECKPOINTS)
def densenet161(**options: Any) -> DenseNet:
    """DenseNet-BC-161 (ImageNet, k=48): dense blocks (6, 12, 36, 24), theta 0.5."""
    return _imagenet(161, **options)


@register_model(
    family="densenet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def densenet40_k12(**options: Any) -> DenseNet:
    """CIFAR DenseNet (L=40, k=12): three dense blocks of 12 layers."""
    return _cifar("densenet40_k12", **options)


@register_model(
    family="densenet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def densenet100_k12(**options: Any) -> DenseNet:
    """CIFAR DenseNet (L=100, k=12): three dense blocks of 32 layers."""
    return _cifar("densenet100_k12", **options)


@register_model(
    family="densenet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def densenet100_k24(**options: Any) -> DenseNet:
    """CIFAR DenseNet (L=100, k=24): three dense blocks of 32 layers."""
    return _cifar("densenet100_k24", **options)


@register_model(
    family="densenet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def densenet_bc100_k12(**options: Any) -> DenseNet:
    """CIFAR DenseNet-BC (L=100, k=12): three dense blocks of 16 layers."""
    return _cifar("densenet_bc100_k12", **options)


@register_model(
    family="densenet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def densenet_bc250_k24(**options: Any) -> DenseNet:
    """CIFAR DenseNet-BC (L=250, k=24): three dense blocks of 41 layers."""
    return _cifar("densenet_bc250_k24", **options)


@register_model(
    family="densenet",
    paper=PAPER,
    figures=FIGURES,
    checkpoints=CHECKPOINTS,
    input_size=32,
    num_classes=10,
)
def densenet_bc190_k40(**options: Any) -> DenseNet:
    """CIFAR DenseNet-BC (L=190, k=40): three dense blocks of 31 layers."""
    return _cifar("densenet_bc190_k40", **options)
