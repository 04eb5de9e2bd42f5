"""What the library measures and checks about its models, above the models and deployment.

:mod:`.summary` (parameters, mult-adds, layer table), :mod:`.verify` (those figures against the
papers), :mod:`.reference` (the torchvision / timm counterpart of a model, same weights),
:mod:`.static_figures` (the stored figures ``classicnets list`` shows), :mod:`.bench` (speed
and memory) and :mod:`.untrained` (batch-norm statistics that make untrained networks
checkable).
"""
