"""Multi-scale feature maps from any registered model (``features_only=True``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .base import ClassicNet, FeatureInfoList


class FeatureExtractor(nn.Module):
    """Wraps a model and returns the feature maps of the stages in ``out_indices``.

    The classifier is removed; stages after the last requested one are never run.
    """

    def __init__(self, model: ClassicNet, *, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        n = len(model.feature_info)
        indices = list(range(n)) if out_indices is None else [i % n for i in out_indices]
        bad = [i for i in (out_indices or []) if not -n <= i < n]
        if bad:
            raise ValueError(
                f"out_indices {bad} out of range: {model.model_name} has {n} feature stages "
                f"(0..{n - 1}): {', '.join(f.module for f in model.feature_info)}"
            )
        model.reset_classifier(0)
        self.model = model
        self.out_indices = tuple(sorted(set(indices)))
        self.feature_info = FeatureInfoList(model.feature_info[i] for i in self.out_indices)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model.run_stages(x, self.out_indices)
