"""Training from plain values: the fit state, the run's setup, batch sources, the loop.

``state`` (:class:`FitState`, ``Settings``, ``History``), ``setup`` (builds a run:
optimizer, hold-out split, validator, best weights), ``batches`` (the batch sources
behind one interface: in memory, sparse, blocks; rank shards), ``step`` (one update),
``loop`` (epochs and scikit-learn's stopping rules), ``progress`` (progress bar,
deferred Ctrl-C), ``errors``, ``holdout``, ``lbfgs`` (full batch, SciPy),
``checkpoint`` (a fit state in a file) and ``distributed`` (gradients summed over
torch.distributed, the one module that imports torch, lazily).

May import the maths, the backend, the top level (the intake :mod:`xpnet.data`) and
the files layer (the checkpoint container). Must not import the estimators, Dask
(:mod:`xpnet.dask` plugs into :mod:`.batches`) or the command: nothing here reads an
estimator.
"""
