"""int8 inference: static post-training quantization lowered to oneDNN's int8 kernels.

The path (PyTorch 2 export quantization from ``torchao``; why this one: docs/int8.md) is split
by stage, each module importing only those before it in this list:

* :mod:`.lower`: rewrites that only the compiled copy of a converted program gets, and the
  graph helpers the other stages use;
* :mod:`.prepare`: the captured graph, the x86 inductor quantizer and its graph passes;
* :mod:`.calibrate`: calibration images, their checks, and the observing / converting pass;
* :mod:`.run`: :class:`~.run.QuantizedModel`, proof of int8 kernels, files, availability;
* :mod:`.quantize`: :func:`~.quantize.quantize_int8`, the stages in order;
* :mod:`.accuracy`: agreement with fp32, the error bound, and the checked quantization.
"""
