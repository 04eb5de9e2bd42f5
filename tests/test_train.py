"""Training: bit-exact resumption, interruption, divergence, distributed equivalence, one
training per run directory.

All runs are ResNet-20 on a slice of the embedded digits at 8x8 (the network's stages then see
8, 4 and 2 pixels), a few optimizer steps each, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from classicnets.errors import ClassicNetsError
from classicnets.runtime.checkpoint_io import load
from classicnets.training.loop import TrainingDivergedError, train
from helpers import assert_same_run, final_state, tiny

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_resume_is_bit_exact(tmp_path: Path) -> None:
    full = train(tiny(tmp_path / "full"))
    assert full.status == "completed" and full.step == 6
    # stop mid-epoch (step 4 of 6: epoch 2, batch 1), then resume into the same directory
    stopped = train(tiny(tmp_path / "split", stop_after=4))
    assert stopped.status == "stopped" and stopped.step == 4
    resumed = train(tiny(tmp_path / "split"))
    assert resumed.status == "completed" and resumed.step == 6
    assert_same_run(final_state(tmp_path / "full"), final_state(tmp_path / "split"))
    files = {p.name for p in (tmp_path / "split").iterdir()}
    assert {"config.toml", "metrics.csv", "last.pt", "best.pt", "model.safetensors"} <= files
    assert {"loss.png", "accuracy.png", "confusion_matrix.png", "summary.json"} <= files
    rows = (tmp_path / "split" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,step,lr,train_loss")


def test_warmup_until_train_error_switches_when_the_error_drops_and_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ResNet-110's warm-up: warmup_lr until the running training error is below the
    threshold, then the schedule's lr; a run stopped inside the warm-up switches at the same
    step after resuming, and ends bit for bit where the uninterrupted run ends."""
    import classicnets.training.loop as train_module
    from classicnets.training.schedule import LRSchedule

    hits: list[tuple[int, int, int]] = []  # (step, errors, seen) as the loop reports them
    lrs: list[float] = []
    feed, set_lr = LRSchedule.on_train_step, train_module.set_lr

    def record_hits(self: LRSchedule, step: int, correct: int, seen: int) -> bool:
        hits.append((step, seen - correct, seen))
        return feed(self, step, correct, seen)

    monkeypatch.setattr(LRSchedule, "on_train_step", record_hits)
    monkeypatch.setattr(
        train_module, "set_lr", lambda opt, lr: (lrs.append(lr), set_lr(opt, lr))[1]
    )
    warm = {
        "epochs": 3,  # 9 steps
        "lr": 0.1,
        "schedule": "constant",
        "schedule_unit": "step",
        "warmup_mode": "constant",
        "warmup_lr": 0.02,
        "warmup": 8,  # the upper bound
        "warmup_until_train_error": 0.85,
        "warmup_error_window": 2,
    }
    train(tiny(tmp_path / "full", **warm))
    ended = load(tmp_path / "full" / "last.pt")["schedule"]["warmup_ended_at"]
    window_errors = [
        sum(e for _, e, _ in hits[i - 1 : i + 1]) / sum(n for _, _, n in hits[i - 1 : i + 1])
        for i in range(1, len(hits))
    ]  # window_errors[j]: the window that ends at step j + 2
    first_below = next(j + 2 for j, err in enumerate(window_errors) if err < 0.85)
    assert ended == first_below, (ended, window_errors)
    assert 2 < ended < 8  # ended by the error test, not at the first full window or the bound
    assert lrs == [0.02] * ended + [0.1] * (9 - ended)
    summary = (tmp_path / "full" / "summary.json").read_text()
    assert f'"warmup_ended_at_step": {ended}' in summary
    # stop one step before the switch (the window is mid-way), resume, finish
    train(tiny(tmp_path / "split", stop_after=ended - 1, **warm))
    train(tiny(tmp_path / "split", **warm))
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "split")
    assert_same_run(a, b)
    assert a["schedule"] == b["schedule"]


