"""``classicnets bench``: speed and memory of a model, alone or beside torchvision / timm.

Split by concern, each module importing only those before it in this list:

* :mod:`.machine`: the machine's description, its matmul peak, device sync;
* :mod:`.steps`: :class:`~.steps.BenchConfig`, the models on each side, the timed step;
* :mod:`.harness`: the measurement rules, :func:`~.harness.run_bench` and
  :func:`~.harness.run_variants`;
* :mod:`.format`: the plain-text report, :func:`~.format.format_results`.
"""
