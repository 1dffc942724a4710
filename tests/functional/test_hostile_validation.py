"""Issue 9: --validation columns are checked before any pass, not after training."""

import numpy as np

from mrlinreg.datagen import write_csv
from tests.functional.helpers import run_inline


def test_a_validation_input_without_a_feature_is_refused_before_any_pass(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 3))
    train, held = tmp_path / "train.csv", tmp_path / "held.csv"
    write_csv(str(train), X, X @ [1.0, 2.0, 3.0], names=["a", "b", "c", "y"])
    write_csv(str(held), X[:, :2], X[:, :2] @ [1.0, 2.0], names=["a", "b", "y"])
    code, rec, err = run_inline(["--validation", str(held), str(train)])
    assert code == 2 and rec is None, err
    assert "feature columns ['c'] not found" in err and "Traceback" not in err
    assert "rows, 3 features" not in err  # refused before the first pass
