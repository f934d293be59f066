"""Files: the safetensors container, atomic writes and ``save``/``load`` of every model.

May import the backend only. Must not import the maths, training, the estimators or
the command; ``load`` finds a model class by a fixed table of xpnet module names
(see :mod:`xpnet.files.model_file`), never by anything a file names.
"""
