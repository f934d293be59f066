"""The maths: activations, losses, forward and backward passes, optimizer updates.

Pure functions (and small optimizer objects) of an array namespace ``xp`` that they
are handed, written against the Python array API standard only. This layer imports
nothing but itself: no NumPy (ruff's banned-api rule for this folder enforces it), no
backend, no other xpnet layer. Everything above calls into it; it calls nothing above.
"""
