"""The contract every registered model follows.

A model is a sequence of *stages* (the stem, then each resolution stage) followed by a head.
Subclasses build their modules, then describe the stages with :meth:`ClassicNet.set_stages`:
one entry per stage, giving the attribute names of the modules it runs in order and the
channels and reduction of its output. From that one description the base class provides
``forward_features``, ``feature_info``, the multi-scale feature extractor
(``create_model(..., features_only=True)``) and the input checks, so no family repeats them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..errors import InputShapeError


@dataclass(frozen=True)
class FeatureInfo:
    """One stage's output: the module that produces it, its channels and its stride."""

    module: str
    channels: int
    reduction: int


class FeatureInfoList(list[FeatureInfo]):
    """The stages' :class:`FeatureInfo` in order, with timm's accessors: ``channels()``,
    ``reduction()`` and ``module_name()`` give a list over the stages, or one value for
    ``idx`` (an int, negative from the end)."""

    def channels(self, idx: int | None = None) -> int | list[int]:
        return self._get("channels", idx)

    def reduction(self, idx: int | None = None) -> int | list[int]:
        return self._get("reduction", idx)

    def module_name(self, idx: int | None = None) -> str | list[str]:
        return self._get("module", idx)

    def _get(self, field: str, idx: int | None) -> Any:
        if idx is None:
            return [getattr(f, field) for f in self]
        return getattr(self[idx], field)


class ClassicNet(nn.Module):
    """Base class of every registered model: logits from ``forward``, features from stages.

    Attributes every subclass sets: ``num_classes``, ``in_chans``, ``min_input_size`` (the
    smallest height/width the architecture takes), ``num_features`` (channels into the head) and
    ``head`` (a module with ``forward(x, pre_logits)`` and ``reset(num_classes)``).
    """

    head: nn.Module
    model_name: str
    #: Loss weight of each auxiliary classifier, in the order ``forward_with_aux`` returns them
    #: (GoogLeNet: (0.3, 0.3)). Empty for models without auxiliary heads.
    aux_loss_weights: tuple[float, ...] = ()
    #: Recompute stage activations in backward instead of storing them (set_grad_checkpointing).
    grad_checkpointing: bool = False

    def __init__(self, *, num_classes: int, in_chans: int, min_input_size: int) -> None:
        super().__init__()
        if in_chans < 1:
            raise ValueError(f"in_chans must be >= 1, got {in_chans}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.min_input_size = min_input_size
        self.model_name = type(self).__name__
        self._stage_modules: tuple[tuple[str, ...], ...] = ()
        self.feature_info = FeatureInfoList()

    def set_stages(self, stages: Sequence[tuple[Sequence[str], int, int]]) -> None:
        """Describe the stages: ``[(module_names, out_channels, reduction), ...]``."""
        self._stage_modules = tuple(tuple(names) for names, _, _ in stages)
        self.feature_info = FeatureInfoList(
            FeatureInfo(names[-1], channels, reduction) for names, channels, reduction in stages
        )
        for names in self._stage_modules:
            for n in names:
                if not isinstance(getattr(self, n, None), nn.Module):
                    raise AttributeError(f"stage module {n!r} is not a submodule")

    @property
    def num_features(self) -> int:
        return self.feature_info[-1].channels

    @property
    def head_hidden_size(self) -> int:
        """Width of ``forward_head(x, pre_logits=True)`` (and of the output after
        ``reset_classifier(0)``): ``num_features``, unless the head has hidden layers (VGG's
        FC-4096 pair) that come before its last linear layer."""
        return self.num_features

    # -- the contract -------------------------------------------------------------------------

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`InputShapeError` naming what is wrong if ``x`` cannot go through."""
        if x.dim() != 4:
            raise InputShapeError(
                f"{self.model_name} expects a batch of images shaped (N, C, H, W); "
                f"got a tensor of shape {tuple(x.shape)} (add a batch dimension with "
                "x.unsqueeze(0) for a single image)"
            )
        if not x.is_floating_point():
            raise InputShapeError(
                f"{self.model_name} takes float images but got a {x.dtype} tensor; convert it "
                "with x.float() / 255 and normalise it as model.pretrained_cfg says, or feed "
                "images through the weights' preprocessing (weights.transforms())"
            )
        if x.shape[1] != self.in_chans:
            raise InputShapeError(
                f"{self.model_name} was built for {self.in_chans}-channel input but got "
                f"{x.shape[1]} channels; build it with in_chans={x.shape[1]} or convert the images"
            )
        h, w = x.shape[-2], x.shape[-1]
        if h < self.min_input_size or w < self.min_input_size:
            m = self.min_input_size
            raise InputShapeError(
                f"input of {h}x{w} pixels is too small for {self.model_name}: the minimum is "
                f"{m}x{m} (its stages reduce the resolution until nothing is left below that); "
                "resize the images"
            )

    def run_stages(self, x: Tensor, indices: Sequence[int] | None = None) -> list[Tensor]:
        """Run the stages, returning the outputs of those in ``indices`` (all if None)."""
        self.check_input(x)
        wanted = range(len(self._stage_modules)) if indices is None else indices
        last = max(wanted)
        out: list[Tensor] = []
        for i, names in enumerate(self._stage_modules[: last + 1]):
            x = self._run_stage(names, x)
            if i in wanted:
                out.append(x)
        return out

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, before pooling."""
        self.check_input(x)
        for names in self._stage_modules:
            x = self._run_stage(names, x)
        return x

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Trade compute for memory in training: stage activations are recomputed in backward.

        Works on every model through its ``set_stages`` description (sequential stages are
        checkpointed block by block); gradients and batch-norm statistics are unchanged.
        """
        self.grad_checkpointing = enable

    def _run_stage(self, names: tuple[str, ...], x: Tensor) -> Tensor:
        if self.grad_checkpointing and self.training:
            from ..layers.grad_checkpoint import run_checkpointed

            for n in names:
                x = run_checkpointed(getattr(self, n), x)
            return x
        for n in names:
            x = getattr(self, n)(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool, drop out and classify a feature map; ``pre_logits`` stops before the classifier."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_with_aux(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Main logits and the auxiliary classifiers' logits.

        The one output contract for auxiliary heads: ``forward`` always returns a plain logits
        tensor (so scripting, export and evaluation never see a tuple); training code calls
        ``forward_with_aux`` and adds ``sum(w * loss(aux) for w, aux in zip(aux_loss_weights,
        aux_logits))``. Models without auxiliary heads, and every model in eval mode, return an
        empty list. Models with auxiliary heads override this.
        """
        return self.forward(x), []

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a new one with ``num_classes`` outputs (0 removes it)."""
        self.head.reset(num_classes)
        self.num_classes = num_classes
