"""Evaluation: the eval loop and the papers' multi-view protocols (:mod:`.protocols`), loading
a trained model for inference (:mod:`.loading`), predict, explain and the HTML run report.

:data:`PROTOCOLS` is defined here, free of torch, so that the command line offers the protocol
names without importing torch (``classicnets --help`` stays fast).
"""

#: The ``--protocol`` names of ``classicnets eval`` (described in :mod:`.protocols`).
PROTOCOLS = ("center", "ten_crop", "googlenet_144", "vgg_dense", "resnet_fcn")
