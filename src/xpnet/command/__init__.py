"""The ``xpnet`` command: argument parsing, the train/predict commands, data sets.

``cli`` (argparse tables), ``commands`` (train, predict, export), ``fitting`` (the
estimator of the options, fitted with a progress bar: shared by ``commands`` and
``lazy_data``), ``datasets`` and ``lazy_data`` (data opened lazily with Dask).

The top layer: may import every other layer, and nothing imports it except
``xpnet.__main__`` and the console script.
"""
