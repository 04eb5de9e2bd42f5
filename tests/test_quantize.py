"""int8 quantization (classicnets.deployment.int8): every family quantizes, runs oneDNN's int8
kernels and agrees with its fp32 form; save/load and ONNX round trips; bad input fails clearly.

The default suite quantizes one representative per family (its smallest registered model, at
its minimum input size or 64 px); the whole registry runs under the ``slow`` marker and in
benchmarks/quantize_matrix.py (benchmarks/results/quantize_matrix.md). The models are untrained
(random weights, batch-norm statistics from a random batch), so agreement is measured on inputs
from the calibration distribution (N(0, 1) images, what the preprocessing produces), with the
tolerance below; trained networks' top-1 is in docs/int8.md.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import classicnets
from classicnets.deployment.int8.accuracy import (
    compare_logits,
    int8_error_bound,
    rounding_sensitivity,
)
from classicnets.deployment.int8.calibrate import CalibrationError, calibration_batches
from classicnets.deployment.int8.lower import (
    ceil_mode_pools,
    group_merge,
    interleave_rgb_input,
    lower_ceil_mode_pools,
    merge_sibling_convolutions,
    rewrite_for_compile,
    widen_narrow_groups,
)
from classicnets.deployment.int8.quantize import quantize_int8
from classicnets.deployment.int8.run import (
    Int8UnavailableError,
    QuantizedModel,
    export_quantized_onnx,
    int8_operator_calls,
    int8_unavailable_reason,
    load_quantized,
    run_and_count_int8,
    save_quantized,
    uses_int8_kernels,
)
from classicnets.errors import InputShapeError
from classicnets.preprocessing import for_dataset
from classicnets.tools.untrained import stand_in_batchnorm
from helpers import input_size
from representatives import smallest_per_family

pytestmark = pytest.mark.skipif(
    int8_unavailable_reason() is not None, reason=f"no int8 here: {int8_unavailable_reason()}"
)

ALL = classicnets.list_models()
REPRESENTATIVES = smallest_per_family()

#: Agreement with fp32 on 16 fresh images of the calibration distribution (32 calibration
#: images). Untrained networks are a hard case: with random weights and batch-norm statistics
#: from random images many amplify any perturbation layer after layer, in fp32 already, and int8
#: rounds the input of every layer. So the bound scales with the network's own fp32 sensitivity
#: to that rounding (classicnets.deployment.int8.accuracy.rounding_sensitivity: noise of one int8
#: step at the input of every convolution, linear and batch-norm layer): relative error <=
#: max(0.1, 2 x sensitivity) (int8_error_bound). Measured int8 errors are 0.7-2.0x the
#: sensitivity. It catches broken lowering (a mis-folded batch norm gave 3.4 on DenseNet-40;
#: mis-sized int8 pools 1.1 and top-1 agreement 0 on torchvision's GoogLeNet), not the accuracy
#: cost, which only trained networks measure (benchmarks/int8_accuracy.py). An earlier bound
#: used noise on the input image only, which predicted a fifth of deep DenseNets' error
#: (densenet121 failed it).


def _untrained(name: str, size: int = 64) -> tuple[torch.nn.Module, int]:
    model = classicnets.create_model(name, num_classes=10)
    size = input_size(model, size)
    stand_in_batchnorm(model, torch.randn(8, model.in_chans, size, size))
    return model, size


def _check(name: str) -> None:
    model, size = _untrained(name)
    quantized = quantize_int8(model, torch.randn(32, 3, size, size).split(8))
    images = torch.randn(16, 3, size, size)
    with torch.no_grad():
        reference = model(images)
    logits, ops = run_and_count_int8(quantized, images)
    assert any(op.startswith("onednn.qconv") for op in ops), ops  # int8 convolutions ran
    agree = compare_logits(reference, logits)
    sensitivity = rounding_sensitivity(model, images)
    assert agree["relerr"] <= int8_error_bound(sensitivity), (agree, sensitivity)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_quantize_representative(name: str) -> None:
    _check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_quantize_registry(name: str) -> None:
    _check(name)


def test_rounding_sensitivity_is_one_rounding_step_of_noise_per_layer() -> None:
    """A sum of n inputs uniform in [0, 1): noise of std 1/255/sqrt(12) on each input moves the
    sum (about n/2) by sqrt(n) times that, a relative change of 2/(255 sqrt(12 n))."""
    n = 10_000
    layer = torch.nn.Linear(n, 1, bias=False)
    torch.nn.init.ones_(layer.weight)
    layer.train()
    x = torch.rand(64, n)
    expected = 2 / (255 * (12 * n) ** 0.5)
    measured = rounding_sensitivity(layer, x)
    assert measured == pytest.approx(expected, rel=0.25)
    assert rounding_sensitivity(layer, x) == measured  # seeded
    assert layer.training and not layer._forward_pre_hooks  # restored, hooks removed


_ACTIVATIONS = {"relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU, None: torch.nn.Identity}


def _ceil_pools(activation: str | None) -> torch.nn.Module:
    """A stem like GoogLeNet's: conv, activation, a 3x3/2 and a 3x3/1 (padded) Caffe-style pool."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        _ACTIVATIONS[activation](),
        torch.nn.MaxPool2d(3, stride=2, ceil_mode=True),
        torch.nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
        torch.nn.Conv2d(8, 4, 1),
    ).eval()


