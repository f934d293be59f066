"""
A digit classifier and its loss curve
=====================================

:class:`xpnet.MLPClassifier` on scikit-learn's 8x8 digits, with early stopping: the
training loss falls epoch by epoch (``loss_curve_``) while the held-out accuracy
(``validation_scores_``) levels off, and fitting stops once it has not improved for
``n_iter_no_change`` epochs. Change ``backend="numpy"`` to ``backend="gpu"`` on a
CUDA machine; nothing else changes.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

import xpnet

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16, y, test_size=0.25, stratify=y, random_state=0
)

clf = xpnet.MLPClassifier(
    hidden_layer_sizes=(64,),
    learning_rate_init=3e-3,
    max_iter=200,
    early_stopping=True,
    n_iter_no_change=10,
    random_state=0,
    backend="numpy",
)
clf.fit(X_train, y_train)
print(
    f"stopped after {clf.n_iter_} epochs; best validation accuracy "
    f"{clf.best_validation_score_:.3f}"
)
print(f"test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# The training loss and the validation accuracy, epoch by epoch:
fig, ax_loss = plt.subplots(figsize=(7, 4))
ax_loss.plot(clf.loss_curve_, color="tab:blue", label="training loss")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("log-loss", color="tab:blue")
ax_loss.set_yscale("log")
ax_acc = ax_loss.twinx()
ax_acc.plot(clf.validation_scores_, color="tab:orange", label="validation accuracy")
ax_acc.set_ylabel("validation accuracy", color="tab:orange")
ax_loss.set_title("MLPClassifier(hidden_layer_sizes=(64,)) on digits")
fig.tight_layout()

# %%
# Which digits it confuses, on the test set:
ConfusionMatrixDisplay.from_predictions(y_test, clf.predict(X_test), colorbar=False)
plt.show()