class _TinyNet(torch.nn.Module):
    """Conv -> BN -> ReLU -> pool -> linear, with the model contract's forward_with_aux: small
    enough for torch.compile to build its kernels in seconds."""

    def __init__(self, num_classes: int = 10, in_chans: int = 3, **_: object) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(in_chans, 4, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self(x), []


@pytest.mark.slow  # a cold torch.compile of even this tiny network takes ~35 s on 2 cores
def test_compile_trains_like_eager_and_saves_plain_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--compile: the compiled module (around DDP when distributed) trains the same weights as
    eager within float tolerance; checkpoints, EMA and model.safetensors hold the plain keys
    (no ``_orig_mod.``), so they load into an uncompiled model."""
    from safetensors.torch import load_file

    import classicnets.training.setup as train_module

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # a cold compile
    monkeypatch.setattr(train_module, "create_model", lambda name, **kw: _TinyNet(**kw))
    changes = {"model_options": {}, "epochs": 1, "warmup": 0, "schedule": "constant"}
    train(tiny(tmp_path / "eager", **changes))
    from torch._dynamo.utils import counters

    counters.clear()
    train(tiny(tmp_path / "compiled", compile=True, **changes))
    assert counters["stats"]["unique_graphs"] >= 1  # really compiled, not silently eager
    a, b = load(tmp_path / "eager" / "last.pt"), load(tmp_path / "compiled" / "last.pt")
    assert b["step"] == 3 and b["config"]["compile"] is True
    assert list(b["model"]) == list(a["model"]) == list(_TinyNet().state_dict())
    assert list(b["ema"]["module"]) == list(a["ema"]["module"])
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    final = load_file(str(tmp_path / "compiled" / "model.safetensors"))
    assert sorted(final) == sorted(a["model"])


def test_compile_without_a_cpp_compiler_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch._inductor import cpp_builder, exc

    from classicnets.training.config import ConfigError

    def no_compiler() -> str:
        raise exc.InvalidCxxCompiler

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    with pytest.raises(ConfigError, match=r"needs a working C\+\+ compiler.*without --compile"):
        train(tiny(tmp_path / "nocc", compile=True))
    assert not (tmp_path / "nocc" / "last.pt").exists()


def _cli(run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "classicnets", "train", "--quiet", "--run-dir", str(run_dir),
        "--model", "resnet20", "--epochs", "3", "--batch-size", "16", "--lr", "0.05",
        "--threads", "1",
        "--set", "input_size=8", "--set", "train_subset=48", "--set", "test_subset=24",
        "--set", "tensorboard=false", "--set", "checkpoint_every=1",
        "--set", "model_options={drop_rate = 0.2}", *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}


def _wait_for_checkpoint(proc: subprocess.Popen, path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no checkpoint appeared")
        time.sleep(0.05)


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    from classicnets.cli import main

    args = [*_cli(tmp_path / "ref", "--epochs", "6")[3:]]
    assert main(args) == 0  # the uninterrupted reference, in this process: 18 steps
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli(run, "--epochs", "6"), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _wait_for_checkpoint(proc, run / "last.pt")
    time.sleep(random.uniform(0.0, 0.3))  # an arbitrary point: mid-step, mid-save or mid-eval
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load(run / "last.pt")["step"]  # the checkpoint survived the kill intact
    assert 1 <= killed_at < 18
    resumed = subprocess.run(_cli(run, "--epochs", "6"), env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {run / 'last.pt'} at step {killed_at}" in resumed.stdout
    a, b = load(tmp_path / "ref" / "last.pt"), load(run / "last.pt")
    assert a["step"] == b["step"] == 18
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_save_and_exit(tmp_path: Path, signum: signal.Signals) -> None:
    run = tmp_path / "term"
    proc = subprocess.Popen(
        _cli(run, "--epochs", "50"), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for_checkpoint(proc, run / "last.pt")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err.decode()
    assert signum.name.encode() in err and b"--resume" in out
    step = load(run / "last.pt")["step"]
    assert 1 <= step < 150


#: A training that waits after each epoch (its last.pt written, the directory held) until the
#: file argv[2] exists; argv[1] is created when it first waits. argv[3:]: `classicnets` args.
_PAUSED_TRAINING = """
import sys, time
from pathlib import Path
import classicnets.training.loop as loop
end_epoch = loop._end_epoch
def end_epoch_then_wait(run, out, tb):
    end_epoch(run, out, tb)
    Path(sys.argv[1]).touch()
    while not Path(sys.argv[2]).exists():
        time.sleep(0.02)
loop._end_epoch = end_epoch_then_wait
from classicnets.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _paused_training(run: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A training into ``run`` in a subprocess, waiting after its first epoch (step 3 of 9) until
    the returned file is created."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    command = [sys.executable, "-c", _PAUSED_TRAINING, str(ready), str(go), *_cli(run)[3:]]
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_checkpoint(proc, ready)
    return proc, go


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def test_a_run_directory_in_use_refuses_a_second_training(tmp_path: Path) -> None:
    """While a training holds its run directory, a second one into it (the command, or train()
    itself) is refused in one line naming the first; it touches none of the first's files, and
    the first goes on to finish normally."""
    run = tmp_path / "run"
    first, go = _paused_training(run, tmp_path)
    try:
        held = _files(run)
        second = subprocess.run(_cli(run), env=_env(), capture_output=True, text=True)
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stderr.count("\n") == 1, second.stderr  # one line, no traceback
        assert f"{run} is in use by another training (pid {first.pid} on " in second.stderr
        assert "wait for it to finish or use another --run-dir" in second.stderr
        with pytest.raises(ClassicNetsError, match=rf"another training \(pid {first.pid} "):
            train(tiny(run))
        assert _files(run) == held
        go.touch()
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()  # a no-op once it has finished
    assert first.returncode == 0, err.decode()
    assert load(run / "last.pt")["step"] == 9 and (run / "summary.json").is_file()
    assert not (run / ".lock").exists()


def test_a_killed_training_leaves_its_run_directory_free(tmp_path: Path) -> None:
    """SIGKILL gives the holder no chance to release: the kernel drops its lock, and the next
    training into the directory resumes where it stopped."""
    run = tmp_path / "run"
    first, _ = _paused_training(run, tmp_path)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert (run / ".lock").is_file()  # the dead holder's record is left, and is no lock
    resumed = subprocess.run(_cli(run), env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {run / 'last.pt'} at step 3" in resumed.stdout
    assert load(run / "last.pt")["step"] == 9 and not (run / ".lock").exists()


def test_nan_loss_stops_naming_the_step(tmp_path: Path) -> None:
    # an infinite learning rate: the first update is applied, the second loss is NaN
    cfg = tiny(tmp_path / "nan", lr=float("inf"), warmup=0, schedule="constant", ema_decay=None)
    with pytest.raises(TrainingDivergedError, match=r"at step 2 \(epoch 1, batch 2\)"):
        train(cfg)


def test_nan_loss_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss that turns NaN at step 3: the run stops naming that step and the checkpoint of
    step 2 is left as it was (finite weights, the update of step 3 not applied)."""
    import classicnets.training.setup as train_module

    class TurnsNaN(_TinyNet):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:
                TurnsNaN.calls += 1
            out = super().forward(x)
            return out * float("nan") if TurnsNaN.calls == 3 else out

    monkeypatch.setattr(train_module, "create_model", lambda name, **kw: TurnsNaN(**kw))
    run = tmp_path / "nan"
    cfg = tiny(run, model_options={}, checkpoint_every=1, ema_decay=None)
    with pytest.raises(TrainingDivergedError, match=r"at step 3 \(epoch 1, batch 3\)") as e:
        train(cfg)
    assert f"The last good checkpoint is {run / 'last.pt'}" in str(e.value)
    ckpt = load(run / "last.pt")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_distributed_two_processes_match_one_with_accumulation(tmp_path: Path) -> None:
    """2 gloo processes x 8 images == 1 process x 2 micro-batches of 8 (same global batch).

    The per-process batch norm statistics are the same in both (each half of the batch is
    normalised on its own), and DDP averages the two halves' gradients exactly as
    accumulation sums the halves' gradients scaled by 1/2. The error-driven warm-up decides on
    the global batch's training error, so both switch at the same step (step 3: 15 of 16
    wrong, below 95%; the processes' halves alone would disagree).
    """
    common = ["--set", "model_options={}", "--epochs", "2", "--set", "ema_decay=0"]
    for kv in ("warmup_mode=constant", "warmup=2", "warmup_lr=0.05",
               "warmup_until_train_error=0.95", "warmup_error_window=1"):  # fmt: skip
        common += ["--set", kv]
    one = subprocess.run(
        [*_cli(tmp_path / "one"), *common, "--set", "grad_accum=2"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(29500 + os.getpid() % 1000),
            "-m",
            "classicnets",
            *_cli(tmp_path / "two")[3:],
            *common,
        ],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert two.returncode == 0, two.stderr
    a, b = load(tmp_path / "one" / "last.pt"), load(tmp_path / "two" / "last.pt")
    assert b["world_size"] == 2 and a["step"] == b["step"] == 6
    assert a["schedule"]["warmup_ended_at"] == b["schedule"]["warmup_ended_at"] < 6
    for k, v in a["model"].items():
        if "running" in k or "num_batches" in k:
            continue  # DDP keeps rank 0's BN statistics; accumulation updates them twice
        torch.testing.assert_close(v, b["model"][k], rtol=1e-4, atol=1e-5, msg=k)
    assert abs(a["history"][0]["train_loss"] - b["history"][0]["train_loss"]) < 1e-5


def test_recipe_options_run_together(tmp_path: Path) -> None:
    """RMSProp, plateau, label smoothing, mixup/cutmix, clipping, bf16, channels_last, accum."""
    cfg = tiny(
        tmp_path / "opts",
        optimizer="rmsprop",
        lr=0.01,
        schedule="plateau",
        plateau_patience=1,
        warmup=0,
        label_smoothing=0.1,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        mix_prob=0.5,
        grad_clip_norm=2.0,
        precision="bf16",
        channels_last=True,
        grad_accum=2,
        epochs=1,
    )
    result = train(cfg)
    assert result.status == "completed" and result.step == 3
    ckpt = load(tmp_path / "opts" / "last.pt")
    assert "square_avg" in next(iter(ckpt["optimizer"]["state"].values()))
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_auxiliary_losses_come_from_the_model_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import classicnets.training.setup as train_module
    from classicnets import create_model

    seen: list[int] = []

    def with_aux(name: str, **kwargs: object) -> torch.nn.Module:
        model = create_model(name, **kwargs)
        model.aux_loss_weights = (0.3,)

        def forward_with_aux(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            logits = model(x)
            seen.append(x.shape[0])
            return logits, [logits * 0.5] if model.training else []

        model.forward_with_aux = forward_with_aux
        return model

    plain = train(tiny(tmp_path / "plain", epochs=1, ema_decay=None))
    monkeypatch.setattr(train_module, "create_model", with_aux)
    aux = train(tiny(tmp_path / "aux", epochs=1, ema_decay=None))
    assert len(seen) == 3 and plain.step == aux.step == 3
    loss_plain = load(tmp_path / "plain" / "last.pt")["history"][0]["train_loss"]
    loss_aux = load(tmp_path / "aux" / "last.pt")["history"][0]["train_loss"]
    assert loss_aux > loss_plain  # the weighted auxiliary loss is added
