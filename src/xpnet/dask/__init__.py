"""Dask: arrays and dataframes as xpnet's data, out of core.

``arrays`` (Dask collections as checked Dask arrays with known row chunks, the
intake's description of Dask input, :func:`xpnet.data.as_features`; sample weights
with X's chunks), ``blocks`` (:class:`~.blocks.DaskBlocks`, a batch source of the
training loop, and its hold-out of whole blocks) and ``predict`` (a function of rows
mapped over the blocks, and R² reduced over them). Imported only when a Dask
collection is met (Dask is an optional dependency).

Sits beside the intake (the top level): may import the intake, the backend and the
maths; must not import training, the estimators or the command (the estimators'
Dask glue, which runs their own label and target rules on Dask input, is
``xpnet.estimators.dask_input`` and ``dask_predict``).
"""