@pytest.mark.parametrize("size", [17, 18, 19, 20])
@pytest.mark.parametrize("activation", list(_ACTIVATIONS))
def test_ceil_mode_pools_are_lowered_exactly(size: int, activation: str | None) -> None:
    """Each int8 ceil-mode pool (dequantize, pool, quantize) becomes one max pool over the uint8
    values, at every size (ceil rounding adds a window over even sides) and whatever the sign
    of the values; the program then computes exactly what the reference program computes."""
    torch.manual_seed(0)
    model, x = _ceil_pools(activation), torch.randn(2, 3, size, size)
    quantized = quantize_int8(model, torch.randn(16, 3, size, size), compile=False)
    lowered = quantized.program.module()
    assert len(ceil_mode_pools(lowered)) == 2
    if activation == "leaky_relu":  # the x86 quantizer leaves it, and the pools after it, float
        assert lower_ceil_mode_pools(lowered) == 0
        return
    assert lower_ceil_mode_pools(lowered) == 2
    assert not ceil_mode_pools(lowered)
    uint8_pools = [
        n for n in lowered.graph.nodes if n.target == torch.ops.quantized.max_pool2d.default
    ]
    assert [n.args[-1] for n in uint8_pools] == [True, True]  # still ceil mode
    with torch.no_grad():
        assert torch.equal(lowered(x), quantized.module_(x))


@pytest.mark.parametrize("activation", ["relu", None])  # None: int8 values below the zero point
def test_ceil_mode_pools_run_int8(activation: str | None) -> None:
    torch.manual_seed(0)
    model = _ceil_pools(activation)
    images = torch.randn(16, 3, 20, 20)  # an even side: ceil rounding adds a window
    quantized = quantize_int8(model, images)
    logits, ops = run_and_count_int8(quantized, images)
    assert ops.get("quantized.max_pool2d") == 2, ops
    with torch.no_grad():
        assert compare_logits(model(images).flatten(1), logits.flatten(1))["relerr"] < 0.05


