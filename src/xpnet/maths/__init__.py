"""The maths: activations, losses, forward and backward passes, optimizer updates.

Pure functions (and small optimizer objects) of an array namespace ``xp`` that they
are handed, written against the Python array API standard only. This layer imports
nothing but itself: no NumPy (ruff's banned-api rule for this folder enforces it), no
backend, no other xpnet layer. Everything above calls into it; it calls nothing above.

The jit- and grad-able API: :mod:`.network` (``forward``, ``predict``, ``backward``,
``loss_and_gradients``), :mod:`.optimizers` (``sgd``, ``adam``: ``init``/``update``
pairs, hyperparameters as arrays) and :mod:`.step` (``make_step``: one training step)
are pure functions of arrays. Under ``jax.jit`` they compile with ``xp = jax.numpy``,
and ``jax.grad`` differentiates a loss built on them, e.g.::

    import jax, jax.numpy as jnp
    from xpnet import MLP
    from xpnet.maths import network

    net = MLP([4, 8, 1], backend="jax", seed=0)

    def loss(weights, biases, X, y):
        y_pred = network.predict(jnp, weights, biases, net.activations, X)
        return jnp.mean((y_pred - y) ** 2)

    grads = jax.jit(jax.grad(loss))(net.weights, net.biases, X, y)

:mod:`.optim`'s classes are the eager loop's in-place form of the same updates.
"""
