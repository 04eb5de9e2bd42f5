"""int8 preparation: the graph the quantizer annotates, the quantizer, and its graph passes.

The eval-mode model (not ``deploy``'s fused copy: the quantizer must see plain conv / batch
norm / ReLU / add patterns) is captured with ``torch.export`` with a dynamic batch dimension and
a fixed image size (:func:`capture_for_quantization`); the x86 inductor quantizer
(:func:`x86_quantizer`: per-channel symmetric int8 weights, per-tensor affine uint8 activations,
histogram observer) annotates it. Two passes here correct what that quantizer would get wrong or
leave slow on these networks: :func:`separate_shared_convolutions` (before annotation) and
:func:`annotate_gated_branches` (after it).

Within ``int8/`` this imports :mod:`.lower`'s graph helpers only; ``calibrate``, ``run`` and
``quantize`` build on it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.fx import GraphModule, Node

from .lower import graph_attribute, is_op

__all__ = [
    "MAX_BATCH",
    "annotate_gated_branches",
    "batch_dim",
    "capture_for_quantization",
    "export_dynamic_batch",
    "separate_shared_convolutions",
    "x86_config",
    "x86_quantizer",
]

#: The batch dimension of the exported program: any batch size runs the same program.
MAX_BATCH = 1 << 16


def batch_dim() -> torch.export.Dim:
    """The dynamic batch dimension of every int8 program and its ONNX export."""
    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def export_dynamic_batch(module: nn.Module, example: Tensor) -> torch.export.ExportedProgram:
    """``module`` exported with a dynamic batch at ``example``'s image size."""
    # a batch of 2 as the example: export specialises a size-1 dimension to the constant 1
    return torch.export.export(
        module, (example[:1].expand(2, -1, -1, -1),), dynamic_shapes=({0: batch_dim()},)
    )


def x86_config() -> Any:
    """The x86 inductor quantizer's default scheme (what every annotation here uses)."""
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    return xiq.get_default_x86_inductor_quantization_config()


def x86_quantizer() -> Any:
    """The x86 inductor quantizer with its default scheme, which also annotates the
    squeeze-excitation gates (:func:`annotate_gated_branches`) after its own patterns."""
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    class Quantizer(xiq.X86InductorQuantizer):
        def annotate(self, model: GraphModule) -> GraphModule:
            model = super().annotate(model)
            annotate_gated_branches(model)
            return model

    quantizer = Quantizer()
    quantizer.set_global(x86_config())
    return quantizer


def _is_call(node: Any, name: str) -> bool:
    return isinstance(node, Node) and node.op == "call_function" and name in str(node.target)


def annotate_gated_branches(graph_module: GraphModule) -> tuple[int, int]:
    """Quantize what a squeeze-excitation gate reads; returns (convolution outputs, additions)
    annotated. Runs after the x86 quantizer's own annotation, on the same graph.

    In an SE block the branch's last convolution is multiplied by a sigmoid gate before the
    shortcut's addition, a pattern the x86 quantizer does not annotate: that convolution then
    wrote float32, the mean and the gate read it back, and the addition read the shortcut in
    float32 too, so SE-ResNet-50 int8 ran at 2.7x its fp32 while ResNet-50 runs at 9.7x. Here
    the convolution's output gets the activation scheme (a uint8 output, read by the mean and
    the gate), and an addition of the gated branch that no fused pattern claimed reads its
    other input quantized as well (the previous block's output, already quantized for the next
    convolution). inductor then fuses gate, addition, ReLU and quantize into one pass over
    uint8 inputs. The gated branch and the shortcut are then read after int8 rounding, as the
    ResNets' fused additions read theirs.
    """
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    key, activation = xiq.QUANT_ANNOTATION_KEY, x86_config().input_activation
    convolutions = additions = 0
    for mul in [n for n in graph_module.graph.nodes if is_op(n, "mul")]:
        gated = [a for a in mul.args[:2] if not is_op(a, "sigmoid")]
        if len(gated) != 1 or len(mul.args) < 2 or not is_op(gated[0], "conv2d"):
            continue
        annotation = gated[0].meta.get(key)
        if annotation is not None and annotation.output_qspec is None:
            annotation.output_qspec = activation
            convolutions += 1
        for add in mul.users:
            if is_op(add, "add", "add_") and key not in add.meta:
                shortcut = next((a for a in add.args[:2] if a is not mul), None)
                if isinstance(shortcut, Node):
                    add.meta[key] = xiq._X86InductorQuantizationAnnotation(
                        input_qspec_map={shortcut: activation}, _annotated=True
                    )
                    additions += 1
    return convolutions, additions


def _distinct_source(meta: dict[str, Any], suffix: str) -> dict[str, Any]:
    """A copy of a node's metadata naming another source module: the quantizer groups nodes
    into patterns by source, and a copy under the original's name would join its pattern."""
    meta = dict(meta)
    if meta.get("source_fn_stack"):
        *outer, (name, fn) = meta["source_fn_stack"]
        meta["source_fn_stack"] = [*outer, (name + suffix, fn)]
    if meta.get("torch_fn"):
        meta["torch_fn"] = (meta["torch_fn"][0] + suffix, meta["torch_fn"][1])
    if meta.get("nn_module_stack"):
        stack = dict(meta["nn_module_stack"])
        key = next(reversed(stack))
        stack[key] = (stack[key][0] + suffix, stack[key][1])
        meta["nn_module_stack"] = stack
    return meta


def separate_shared_convolutions(graph_module: GraphModule) -> int:
    """Give every batch norm that follows a convolution whose output is also used elsewhere
    its own copy of that convolution (own weights too); returns how many were separated.

    ``prepare_pt2e`` folds a batch norm into the convolution before it by overwriting that
    convolution's weights, without checking who else reads its output. In DenseNet the stem
    convolution feeds the first layer's norm *and* every concatenation of the block, which then
    all saw normalized features: logits off by 300% (torchao 0.18). With a private copy the fold
    is exact and the other readers keep the plain convolution (one extra convolution per case).
    """
    graph = graph_module.graph
    separated = 0
    for norm in list(graph.nodes):
        conv = norm.args[0] if _is_call(norm, "batch_norm") else None
        if not _is_call(conv, "conv") or len(conv.users) == 1:
            continue
        args = list(conv.args)
        with graph.inserting_before(conv):
            for i in (1, 2):  # weight, bias
                if i < len(args) and isinstance(args[i], Node) and args[i].op == "get_attr":
                    source = graph_attribute(graph_module, args[i])
                    name = f"_bn_private_{separated}_{i}"
                    weight = nn.Parameter(source.detach().clone(), requires_grad=False)
                    graph_module.register_parameter(name, weight)  # folding reassigns it
                    args[i] = graph.get_attr(name)
        with graph.inserting_after(conv):
            private = graph.call_function(conv.target, tuple(args), dict(conv.kwargs))
        private.meta = _distinct_source(conv.meta, f"_bn_private_{separated}")
        norm.replace_input_with(conv, private)
        separated += 1
    graph.lint()
    graph_module.recompile()
    return separated


def capture_for_quantization(model: nn.Module, example: Tensor) -> GraphModule:
    """The graph of ``model`` (in eval mode) that the quantizer annotates: exported with a dynamic
    batch at ``example``'s image size, shared convolutions separated.
    It computes what ``model`` computes (diagnostics compare it with the converted graph)."""
    captured = export_dynamic_batch(model, example).module()
    separate_shared_convolutions(captured)
    return captured