class _TwoReaders(torch.nn.Module):
    """Two convolutions read the image (as in a stem with parallel branches)."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(channels, 8, 3, stride=2, padding=1)
        self.b = torch.nn.Conv2d(channels, 8, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x)) + self.b(x)


@pytest.mark.parametrize("model", [_ceil_pools("relu"), _TwoReaders().eval()], ids=["one", "two"])
def test_rgb_input_is_interleaved_exactly(model: torch.nn.Module) -> None:
    """The image is quantized into four bytes per pixel, the convolutions reading it get a
    zero fourth input channel, and the compiled int8 model gives the same logits, bit for bit,
    as one compiled without the rewrite."""
    torch.manual_seed(0)
    images, x = torch.randn(16, 3, 20, 20), torch.randn(4, 3, 20, 20)
    quantized = quantize_int8(model, images)
    rewritten = quantized.program.module()
    assert interleave_rgb_input(rewritten) == 1
    weights = [
        getattr(rewritten, n.args[0].target)
        for n in rewritten.graph.nodes
        if n.op == "call_function" and "dequantize_per_channel" in str(n.target)
    ]
    readers = [w for w in weights if w.shape[1] == 4]
    assert readers and all(not w[:, 3].any() for w in readers)
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x), quantized.module_(x), rtol=1e-5, atol=1e-5)
    plain = rewrite_for_compile(quantized.program.module(), skip=(interleave_rgb_input,))
    assert torch.equal(quantized(x), quantized.run(torch.compile(plain, dynamic=False), x))


def test_rgb_input_rewrite_needs_three_channels() -> None:
    torch.manual_seed(0)
    quantized = quantize_int8(_TwoReaders(1).eval(), torch.randn(8, 1, 12, 12), compile=False)
    assert interleave_rgb_input(quantized.program.module()) == 0


class _Grouped(torch.nn.Module):
    """Grouped convolutions of every kind widen_narrow_groups meets."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 128, 3, padding=1)
        self.narrow = torch.nn.Conv2d(128, 128, 3, padding=1, groups=32)  # 4 ch: 2 groups of 64
        self.depthwise = torch.nn.Conv2d(128, 128, 3, padding=1, groups=128)  # left alone
        self.wide = torch.nn.Conv2d(128, 128, 3, padding=1, groups=4)  # 32 ch: left alone
        self.fewer_out = torch.nn.Conv2d(128, 64, 1, groups=8)  # 16 in, 8 out: 2 groups of 64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.stem, self.narrow, self.depthwise, self.wide, self.fewer_out):
            x = torch.relu(conv(x))
        return x


@pytest.mark.parametrize(
    ("per_group", "groups", "merge"),
    [(8, 32, 8), (4, 32, 16), (16, 32, 4), (16, 8, 4), (4, 8, 8), (32, 32, 1), (1, 64, 1)],
)
def test_group_merge(per_group: int, groups: int, merge: int) -> None:
    assert group_merge(per_group, groups) == merge


def test_narrow_groups_are_widened_exactly() -> None:
    """Grouped convolutions narrower than 32 channels a group run as groups of 64 with
    block-diagonal weights, and the compiled int8 model gives the same output, bit for bit, as
    one compiled without the rewrite."""
    torch.manual_seed(0)
    model, x = _Grouped().eval(), torch.randn(4, 3, 12, 12)
    quantized = quantize_int8(model, torch.randn(16, 3, 12, 12))
    rewritten = quantized.program.module()
    assert widen_narrow_groups(rewritten) == 2
    convs = [n for n in rewritten.graph.nodes if n.target == torch.ops.aten.conv2d.default]
    assert [c.args[6] if len(c.args) > 6 else 1 for c in convs] == [1, 2, 128, 4, 2]
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x), quantized.module_(x), rtol=1e-5, atol=1e-5)
    plain = rewrite_for_compile(quantized.program.module(), skip=(widen_narrow_groups,))
    assert torch.equal(quantized(x), quantized.run(torch.compile(plain, dynamic=False), x))


