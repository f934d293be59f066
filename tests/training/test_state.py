"""History, the plain record of training: an unfitted model's, and its JSON form
(infinities as strings) read back as it was."""

from __future__ import annotations

import json
import math

from xpnet.training.state import History


def test_a_fresh_history_has_an_empty_validation_record_with_early_stopping():
    assert History.fresh(True) == History(
        loss_curve=[],
        validation_scores=[],
        best_loss=None,
        best_validation_score=-math.inf,
    )
    assert History.fresh(False) == History(validation_scores=None, best_loss=math.inf)


def test_the_json_form_reads_back_with_its_infinities():
    history = History(
        loss_curve=[2.0, 1.5],
        validation_scores=[0.5, -math.inf],
        best_loss=math.inf,
        best_validation_score=-math.inf,
        no_improvement_count=1,
        n_iter=2,
        t=40,
        epoch_paths=["eager", "eager"],
    )
    data = json.loads(json.dumps(history.to_json()))
    assert data["best_loss"] == "inf"
    assert data["validation_scores"] == [0.5, "-inf"]
    assert History.from_json(data) == history
