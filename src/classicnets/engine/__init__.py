"""Plain, separately tested pieces of the training loop; each takes typed arguments, never the
whole training config.

distributed (process group setup, reductions), checkpoint (the checkpoint schema: training
parts, state, epoch sums; atomic save and load, RNG capture), step (the module the loop calls,
forward/backward, the update), signals (stop flag, end-of-step signals), mix (MixUp/CutMix),
optim (optimizers, TF-style RMSProp, EMA), schedule (learning-rate schedules with warm-up),
metrics (accuracy, confusion matrix), logging (progress bars, epoch lines, CSV, TensorBoard,
plots, the summary), runtime (precision, seeding, determinism, layout), finetune (freezing,
parameter groups with learning-rate scales), pretrained (reading a --pretrained source and
building the run's model from it).
"""
