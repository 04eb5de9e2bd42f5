"""The plain networks of the ResNet paper (He, Zhang, Ren, Sun, arXiv 1512.03385): its baselines,
the residual networks with every shortcut removed.

What the paper defines, and how it maps onto this file:

* Sec. 4.1, Table 1, Table 2, Figure 4: plain-18 and plain-34 on ImageNet, "inspired by the
  philosophy of VGG nets": Table 1's 18- and 34-layer networks (7x7/2 conv, 3x3/2 max pool,
  basic blocks of two 3x3 convolutions at 64/128/256/512 filters, global average pooling,
  1000-way layer), batch norm after every convolution, He initialisation. Table 2 gives their
  10-crop top-1 errors, 27.94% and 28.54%: the deeper one is worse, the degradation problem.
* Sec. 4.2, Figure 6: plain-20/32/44/56/110 on CIFAR-10: the 6n+2-layer networks of that section
  (3x3 conv with 16 filters, three stages of 2n 3x3 layers at 16/32/64 filters), no shortcuts.
  The paper reports them only as curves (Figure 6): no table gives their errors, and plain-110's
  curve is not drawn ("its error is higher than 60%", Sec. 4.2); it is registered for the
  experiment all the same.

"The same number of parameters, depth, width, and computational cost (except for the negligible
element-wise addition)" as their residual counterparts (Sec. 4.1): each plain network is built by
:class:`~classicnets.models.resnet.ResNet` with ``shortcut=None`` and nothing else changed. So its
parameters are those of the option-A ResNet of the same depth (option A adds none); the option-B
ResNet-18/34 have 3 projection shortcuts more (173,824 and 173,824 parameters, Sec. 3.3), which
the figures below leave out. Nothing here downsamples differently: the first 3x3 convolution of
each stage has stride 2, exactly where the residual network's has it.

Deviations from the paper: none in the architecture. No public checkpoint exists for these
networks, so no foreign key layout is declared (their keys are ResNet's, shortcuts aside).
"""

from __future__ import annotations

from typing import Any

from .registry import register_model
from .resnet import CIFAR_DEPTHS, CIFAR_TABLE6, CIFAR_WIDTHS, IMAGENET_DEPTHS, ResNet
from .specs import RESNET_PAPER as PAPER
from .specs import PaperFigures, imagenet_error

_TEN_CROP = "10-crop testing"
_SAME_AS_RESIDUAL = "Sec. 4.1: the same parameters and cost as the residual network of its depth"

FIGURES: dict[str, PaperFigures] = {
    "plain18": PaperFigures(
        source="R1 Table 1, 2",
        paper_macs=1.8e9,
        ref_params=11_515_688,
        ref_gmacs=1.795,
        ref_source="computed; torchvision resnet18 (11,689,512) less its 3 projections (173,824)",
        errors=(imagenet_error(27.94, None, _TEN_CROP, "Table 2"),),
        notes=_SAME_AS_RESIDUAL,
    ),
    "plain34": PaperFigures(
        source="R1 Table 1, 2, 3",
        paper_macs=3.6e9,
        ref_params=21_623_848,
        ref_gmacs=3.644,
        ref_source="computed; equals resnet34_a (option A: no shortcut parameters)",
        errors=(imagenet_error(28.54, 10.02, _TEN_CROP, "Table 2, 3"),),
        notes=_SAME_AS_RESIDUAL,
    ),
    **{
        f"plain{depth}": PaperFigures(
            source="R1 Sec. 4.2, Figure 6 (curves only)",
            paper_params=CIFAR_TABLE6[depth][0],
            ref_params=CIFAR_TABLE6[depth][1],
            ref_gmacs=CIFAR_TABLE6[depth][2],
            ref_source=f"computed; equals resnet{depth} (option A: no shortcut parameters)",
            notes="Paper parameters: Table 6's figure for the ResNet of this depth, which Sec. "
            "4.2 says the plain network shares. Errors: Figure 6 only (no table).",
        )
        for depth in (20, 32, 44, 56, 110)
    },
}


class PlainNet(ResNet):
    """A ResNet with every shortcut removed (``shortcut=None``, which the builders below pass):
    each block computes ``relu(F(x))``. Every other option is :class:`ResNet`'s; those that act
    on a shortcut or a residual branch (``drop_path_rate``, ``zero_init_last``) are refused."""


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    shortcut = options.pop("shortcut", None)
    if shortcut is not None:
        raise ValueError(
            f"a plain network has no shortcuts, so shortcut={shortcut!r} cannot apply; the "
            "residual network of the same depth (resnetN) takes the shortcut options"
        )
    return {"shortcut": None, **options}


def _imagenet(depth: int, **options: Any) -> PlainNet:
    block, layers = IMAGENET_DEPTHS[depth]
    return PlainNet(block=block, layers=layers, **_plain(options))


def _cifar(depth: int, **options: Any) -> PlainNet:
    n = CIFAR_DEPTHS[depth]
    return PlainNet(
        block="basic", layers=(n, n, n), widths=CIFAR_WIDTHS, stem="cifar", **_plain(options)
    )


@register_model(family="plain", paper=PAPER, figures=FIGURES)
def plain18(**options: Any) -> PlainNet:
    """Plain-18 (Table 1, 2): ResNet-18's 7x7 stem and 8 blocks of two 3x3 convolutions, no
    shortcuts."""
    return _imagenet(18, **options)


@register_model(family="plain", paper=PAPER, figures=FIGURES)
def plain34(**options: Any) -> PlainNet:
    """Plain-34 (Table 1, 2; Figure 3 middle): ResNet-34's layers, no shortcuts."""
    return _imagenet(34, **options)


@register_model(family="plain", paper=PAPER, figures=FIGURES, input_size=32, num_classes=10)
def plain20(**options: Any) -> PlainNet:
    """CIFAR plain-20 (Sec. 4.2, Figure 6): ResNet-20's 19 3x3 convolutions at 16/32/64
    filters and its 10-way layer, no shortcuts."""
    return _cifar(20, **options)


@register_model(family="plain", paper=PAPER, figures=FIGURES, input_size=32, num_classes=10)
def plain32(**options: Any) -> PlainNet:
    """CIFAR plain-32 (Sec. 4.2, Figure 6): ResNet-32's layers, no shortcuts."""
    return _cifar(32, **options)


@register_model(family="plain", paper=PAPER, figures=FIGURES, input_size=32, num_classes=10)
def plain44(**options: Any) -> PlainNet:
    """CIFAR plain-44 (Sec. 4.2, Figure 6): ResNet-44's layers, no shortcuts."""
    return _cifar(44, **options)


@register_model(family="plain", paper=PAPER, figures=FIGURES, input_size=32, num_classes=10)
def plain56(**options: Any) -> PlainNet:
    """CIFAR plain-56 (Sec. 4.2, Figure 6): ResNet-56's layers, no shortcuts."""
    return _cifar(56, **options)


@register_model(family="plain", paper=PAPER, figures=FIGURES, input_size=32, num_classes=10)
def plain110(**options: Any) -> PlainNet:
    """CIFAR plain-110 (Sec. 4.2): ResNet-110's layers, no shortcuts. The paper does not draw
    it: it does not train ("its error is higher than 60%")."""
    return _cifar(110, **options)
