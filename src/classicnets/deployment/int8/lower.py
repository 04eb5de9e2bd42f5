"""Rewrites of a converted int8 program that only the *compiled* copy gets.

:class:`classicnets.deployment.int8.run.QuantizedModel` compiles a fresh copy of its program after
these rewrites; the saved program and the ONNX export keep the standard quantize / dequantize form
that other back ends read. Each rewrite computes what it replaces, bit for bit (tests compare
them), but for :func:`merge_sibling_convolutions`, whose requantization may round a value one
step the other way. Each exists because inductor's own lowering of the pattern is wrong or
slow in torch 2.14; docs/int8.md has the measurements.

* :func:`lower_ceil_mode_pools`: ceil-mode max pools over uint8 values (inductor's pattern runs
  them in floor mode);
* :func:`interleave_rgb_input`: the image quantized straight into the channels-last layout the
  first convolution reads, one 32-bit word per pixel;
* :func:`widen_narrow_groups`: grouped convolutions of few channels per group run as fewer,
  wider groups with block-diagonal weights;
* :func:`merge_sibling_convolutions`: convolutions reading the same uint8 tensor run as one.

The bottom of ``int8/``: this imports nothing from it; :mod:`.prepare` uses its graph helpers
(:func:`is_op`, :func:`graph_attribute`) and :mod:`.run` its :func:`rewrite_for_compile`.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.fx import GraphModule, Node

__all__ = [
    "COMPILE_REWRITES",
    "block_diagonal",
    "ceil_mode_pools",
    "graph_attribute",
    "group_merge",
    "interleave_rgb_input",
    "is_op",
    "lower_ceil_mode_pools",
    "merge_sibling_convolutions",
    "rewrite_for_compile",
    "widen_narrow_groups",
]

#: Grouped int8 convolutions with fewer input channels per group than this are widened ...
NARROW_GROUP_CHANNELS = 32
#: ... to groups of this many channels by :func:`widen_narrow_groups`.
WIDE_GROUP_CHANNELS = 64


def is_op(node: Any, *names: str) -> bool:
    """``node`` calls an aten operator of one of these names (any overload)."""
    if not isinstance(node, Node) or node.op != "call_function":
        return False
    return getattr(node.target, "_opname", None) in names


def _pool_geometry(node: Node) -> tuple[list[int], ...]:
    args = [*node.args, *([None] * 6)][:6]
    kernel = list(args[1])
    stride = list(args[2]) if args[2] else kernel  # an empty stride means the kernel's
    padding = list(args[3]) if args[3] else [0]
    dilation = list(args[4]) if args[4] else [1]
    return tuple([v[0]] * 2 if len(v) == 1 else v for v in (kernel, stride, padding, dilation))


def ceil_mode_pools(graph_module: GraphModule) -> list[Node]:
    """The (float) max pools of ``graph_module`` with ``ceil_mode=True``."""

    def ceil_mode(node: Node) -> bool:
        return bool(node.args[5] if len(node.args) > 5 else node.kwargs.get("ceil_mode"))

    pool = torch.ops.aten.max_pool2d.default
    return [n for n in graph_module.graph.nodes if n.target == pool and ceil_mode(n)]


def lower_ceil_mode_pools(graph_module: GraphModule) -> int:
    """Replace each int8 ceil-mode max pool of a converted program (a dequantize, the pool and
    a quantize to the same scale and zero point) by PyTorch's max pool over the uint8 values
    themselves, ``quantized.max_pool2d``; returns how many. Exact: the dequantize is increasing,
    so the pool picks the same element either way, and the quantize gives back its uint8 value.

    Why: inductor's own int8 max pool pattern (torch 2.14) binds ``ceil_mode`` to another
    argument's name when it matches the low-memory max pool its decomposition makes, and calls
    the kernel in floor mode: GoogLeNet's ceil-mode pools then gave the wrong sizes (top-1
    agreement 0 with fp32) or failed to compile. Called as it is, the operator keeps
    ``ceil_mode`` and inductor runs it as an extern kernel, as it runs its own match. Applied to
    the program that is compiled, never to the saved one, which keeps the standard
    quantize / dequantize form (ONNX export, other back ends).
    """
    lowered = 0
    for pool in ceil_mode_pools(graph_module):
        dequant, users = pool.args[0], list(pool.users)
        if not (is_op(dequant, "dequantize_per_tensor") and len(users) == 1):
            continue  # a float pool (its input is not int8): inductor pools floats correctly
        quant = users[0]
        if not is_op(quant, "quantize_per_tensor") or quant.args[1:] != dequant.args[1:]:
            continue  # requantized to another scale: not a pool over the uint8 values
        with graph_module.graph.inserting_before(quant):
            uint8_pool = graph_module.graph.call_function(
                torch.ops.quantized.max_pool2d.default,
                (dequant.args[0], *_pool_geometry(pool), True),
            )
        quant.replace_all_uses_with(uint8_pool)
        lowered += 1
    graph_module.graph.eliminate_dead_code()
    graph_module.graph.lint()
    graph_module.recompile()
    return lowered


def graph_attribute(graph_module: GraphModule, node: Node) -> torch.Tensor:
    """The tensor a ``get_attr`` node of ``graph_module`` names (a dotted path)."""
    return functools.reduce(getattr, str(node.target).split("."), graph_module)


def _rgb_convolutions(image: Node) -> tuple[Node, list[Node]] | None:
    """(the quantize, the per-channel weight dequantizes) when ``image`` is quantized once to
    uint8 and every reader of that is a dequantize feeding one ungrouped convolution."""
    quants = [u for u in image.users if is_op(u, "quantize_per_tensor")]
    if len(quants) != 1 or quants[0].args[-1] != torch.uint8 or not quants[0].users:
        return None
    quant, weights = quants[0], []
    for dequant in quant.users:
        conv = next(iter(dequant.users), None)
        if not (
            is_op(dequant, "dequantize_per_tensor")
            and dequant.args[1:] == quant.args[1:]
            and len(dequant.users) == 1
            and is_op(conv, "conv2d")
            and conv.args[0] is dequant
            and (len(conv.args) < 7 or conv.args[6] == 1)  # groups
        ):
            return None
        weight = conv.args[1]
        if not (is_op(weight, "dequantize_per_channel") and weight.args[0].op == "get_attr"):
            return None
        weights.append(weight)
    return quant, weights


def interleave_rgb_input(graph_module: GraphModule) -> int:
    """Quantize a three-channel input image into four bytes per pixel, (N, 4, H, W) in
    channels-last order with a zero fourth channel, and give the convolutions that read it a
    zero fourth input channel in their weights; returns how many inputs were rewritten.

    Exact: the fourth channel meets zero weights, so every integer sum, and every output, is
    the same. Why: the first convolution reads channels-last uint8, and inductor fused the
    quantize with the NCHW -> NHWC transpose into a kernel that stores one byte at a time with a
    stride of three: 2.6 ms for a batch of 32 at 224 x 224, against 0.6 ms for the quantize
    alone (GoogLeNet's whole batch is about 40 ms). Four bytes per pixel is one 32-bit word,
    ``q0 | q1 << 8 | q2 << 16`` (little-endian, as x86 is), which the fused kernel writes with
    full-width stores; oneDNN's AMX kernels take four input channels as readily as three.
    """
    if sys.byteorder != "little":
        return 0
    graph, rewritten = graph_module.graph, 0
    for image in [n for n in graph.nodes if n.op == "placeholder"]:
        found = _rgb_convolutions(image)
        shape = getattr(image.meta.get("val"), "shape", ())
        if found is None or len(shape) != 4 or shape[1] != 3:
            continue
        quant, weight_dequants = found
        readers = list(quant.users)
        anchor = quant

        def add(target: Any, *args: Any) -> Node:
            nonlocal anchor
            with graph.inserting_after(anchor):
                anchor = graph.call_function(target, args)
            return anchor

        words = []
        for channel in range(3):
            byte = add(torch.ops.aten.select.int, quant, 1, channel)
            word = add(torch.ops.prims.convert_element_type.default, byte, torch.int32)
            if channel:
                word = add(torch.ops.aten.bitwise_left_shift.Tensor_Scalar, word, 8 * channel)
            words.append(word)
        packed = add(torch.ops.aten.bitwise_or.Tensor, words[0], words[1])
        packed = add(torch.ops.aten.bitwise_or.Tensor, packed, words[2])  # (N, H, W) int32
        pixels = add(torch.ops.aten.view.dtype, packed, torch.uint8)  # (N, H, 4W)
        pixels = add(torch.ops.aten.unflatten.int, pixels, 2, [int(shape[3]), 4])
        interleaved = add(torch.ops.aten.permute.default, pixels, [0, 3, 1, 2])
        for reader in readers:
            reader.replace_input_with(quant, interleaved)
        for weight in weight_dequants:
            values = graph_attribute(graph_module, weight.args[0])
            zero = values.new_zeros(values.shape[0], 1, *values.shape[2:])
            name = f"_rgb4_weight_{rewritten}_{weight.name}"
            graph_module.register_buffer(name, torch.cat([values, zero], 1).contiguous())
            with graph.inserting_before(weight):
                weight.replace_input_with(weight.args[0], graph.get_attr(name))
        rewritten += 1
    graph.eliminate_dead_code()
    graph.lint()
    graph_module.recompile()
    return rewritten


def _narrow_grouped_convolutions(graph_module: GraphModule, narrow: int) -> list[Node]:
    """The int8 convolutions of ``graph_module`` with 2 to ``narrow - 1`` input channels per
    group: weights dequantized per output channel, from int8 values with zero points 0."""
    found = []
    for conv in graph_module.graph.nodes:
        groups = conv.args[6] if is_op(conv, "conv2d") and len(conv.args) > 6 else 1
        weight = conv.args[1] if groups > 1 else None
        if not (
            is_op(weight, "dequantize_per_channel")
            and weight.args[3] == 0  # the output-channel axis
            and len(weight.users) == 1
            and all(isinstance(a, Node) and a.op == "get_attr" for a in weight.args[:3])
        ):
            continue
        values = graph_attribute(graph_module, weight.args[0])
        zero_points = graph_attribute(graph_module, weight.args[2])
        if 1 < values.shape[1] < narrow and not zero_points.any():
            found.append(conv)
    return found


def block_diagonal(weight: torch.Tensor, groups: int, merge: int) -> torch.Tensor:
    """The weight of a convolution with ``groups // merge`` groups that computes what
    ``weight`` (of ``groups`` groups) computes: each new group holds ``merge`` old ones on its
    diagonal, zeros elsewhere."""
    out_channels, per_group = weight.shape[:2]
    wide = weight.new_zeros(out_channels, per_group * merge, *weight.shape[2:])
    old_group = torch.arange(out_channels) // (out_channels // groups)
    for place in range(merge):
        rows = old_group % merge == place
        wide[rows, place * per_group : (place + 1) * per_group] = weight[rows]
    return wide


def group_merge(
    per_group: int,
    groups: int,
    narrow: int = NARROW_GROUP_CHANNELS,
    width: int = WIDE_GROUP_CHANNELS,
) -> int:
    """How many of ``groups`` groups of ``per_group`` input channels :func:`widen_narrow_groups`
    merges into one: 1 (none) for depthwise groups and groups of ``narrow`` channels or more,
    else the fewest (a divisor of ``groups``) that make ``width`` channels, or all of them."""
    if per_group == 1 or per_group >= narrow:
        return 1
    wide = (m for m in range(2, groups) if groups % m == 0 and per_group * m >= width)
    return next(wide, groups)


def widen_narrow_groups(
    graph_module: GraphModule,
    narrow: int = NARROW_GROUP_CHANNELS,
    width: int = WIDE_GROUP_CHANNELS,
) -> int:
    """Give each int8 grouped convolution with fewer than ``narrow`` input channels per group
    fewer groups, merged on the diagonal of block-diagonal weights, until a group has ``width``
    channels (or the convolution is ungrouped); returns how many convolutions were rewritten.
    Depthwise convolutions (one channel per group), for which oneDNN has its own kernels, are
    left alone.

    Exact: the zeros off the diagonal are int8 zeros with zero points 0, so every integer sum,
    and every output, is the same. Why: oneDNN's int8 kernels run narrow groups slowly. The
    3x3 convolution of ResNeXt-101 32x8d's first stage (32 groups of 8 channels, 56 x 56, batch
    32) took 10.0-13.3 ms, and 4.8-5.8 ms as 4 groups of 64 channels, for eight times the
    multiplications; ResNeXt-50 32x4d's (groups of 4 channels) 9.3-10.7 ms against 2.4-2.8 ms
    (AMX-INT8 CPU, benchmarks/investigations/results/int8_group_width.md). Groups of 32
    channels gain nothing from merging, wider ones lose, so they are left as they are.
    """
    rewritten = 0
    for conv in _narrow_grouped_convolutions(graph_module, narrow):
        weight, groups = conv.args[1], conv.args[6]
        values = graph_attribute(graph_module, weight.args[0])
        merge = group_merge(values.shape[1], groups, narrow, width)
        name = f"_wide_weight_{rewritten}_{weight.name}"
        graph_module.register_buffer(name, block_diagonal(values, groups, merge).contiguous())
        with graph_module.graph.inserting_before(weight):
            weight.replace_input_with(weight.args[0], graph_module.graph.get_attr(name))
        conv.update_arg(6, groups // merge)
        rewritten += 1
    graph_module.graph.eliminate_dead_code()
    graph_module.graph.lint()
    graph_module.recompile()
    return rewritten


@dataclass(frozen=True)
class _Sibling:
    """One reader of a uint8 tensor: dequantize -> convolution -> [ReLU] -> quantize."""

    dequant: Node
    conv: Node
    activation: Node | None
    quant: Node
    weight: Node  # the per-channel dequantize of its int8 weight


def _sibling(dequant: Node) -> _Sibling | None:
    conv = next(iter(dequant.users)) if len(dequant.users) == 1 else None
    if not (is_op(conv, "conv2d") and conv.args[0] is dequant and len(conv.users) == 1):
        return None
    weight, bias = conv.args[1], conv.args[2] if len(conv.args) > 2 else None
    constants = [*weight.args[:3], *([bias] if bias is not None else [])]
    if not (
        is_op(weight, "dequantize_per_channel")
        and weight.args[3] == 0  # the output-channel axis
        and all(isinstance(c, Node) and c.op == "get_attr" for c in constants)
    ):
        return None
    after = next(iter(conv.users))
    activation = after if is_op(after, "relu", "relu_") else None
    if activation is not None:
        after = next(iter(activation.users)) if len(activation.users) == 1 else None
    if not (is_op(after, "quantize_per_tensor") and isinstance(after.args[1], float)):
        return None
    return _Sibling(dequant, conv, activation, after, weight)


def _sibling_key(graph_module: GraphModule, sibling: _Sibling) -> tuple[Any, ...]:
    """What siblings must share to be one convolution: geometry, kernel, activation, the output
    quantization but its scale, the weight quantization."""
    geometry = tuple(str(a) for a in sibling.conv.args[3:])
    kernel = tuple(graph_attribute(graph_module, sibling.weight.args[0]).shape[1:])
    activation = sibling.activation.target if sibling.activation is not None else None
    return geometry, kernel, activation, sibling.quant.args[2:], sibling.weight.args[3:]


def _merge_siblings(graph_module: GraphModule, siblings: list[_Sibling], index: int) -> None:
    graph, first = graph_module.graph, siblings[0]
    scale = first.quant.args[1]  # the merged output's; the others' rows are rescaled to it
    weights, scales, zero_points, biases = [], [], [], []
    for s in siblings:
        factor = scale / s.quant.args[1]
        values, w_scales, w_zero_points = (
            graph_attribute(graph_module, a) for a in s.weight.args[:3]
        )
        bias_node = s.conv.args[2] if len(s.conv.args) > 2 else None
        bias = graph_attribute(graph_module, bias_node) if bias_node is not None else None
        weights.append(values)
        scales.append(w_scales * factor)
        zero_points.append(w_zero_points)
        biases.append(
            bias * factor
            if bias is not None
            else values.new_zeros(values.shape[0], dtype=torch.float32)
        )
    anchor = first.dequant.args[0]  # the shared uint8 tensor

    def add(make: Any) -> Node:
        nonlocal anchor
        with graph.inserting_after(anchor):
            anchor = make()
        return anchor

    constants = []
    for part, tensors in (
        ("weight", weights),
        ("scale", scales),
        ("zero_point", zero_points),
        ("bias", biases),
    ):
        name = f"_siblings_{index}_{first.conv.name}_{part}"  # unique if rewritten again
        graph_module.register_buffer(name, torch.cat(tensors).contiguous())
        constants.append(add(lambda name=name: graph.get_attr(name)))
    weight = add(
        lambda: graph.call_function(first.weight.target, (*constants[:3], *first.weight.args[3:]))
    )
    dequant = add(lambda: graph.call_function(first.dequant.target, first.dequant.args))
    conv_args = (dequant, weight, constants[3], *first.conv.args[3:])
    conv = add(lambda: graph.call_function(first.conv.target, conv_args))
    conv.meta = dict(first.conv.meta)
    out = conv
    if first.activation is not None:
        out = add(lambda: graph.call_function(first.activation.target, (conv,)))
    quant = add(lambda: graph.call_function(first.quant.target, (out, *first.quant.args[1:])))
    start = 0
    for s, values in zip(siblings, weights, strict=True):
        channels = values.shape[0]
        part = add(
            lambda a=start, b=start + channels: graph.call_function(
                torch.ops.aten.slice.Tensor, (quant, 1, a, b)
            )
        )
        s.quant.replace_all_uses_with(part)
        start += channels


def merge_sibling_convolutions(graph_module: GraphModule) -> int:
    """Run the int8 convolutions that read the same uint8 tensor with the same geometry, kernel
    size and activation as one convolution of their stacked weights, each reader then taking its
    channels; returns how many merged convolutions were made.

    The merged convolution has one output scale, the first reader's. Every other reader's
    weight scales and bias are multiplied by ``merged scale / its own``, so its rows compute
    its output times that ratio and quantize, at the merged scale, to the uint8 values it gave
    at its own (the ReLU commutes with the positive factor); the operators after it still
    dequantize them with its own scale. Equal up to the float rounding of the requantization
    factor (oneDNN multiplies input, weight and output scales in float): a uint8 output may
    differ by one step where the product falls on a rounding boundary.

    Why: at batch 1 an int8 convolution call costs more than its kernel (PyTorch's PT2E
    operator builds a oneDNN primitive descriptor on every call; benchmarks/investigations/
    results/int8_op_overhead.md), and GoogLeNet's and Inception-v3's modules start with two or three
    1x1 convolutions of one input. GoogLeNet and Inception-v3 ran 1.24-1.27x as fast with it at
    batch 1, and 0.99-1.02x at batch 32, where the copies of the channel slices cost about what
    the calls saved (AMX-INT8 CPU; docs/int8.md).
    """
    merged = 0
    for tensor in list(graph_module.graph.nodes):  # a quantize, or a pool over uint8 values
        families: dict[tuple[Any, ...], list[_Sibling]] = {}
        for reader in list(tensor.users):
            if is_op(reader, "dequantize_per_tensor") and reader.args[0] is tensor:
                sibling = _sibling(reader)
                if sibling is not None:
                    key = (reader.args[1:], *_sibling_key(graph_module, sibling))
                    families.setdefault(key, []).append(sibling)
        for siblings in families.values():
            if len(siblings) > 1:
                _merge_siblings(graph_module, siblings, merged)
                merged += 1
    graph_module.graph.eliminate_dead_code()
    graph_module.graph.lint()
    graph_module.recompile()
    return merged


#: The rewrites :class:`classicnets.deployment.int8.run.QuantizedModel` applies, in this order,
#: to the program it compiles.
COMPILE_REWRITES = (
    lower_ceil_mode_pools,
    interleave_rgb_input,
    widen_narrow_groups,
    merge_sibling_convolutions,
)


def rewrite_for_compile(graph_module: GraphModule, *, skip: tuple[Any, ...] = ()) -> GraphModule:
    """``graph_module`` after every rewrite of :data:`COMPILE_REWRITES` but those in ``skip``
    (tests compile without one to compare)."""
    for rewrite in COMPILE_REWRITES:
        if rewrite not in skip:
            rewrite(graph_module)
    return graph_module
