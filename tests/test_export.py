"""Export: ONNX (run with onnxruntime), TorchScript and torch.export, each checked against eager.

The default suite exports one representative per family (its smallest registered model, so a
new family is covered without edits); the whole registry runs under the ``slow`` marker and in
benchmarks/export_matrix.py (its run over the registry: benchmarks/results/export_matrix_all.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor

import classicnets
from classicnets.deployment.export import (
    FORMATS,
    FP32_SLACK,
    ExportError,
    export_model,
)
from classicnets.tools.untrained import stand_in_batchnorm
from helpers import input_size
from representatives import smallest_per_family

ALL = classicnets.list_models()


REPRESENTATIVES = smallest_per_family()
NEEDS = {"onnx": ("onnxscript", "onnxruntime")}


def _check(name: str, fmt: str, tmp_path: Path) -> None:
    for module in NEEDS.get(fmt, ()):
        pytest.importorskip(module, reason=f"{fmt} export needs {module} (the dev extra)")
    model = classicnets.create_model(name, num_classes=10)
    size = input_size(model)
    stand_in_batchnorm(model, torch.randn(8, 3, size, size))
    check = export_model(model, tmp_path / f"{name}{FORMATS[fmt]}", fmt=fmt, input_size=size,
                         dynamic_batch=fmt != "torchscript")  # fmt: skip
    if check.exact_error is None:
        assert check.max_rel_error <= 1e-4
    else:  # deep untrained networks: within float32 rounding of the float64 model
        assert check.exact_error <= max(1e-4, FP32_SLACK * check.eager_exact_error)  # type: ignore[operator]
    assert check.checked_batch == 3  # not the example's batch of 2: the batch is dynamic


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_export_representative(name: str, fmt: str, tmp_path: Path) -> None:
    _check(name, fmt, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", ALL)
def test_export_registry(name: str, fmt: str, tmp_path: Path) -> None:
    _check(name, fmt, tmp_path)


def test_export_check_catches_a_wrong_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import classicnets.deployment.export as ex

    real = ex.load_exported
    monkeypatch.setattr(ex, "load_exported", lambda p, f: lambda x: real(p, f)(x) * 1.001)
    model = classicnets.create_model("resnet20")
    with pytest.raises(ExportError, match="differs from eager"):
        export_model(model, tmp_path / "m.pt2", fmt="exported-program", input_size=32)


def test_export_reports_the_reason_and_names_pt2(tmp_path: Path) -> None:
    class Branchy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if float(x.sum()) > 0 else -x  # data-dependent: torch.export refuses

    with pytest.raises(ExportError, match=r"exported-program export failed: .+"):
        export_model(Branchy(), tmp_path / "b.pt2", fmt="exported-program", input_size=4)
    with pytest.raises(ValueError, match=r"b\.pt2"):
        export_model(Branchy(), tmp_path / "b.onnx", fmt="exported-program", input_size=4)


def _fake_export(monkeypatch: pytest.MonkeyPatch, outputs: Callable[[Tensor], Tensor]) -> None:
    """The export is written as usual, but the loaded file computes ``outputs(x)``."""
    import classicnets.deployment.export as ex

    monkeypatch.setattr(ex, "load_exported", lambda path, fmt: outputs)


def test_float64_decides_only_within_float32_rounding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = classicnets.create_model("resnet20", num_classes=10).eval()
    stand_in_batchnorm(model, torch.randn(8, 3, 32, 32))
    exact = copy.deepcopy(model).double()
    # An "export" that computes the exact (float64) function: off from eager fp32 by rounding
    # only. With a bound below that rounding it passes through the float64 comparison.
    _fake_export(monkeypatch, lambda x: exact(x.double()).float())
    check = export_model(model, tmp_path / "m.ts", fmt="torchscript", input_size=32,
                         tolerance=1e-12)  # fmt: skip
    assert check.max_rel_error > 1e-12 and check.exact_error is not None
    assert check.exact_error < check.eager_exact_error  # type: ignore[operator]
    assert "float64" in check.describe()

    # A wrong export (one logit off by 1e-3 of the scale) fails, the distances in the message.
    same = copy.deepcopy(model)

    def wrong(x: Tensor) -> Tensor:
        out = same(x)
        out[0, 0] += 1e-3 * out.abs().max()
        return out

    _fake_export(monkeypatch, wrong)
    with pytest.raises(ExportError, match="from the float64 result"):
        export_model(model, tmp_path / "m.ts", fmt="torchscript", input_size=32)


def test_an_onnx_file_with_external_weights_is_named_with_its_data_file(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the export extra")
    from classicnets.deployment.export import describe_onnx_files, onnx_data_file

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    w = onnx.numpy_helper.from_array(torch.ones(2048).numpy(), name="w")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y], initializer=[w]
    )
    model = onnx.helper.make_model(graph)
    one = tmp_path / "one.onnx"
    onnx.save_model(model, str(one))
    assert onnx_data_file(one) is None and describe_onnx_files(one) == str(one)
    two = tmp_path / "two.onnx"
    onnx.save_model(model, str(two), save_as_external_data=True, location="two.onnx.data")
    assert onnx_data_file(two) == tmp_path / "two.onnx.data"
    assert "two.onnx.data" in describe_onnx_files(two)
