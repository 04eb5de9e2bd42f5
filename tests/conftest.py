from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _decoded_image_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Splits decoded by the tests are cached under the session's temporary folder, not in the
    user's cache."""
    from classicnets.data import memory

    monkeypatch.setattr(memory, "DECODED_DIR", tmp_path_factory.getbasetemp() / "decoded")
