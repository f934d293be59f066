"""Training: the minibatch loop, its settings and history, full-batch L-BFGS (SciPy),
sparse data served by batch, checkpoints of a run, and data-parallel gradient sums
over torch.distributed (``distributed``, the one module that imports torch, lazily).

May import the maths, the backend, the top-level modules (validation) and the files
layer (the checkpoint container). Must not import the estimators or the command: the
estimators drive this loop, not the other way round.
"""
