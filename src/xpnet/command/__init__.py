"""The ``xpnet`` command: argument parsing, the train/predict commands, data sets.

The top layer: may import every other layer, and nothing imports it except
``xpnet.__main__`` and the console script.
"""
