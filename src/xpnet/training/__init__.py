"""Training: the minibatch loop, its settings and history, and checkpoints of a run.

May import the maths, the backend, the top-level modules (validation) and the files
layer (the checkpoint container). Must not import the estimators or the command: the
estimators drive this loop, not the other way round.
"""