class _Siblings(torch.nn.Module):
    """An Inception-like module behind a ceil-mode pool: three 1x1 reductions + ReLU read one
    tensor (merged), beside a 3x3 and a 1x1 without ReLU (another kernel, another activation:
    left alone)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3)
        self.reduce = torch.nn.ModuleList(torch.nn.Conv2d(16, n, 1) for n in (8, 12, 4))
        self.after = torch.nn.ModuleList(torch.nn.Conv2d(n, 8, 3, padding=1) for n in (8, 12, 4))
        self.wider = torch.nn.Conv2d(16, 8, 3, padding=1)
        self.linear = torch.nn.Conv2d(16, 8, 1)
        self.head = torch.nn.Conv2d(40, 10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.stem(x)), 3, 2, ceil_mode=True)
        pairs = zip(self.reduce, self.after, strict=True)
        branches = [torch.relu(after(torch.relu(reduce(x)))) for reduce, after in pairs]
        branches += [torch.relu(self.wider(x)), self.linear(x)]
        return self.head(torch.cat(branches, 1))


def test_sibling_convolutions_are_merged() -> None:
    """The three 1x1 + ReLU readers of one uint8 tensor become one convolution, each reader
    keeping its own output scale (rows rescaled): the program computes what it did, up to a
    requantization rounded one step the other way, compiled and not."""
    torch.manual_seed(0)
    model, x = _Siblings().eval(), torch.randn(4, 3, 20, 20)
    quantized = quantize_int8(model, torch.randn(16, 3, 20, 20))
    merged = quantized.program.module()
    lower_ceil_mode_pools(merged)
    convs = sum(n.target == torch.ops.aten.conv2d.default for n in merged.graph.nodes)
    assert merge_sibling_convolutions(merged) == 1
    assert sum(n.target == torch.ops.aten.conv2d.default for n in merged.graph.nodes) == convs - 2
    with torch.no_grad():
        reference = quantized.module_(x)
        assert compare_logits(reference, merged(x))["relerr"] < 2e-3
    plain = rewrite_for_compile(quantized.program.module(), skip=(merge_sibling_convolutions,))
    unmerged = quantized.run(torch.compile(plain, dynamic=False), x)
    assert compare_logits(unmerged, quantized(x))["relerr"] < 2e-3
    assert compare_logits(reference, unmerged)["relerr"] < 0.05  # int8 kernels ran


class _SqueezeExcitation(torch.nn.Module):
    """A stem and one SE residual block: the gate multiplies the branch's last convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.conv2, self.head = torch.nn.Conv2d(8, 8, 1), torch.nn.Conv2d(8, 4, 1)
        self.reduce, self.expand = torch.nn.Conv2d(8, 2, 1), torch.nn.Conv2d(2, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        y = self.conv2(torch.relu(self.conv1(x)))
        gate = torch.sigmoid(self.expand(torch.relu(self.reduce(y.mean((2, 3), keepdim=True)))))
        return self.head(torch.relu(y * gate + x))


def test_squeeze_excitation_gates_read_int8() -> None:
    """The gate multiplies the convolution's uint8 output and the addition reads the shortcut
    quantized (annotate_gated_branches), and the int8 model agrees with fp32."""
    torch.manual_seed(0)
    model, images = _SqueezeExcitation().eval(), torch.randn(16, 3, 12, 12)
    graph = quantize_int8(model, images, compile=False).program.module().graph
    (mul,) = [n for n in graph.nodes if n.target == torch.ops.aten.mul.Tensor]
    (add,) = [n for n in graph.nodes if "add" in str(n.target)]
    dequantized = [
        a for a in (*mul.args, *add.args) if "dequantize" in str(getattr(a, "target", ""))
    ]
    assert len(dequantized) == 2, (mul.args, add.args)  # the branch and the shortcut
    quantized = quantize_int8(model, images)
    logits, ops = run_and_count_int8(quantized, images)
    assert ops.get("onednn.qconv_pointwise", 0) >= 5, ops
    with torch.no_grad():
        assert compare_logits(model(images).flatten(1), logits.flatten(1))["relerr"] < 0.05


@pytest.fixture(scope="module")
def resnet20_int8() -> tuple[torch.nn.Module, QuantizedModel]:
    torch.manual_seed(0)
    model, size = _untrained("resnet20", 32)
    return model, quantize_int8(model, torch.randn(16, 3, size, size))


def test_save_load_round_trip(resnet20_int8, tmp_path: Path) -> None:
    _, quantized = resnet20_int8
    path = save_quantized(quantized, tmp_path / "resnet20_int8.pt2")
    loaded = load_quantized(path)
    assert loaded.info == quantized.info
    assert loaded.info.calibration_images == 16
    images = torch.randn(5, 3, 32, 32)  # another batch size than calibration's
    torch.testing.assert_close(loaded(images), quantized(images), rtol=0, atol=0)
    assert uses_int8_kernels(loaded)


def test_the_int8_file_holds_no_calibration_image(tmp_path: Path) -> None:
    """The .pt2 carries the program and its description, never the user's images (export keeps
    its example input, a view of the first calibration batch, which save would write)."""
    import zipfile

    torch.manual_seed(0)
    model, size = _untrained("resnet20", 32)
    images = torch.rand(16, 3, size, size) + 3.0  # values no weight or scale takes
    quantized = quantize_int8(model, images, compile=False)
    path = save_quantized(quantized, tmp_path / "resnet20_int8.pt2")
    with zipfile.ZipFile(path) as archive:
        stored = b"".join(archive.read(name) for name in archive.namelist())
    for image in images:
        assert image[0, 0].numpy().tobytes() not in stored  # a row of any calibration image
    assert load_quantized(path, compile=False).info.calibration_images == 16


def test_load_refuses_a_foreign_program(tmp_path: Path) -> None:
    program = torch.export.export(torch.nn.Linear(2, 2), (torch.randn(1, 2),))
    torch.export.save(program, tmp_path / "plain.pt2")
    with pytest.raises(ValueError, match="not a classicnets int8 model"):
        load_quantized(tmp_path / "plain.pt2")


def test_int8_onnx_is_one_self_contained_file(resnet20_int8, tmp_path: Path) -> None:
    """Below 2 GB the ONNX file holds its weights: it runs when copied alone elsewhere."""
    ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra")
    pytest.importorskip("onnxscript", reason="ONNX export needs the export extra")
    from classicnets.deployment.export import describe_onnx_files, onnx_data_file

    _, quantized = resnet20_int8
    path = export_quantized_onnx(quantized, tmp_path / "out" / "resnet20_int8.onnx")
    assert sorted(p.name for p in path.parent.iterdir()) == ["resnet20_int8.onnx"]
    assert onnx_data_file(path) is None and describe_onnx_files(path) == str(path)
    alone = tmp_path / "elsewhere" / "model.onnx"
    alone.parent.mkdir()
    alone.write_bytes(path.read_bytes())
    session = ort.InferenceSession(str(alone), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: torch.zeros(1, 3, 32, 32).numpy()})
    assert out.shape == (1, 10)


