"""Files: the safetensors container, atomic writes, ``save``/``load`` of every model,
and ONNX export (with its skl2onnx registration).

May import the backend, and the maths for activations' names and ONNX forms. Must
not import training, the estimators or the command; ``load`` (and the skl2onnx
registration) finds a model class by a fixed table of xpnet module names (see
:mod:`xpnet.files.model_file`), never by anything a file names.
"""
