"""
A Pipeline with GridSearchCV
============================

xpnet's estimators are scikit-learn estimators: they clone, take ``set_params``, and
fit inside a :class:`~sklearn.pipeline.Pipeline` searched by
:class:`~sklearn.model_selection.GridSearchCV`. Here a scaler and a classifier are
searched over the L2 penalty ``alpha`` and the hidden layer's width on the breast
cancer data set, with 3-fold cross-validation.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xpnet

# Short fits keep the search quick; each one says it stopped at max_iter.
warnings.filterwarnings("ignore", category=xpnet.ConvergenceWarning)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

pipeline = make_pipeline(
    StandardScaler(),
    xpnet.MLPClassifier(max_iter=60, learning_rate_init=3e-3, random_state=0),
)
grid = {
    "mlpclassifier__alpha": [1e-4, 1e-2, 1.0, 10.0],
    "mlpclassifier__hidden_layer_sizes": [(4,), (16,), (64,)],
}
search = GridSearchCV(pipeline, grid, cv=3)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(
    f"cross-validated accuracy {search.best_score_:.3f}, "
    f"test accuracy {search.score(X_test, y_test):.3f}"
)

# %%
# The mean cross-validated accuracy of every combination:
scores = search.cv_results_["mean_test_score"].reshape(
    len(grid["mlpclassifier__alpha"]), len(grid["mlpclassifier__hidden_layer_sizes"])
)
fig, ax = plt.subplots(figsize=(5.5, 4))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(3), [str(h) for h in grid["mlpclassifier__hidden_layer_sizes"]])
ax.set_yticks(range(4), [str(a) for a in grid["mlpclassifier__alpha"]])
ax.set_xlabel("hidden_layer_sizes")
ax.set_ylabel("alpha")
for (row, column), value in np.ndenumerate(scores):
    dark = value < scores.min() + 0.5 * (scores.max() - scores.min())
    ax.text(
        column,
        row,
        f"{value:.3f}",
        ha="center",
        va="center",
        color="w" if dark else "k",
    )
fig.colorbar(image, label="mean CV accuracy")
ax.set_title("GridSearchCV over a Pipeline")
fig.tight_layout()
plt.show()