def test_onnx_has_quantize_dequantize_nodes_and_runs(resnet20_int8, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the dev extra")
    ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the dev extra")
    pytest.importorskip("onnxscript", reason="ONNX export needs the dev extra")
    _, quantized = resnet20_int8
    path = export_quantized_onnx(quantized, tmp_path / "resnet20_int8.onnx")
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    images = torch.randn(3, 3, 32, 32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    agree = compare_logits(quantized(images), torch.from_numpy(out))
    assert agree["relerr"] <= 0.05, agree


def test_int8_operators_are_found_in_either_wrapper() -> None:
    """The calls the check counts, as inductor's Python wrapper and its C++ wrapper write them;
    float operators and mentions in comments or asserts are not calls."""
    python = """
    buf1 = torch.ops.onednn.qconv_pointwise.tensor(buf0, x_scale, x_zp, w, s, z, b)
    torch.ops.onednn.qconv2d_pointwise.binary_tensor(buf4, x_scale_3, x_zp_3, w, s, z, buf5)
    buf2 = torch.ops.quantized.max_pool2d.default(buf1, [3, 3], [2, 2], [0, 0], [1, 1], True)
    assert_size_stride(buf2, (2, 64), (64, 1), 'torch.ops.quantized.max_pool2d.default')
    buf9 = torch.ops.aten.convolution.default(buf8, w, b)
    """
    cpp = """
    AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu__qconv_pointwise_tensor(buf1, x_scale));
    AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu__qconv2d_pointwise_binary_tensor(buf4, x));
    AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu__qlinear_pointwise_tensor(buf7, x));
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::max_pool2d", "");
    // Original ATen: [quantized.max_pool2d]
    AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu_convolution(buf8, w));
    """
    both = {"onednn.qconv_pointwise": 1, "onednn.qconv2d_pointwise": 1, "quantized.max_pool2d": 1}
    assert int8_operator_calls(python) == both
    assert int8_operator_calls(cpp) == {**both, "onednn.qlinear_pointwise": 1}


def test_fp32_and_uncompiled_models_are_not_int8(resnet20_int8) -> None:
    model, quantized = resnet20_int8
    assert not uses_int8_kernels(model)
    reference = QuantizedModel(quantized.program, quantized.info, compile=False)
    assert not uses_int8_kernels(reference)


def test_inductor_settings_hold_during_a_call_only(resnet20_int8) -> None:
    from torch._inductor import config as inductor_config

    _, quantized = resnet20_int8
    before = (inductor_config.freezing, inductor_config.cpp_wrapper)
    assert before != (True, True)  # the defaults, so a leak would show
    x = torch.randn(2, 3, 32, 32)
    seen = quantized.run(lambda _: (inductor_config.freezing, inductor_config.cpp_wrapper), x)
    assert seen == (True, True)
    quantized(x)
    assert (inductor_config.freezing, inductor_config.cpp_wrapper) == before
    with pytest.raises(ZeroDivisionError):
        quantized.run(lambda _: 1 / 0, x)
    assert (inductor_config.freezing, inductor_config.cpp_wrapper) == before


def test_wrong_input_shape_is_refused(resnet20_int8) -> None:
    _, quantized = resnet20_int8
    with pytest.raises(InputShapeError, match=r"\(N, 3, 32, 32\)"):
        quantized(torch.randn(2, 3, 40, 40))


# -- bad calibration data and missing kernels (no compilation: quick) ------------------------------


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        ([], "no calibration data"),
        (torch.empty(0, 3, 32, 32), "no calibration data"),
        (torch.randn(4, 1, 32, 32), "1 channels, the model takes 3"),
        (torch.randn(4, 3, 2, 2), "smaller than the model's minimum"),
        ([torch.randn(2, 3, 32, 32), torch.randn(2, 3, 40, 40)], "differ in image shape"),
        (torch.randn(3, 32, 32), r"\(N, C, H, W\)"),
    ],
)
def test_bad_calibration_data_is_refused(calibration, message: str) -> None:
    model = classicnets.create_model("resnet20", num_classes=10)
    with pytest.raises(CalibrationError, match=message):
        quantize_int8(model, calibration)


