"""Dask: arrays and dataframes as xpnet's data, out of core.

``arrays`` (Dask collections as checked Dask arrays with known row chunks),
``blocks`` (:class:`~.blocks.DaskBlocks`, a batch source of the training loop) and
``predict`` (a function of rows mapped over the blocks). Imported only when a Dask
collection is met (Dask is an optional dependency).

May import training, the intake, the backend and the maths; must not import the
estimators or the command (the estimators' Dask glue is
``xpnet.estimators.dask_input`` and ``dask_predict``).
"""
