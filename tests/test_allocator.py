"""classicnets.runtime.allocator: freed memory kept in the process, so repeated large tensors stop
page-faulting. Each check runs in a fresh interpreter: the setting is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from classicnets.runtime.allocator import _glibc

needs_glibc = pytest.mark.skipif(_glibc() is None, reason="the C library here is not glibc")

# Page faults of a forward pass whose output is 64 MiB (above glibc's largest mmap threshold),
# in steady state: the fewest of several passes once the first ones have sized the heap. A real
# forward pass, not a bare torch.empty in a loop: with glibc < 2.38 an aligned request cannot
# reuse a freed block of its own size when a small live allocation sits next to it, and a bare
# loop leaves such allocations behind (the heap then grows on every pass).
_PROBE = """
import resource, torch
from classicnets.runtime.allocator import memory_retained
from classicnets.runtime.allocator import retain_freed_memory
{setup}
torch.set_grad_enabled(False)
conv = torch.nn.Conv2d(3, 64, 3, padding=1)
x = torch.randn(1, 3, 512, 512)
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    conv(x).relu_()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults(); faults()
print(min(faults() for _ in range(5)), memory_retained())
"""


def _run(setup: str) -> tuple[int, bool]:
    code = textwrap.dedent(_PROBE).format(setup=setup)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[-2]), out[-1] == "True"


@needs_glibc
def test_retained_memory_is_reused_without_page_faults() -> None:
    default_faults, retained = _run("")
    assert not retained
    # 64 MiB = 16384 pages of 4 KiB, mapped afresh each pass (fewer with huge pages)
    assert default_faults > 1000
    kept_faults, retained = _run("assert retain_freed_memory()")
    assert retained
    assert kept_faults < default_faults / 10


@needs_glibc
def test_disabling_restores_page_faults() -> None:
    faults, retained = _run("retain_freed_memory(); retain_freed_memory(False)")
    assert not retained
    assert faults > 1000


@needs_glibc
def test_deploy_and_train_config_ask_for_it() -> None:
    _, retained = _run(
        "from classicnets import create_model, deploy\n"
        "deploy(create_model('resnet20'), retain_memory=True)"
    )
    assert retained
    _, retained = _run("from classicnets import create_model, deploy\n"
                       "deploy(create_model('resnet20'))")  # fmt: skip
    assert not retained
    from classicnets.training.config import TrainConfig

    assert TrainConfig().retain_memory  # a training process keeps its memory by default


def test_not_glibc_warns_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from classicnets.runtime import allocator

    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    with pytest.warns(UserWarning, match="not glibc"):
        assert allocator.retain_freed_memory() is False
    assert not allocator.memory_retained()