def test_missing_int8_kernels_is_an_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    model = classicnets.create_model("resnet20", num_classes=10)
    with pytest.raises(Int8UnavailableError, match="oneDNN"):
        quantize_int8(model, torch.randn(4, 3, 32, 32))


def test_calibration_batches_from_an_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (48, 40), (40 * i, 100, 200)).save(tmp_path / label / f"{i}.png")
    (tmp_path / "dog" / "broken.png").write_bytes(b"not an image")
    batches = calibration_batches(
        tmp_path, for_dataset("imagefolder", 32), num_images=7, batch_size=4
    )
    assert [tuple(b.shape) for b in batches] == [(4, 3, 32, 32), (3, 3, 32, 32)]
    with pytest.raises(CalibrationError, match="at least 1"):
        calibration_batches(tmp_path, for_dataset("imagefolder", 32), num_images=0)


def test_the_quantize_command_on_the_digits_main_job(tmp_path: Path) -> None:
    """`classicnets train` (the main job, one epoch), then `classicnets quantize -c RUN`: the
    int8 program is written, proven int8, close to the float model, and loads back."""
    import subprocess
    import sys

    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "classicnets"]
    subprocess.run(
        [*cli, "train", "--epochs", "1", "--quiet", "--run-dir", str(run), "--set", "report=false"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    out = tmp_path / "digits_int8.pt2"
    onnx = tmp_path / "digits_int8.onnx"
    proc = subprocess.run(
        [*cli, "quantize", "-c", str(run), "--images", "64", "--out", str(out),
         "--onnx", str(onnx)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    for note in ("KernelPreference", "No CUDA runtime", "To copy construct", "\u2705", "\r"):
        assert note not in proc.stdout + proc.stderr, (note, proc.stderr[-2000:])
    assert not onnx.with_name(onnx.name + ".data").exists()
    assert "int8 convolution calls; calibrated on 64 images" in proc.stdout
    agreement = float(proc.stdout.split("top-1 agreement ")[1].split("%")[0])
    assert agreement >= 90.0, proc.stdout
    model = load_quantized(out)
    assert model(torch.zeros(3, 1, 16, 16)).shape == (3, 10)


def test_eval_and_predict_take_the_int8_file(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`quantize` records the run's classes and preprocessing in the .pt2, so `eval` and
    `predict` read it like any weight file."""
    from PIL import Image

    from classicnets.cli import main
    from classicnets.data.datasets import DigitsDataset

    out = tmp_path / "digits_int8.pt2"
    assert main(["quantize", "-c", str(run_dir), "--images", "32", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", "-c", str(out), "--dataset", "digits", "--json", "--quiet"]) == 0
    int8 = json.loads(capsys.readouterr().out)
    assert main(["eval", "-c", str(run_dir), "--json", "--quiet"]) == 0
    fp32 = json.loads(capsys.readouterr().out)
    assert int8["images"] == fp32["images"] and abs(int8["top1"] - fp32["top1"]) <= 0.1
    assert list(int8["per_class_acc"]) == [str(i) for i in range(10)]
    image = tmp_path / "digit.png"
    Image.fromarray(DigitsDataset("test").images[0, 0].numpy()).resize((16, 16)).save(image)
    assert main(["predict", str(image), "-c", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["top"][0]["class"] in {str(i) for i in range(10)}


def test_quantize_errors_name_its_own_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run whose training folder has gone: `quantize -c RUN` (calibrating on the run's data)
    says what to give quantize (--calibrate), not train's --data-dir; and calibrating on a
    folder with an empty class folder (labels go unused) warns of nothing, in particular not of
    train's --strict (issue 29, item 11)."""
    from PIL import Image

    from classicnets.cli import main

    folder = tmp_path / "pets"
    for split in ("train", "val"):
        for c, blue in (("cat", 200), ("dog", 0)):
            (folder / split / c).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (8, 8), (60 * i, 100, blue)).save(folder / split / c / f"{i}.png")
    run = tmp_path / "run"
    train = ["train", "--data-dir", str(folder), "--input-size", "8", "--steps", "1",
             "--batch-size", "4", "--quiet", "--set", "report=false",
             "--run-dir", str(run)]  # fmt: skip
    assert main(train) == 0
    capsys.readouterr()
    moved = folder.rename(tmp_path / "moved")
    out = ["--images", "4", "--out", str(tmp_path / "q.pt2")]
    assert main(["quantize", "-c", str(run), *out]) != 0
    err = capsys.readouterr().err
    assert "--calibrate" in err and str(folder) in err and "--data-dir" not in err, err
    (moved / "train" / "zebra").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["quantize", "-c", str(run), "--calibrate", str(moved / "train"), *out]) == 0
    said = capsys.readouterr().err + "".join(str(w.message) for w in caught)
    assert "--strict" not in said and "zebra" not in said, said
