"""The pieces that wire ``--loss huber`` and ``--early-stopping`` in: the residual sketch
kernel, the options, the records and their rows, the in-place column migration."""

import json

import numpy as np
import pytest

from mrlinreg import kernels
from mrlinreg.errors import OptionError
from mrlinreg.numerics.huber import exact_median
from mrlinreg.options import TrainOptions
from mrlinreg.records import HistoryEntry
from mrlinreg.schema import add_columns_ddl, added_columns, load_warehouse


def _sketch_round(X, y, w, edges, collect, splits=3):
    """One pass of AbsResidualSketch over ``splits`` mappers, serialised and merged."""
    parts = []
    for Xs, ys in zip(np.array_split(X, splits), np.array_split(y, splits)):
        acc = kernels.AbsResidualSketch(w, np.zeros(X.shape[1]), np.ones(X.shape[1]), True,
                                        edges, collect)
        acc.add(Xs, ys)
        parts.append(json.loads(json.dumps(acc.to_dict())))
    return kernels.merge_partials(parts).sketch


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 1001])
def test_median_of_abs_residuals_through_the_kernel_is_numpys(n):
    rng = np.random.default_rng(n)
    X, y = rng.normal(size=(n, 2)), rng.standard_t(2, size=n) * 3
    w = np.array([0.5, -1.0, 0.2])
    r = np.abs(y - np.column_stack([X, np.ones(n)]) @ w)  # as the kernel computes them
    calls = []

    def run_round(edges, collect):
        calls.append(collect)
        return _sketch_round(X, y, w, "log" if len(calls) == 1 else edges, collect)

    # a small cap forces the zoom rounds that large inputs take
    assert exact_median(run_round, n, cap=50, bins=16) == np.median(r)
    assert calls[-1] or n == 1


def test_the_log_edges_never_travel():
    acc = kernels.AbsResidualSketch(np.zeros(2), np.zeros(1), np.ones(1), True)
    acc.add(np.ones((5, 1)), np.arange(5.0))
    d = acc.to_dict()
    assert d["sketch"]["edges"] == "log" and len(json.dumps(d)) < 2000
    back = kernels.AbsResidualSketch.from_dict(d)
    assert back.n == 5 and back.sketch.counts.sum() + back.sketch.below == 5


@pytest.mark.parametrize("kw,field", [
    (dict(loss="huber", solver="irls", l2=0.1), "l2"),
    (dict(loss="huber", solver="irls", summary=True), "summary"),
    (dict(loss="huber", solver="gd"), "solver"),
    (dict(loss="huber", solver="irls", huber_delta=0.0), "huber_delta"),
    (dict(loss="huber", solver="irls", huber_delta=float("nan")), "huber_delta"),
    (dict(loss="huber", solver="irls", strategy="stats"), "strategy"),
    (dict(huber_delta=1.0), "huber_delta"),
    (dict(solver="irls"), "solver"),
    (dict(loss="l1"), "loss"),
    (dict(early_stopping=3), "early_stopping"),
    (dict(early_stopping=3, solver="newton", validation=("v",)), "early_stopping"),
    (dict(early_stopping=3, summary=True, validation=("v",)), "summary"),
])
def test_refused_options_name_their_field(kw, field):
    with pytest.raises(OptionError) as e:
        TrainOptions(**kw).validate()
    assert e.value.field == field


def test_fingerprint_holds_the_new_options_only_when_set():
    plain = TrainOptions().validate().fingerprint(["a"], "y", ["f"])
    assert "loss" not in plain and "huber_delta" not in plain and "early_stopping" not in plain
    fp = TrainOptions(loss="huber", solver="irls", huber_delta=2.0).validate() \
        .fingerprint(["a"], "y", ["f"])
    assert fp["loss"] == "huber" and fp["huber_delta"] == 2.0
    es = TrainOptions(early_stopping=4, validation=("v",)).validate() \
        .fingerprint(["a"], "y", ["f"])
    assert es["early_stopping"] == 4


def test_history_entry_keeps_val_loss_only_when_measured():
    assert "val_loss" not in HistoryEntry(1, 2.0).to_json()
    h = HistoryEntry(3, 2.0, 0.1, 0.5, 1.0, 1.25)
    assert HistoryEntry.from_json(h.to_json()) == h


def test_a_table_missing_appended_nullable_columns_is_migrated_in_place():
    table = load_warehouse().table("training_history")
    names = [(c.name, c.type.lower()) for c in table.columns]
    parts = [(c.name, c.type.lower()) for c in table.partitions]
    old = [c for c in names if c[0] != "val_loss"]
    added = added_columns(table, old, parts)
    assert [c.name for c in added] == ["val_loss"]
    ddl = add_columns_ddl(table, "db", added)
    assert ddl.startswith("ALTER TABLE `db`.`training_history` ADD COLUMNS (") and \
        "`val_loss` DOUBLE" in ddl
    assert added_columns(table, names, parts) is None          # nothing missing
    assert added_columns(table, old[1:], parts) is None        # not a prefix
    assert added_columns(table, [(old[0][0], "string")] + old[1:], parts) is None
    models = load_warehouse().table("models")
    required = [(c.name, c.type.lower()) for c in models.columns][:-1]  # created_at: required
    assert added_columns(models, required, parts) is None
