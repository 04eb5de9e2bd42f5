"""Plain, separately tested pieces of the training loop.

distributed (process group setup, reductions), checkpoint (atomic full-state save and load,
RNG capture), optim (optimizers, TF-style RMSProp, EMA), schedule (learning-rate schedules with
warm-up), metrics (accuracy, confusion matrix), logging (progress bars, CSV, TensorBoard,
plots).
"""
