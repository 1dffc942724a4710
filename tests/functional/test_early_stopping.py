"""``--early-stopping PATIENCE``: a constructed over-fitting problem (30 features, 40
training rows) where gradient descent's validation loss turns up after a few iterations;
the run must stop where a numpy re-run of the same iterations says, and keep the best."""

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from tests.functional.helpers import coef_vector, run_inline

D, N_TRAIN, N_VAL, ETA, PATIENCE = 30, 40, 300, 0.3, 5


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    w = np.zeros(D)
    w[:3] = [2.0, -1.0, 1.5]
    Xt = rng.normal(size=(N_TRAIN, D))
    yt = Xt @ w + 2.0 * rng.normal(size=N_TRAIN) + 3.0
    Xv = rng.normal(size=(N_VAL, D))
    yv = Xv @ w + 2.0 * rng.normal(size=N_VAL) + 3.0
    folder = tmp_path_factory.mktemp("es")
    write_csv(str(folder / "train.csv"), Xt, yt)
    write_csv(str(folder / "val.csv"), Xv, yv)
    return str(folder / "train.csv"), str(folder / "val.csv"), Xt, yt, Xv, yv


def numpy_rerun(Xt, yt, Xv, yv, iterations):
    """Fixed-step gradient descent on the standardised design (population std, intercept
    last) from zero, as the job runs it: ``w <- w - eta A^T (A w - y) / n``."""
    mu, sd = Xt.mean(axis=0), Xt.std(axis=0)
    A = np.column_stack([(Xt - mu) / sd, np.ones(len(yt))])
    Av = np.column_stack([(Xv - mu) / sd, np.ones(len(yv))])
    w, ws, val, train = np.zeros(D + 1), [], [], []
    for _ in range(iterations + 1):
        ws.append(w)
        val.append(np.mean((Av @ w - yv) ** 2))
        train.append(np.mean((A @ w - yt) ** 2))
        w = w - ETA * A.T @ (A @ w - yt) / len(yt)
    coef = [wk[:-1] / sd for wk in ws]
    intercepts = [wk[-1] - c @ mu for wk, c in zip(ws, coef)]
    return np.array(val), np.array(train), coef, intercepts


def first_stop(val, patience):
    """Independent of mrlinreg.numerics.cv: the first i with i - argmin(val[:i+1]) >= patience
    (strict improvement), and that argmin."""
    best = 0
    for i in range(1, len(val)):
        if val[i] < val[best]:
            best = i
        elif i - best >= patience:
            return i, best
    return None, best


ARGS = ["--early-stopping", str(PATIENCE), "--line-search", "none", "--learning-rate",
        str(ETA), "--max-iter", "300", "--quiet"]


@pytest.fixture(scope="module")
def stopped(data):
    train, val, *_ = data
    code, rec, err = run_inline([*ARGS, "--validation", val, "--model-name", "es", train])
    assert code == 0, err
    return rec


@pytest.mark.parametrize("strategy", ["stats", "passes"])
def test_stops_where_a_numpy_rerun_stops_and_keeps_the_best(data, stopped, strategy):
    train, val, Xt, yt, Xv, yv = data
    rec = stopped
    if strategy == "passes":  # one pass per iteration; the same iterates
        code, rec, err = run_inline([*ARGS, "--strategy", "passes", "--validation", val,
                                     train])
        assert code == 0, err
    vals, trains, coefs, intercepts = numpy_rerun(Xt, yt, Xv, yv, 300)
    stop, best = first_stop(vals, PATIENCE)
    assert stop is not None and 0 < best < stop < 50   # it over-fits early: a real stop
    assert vals[-1] > 1.5 * vals[best]                  # ... and the last iterate is worse
    es = rec["early_stopping"]
    assert es["stopped"] is True and es["kept"] == "best"
    assert es["stop_iteration"] == stop == rec["iterations"]
    assert es["best_iteration"] == best == es["kept_iteration"]
    assert es["best_val_loss"] == pytest.approx(vals[best], rel=1e-10)
    np.testing.assert_allclose([h["val_loss"] for h in rec["history"]], vals[1:stop + 1],
                               rtol=1e-10)
    np.testing.assert_allclose(coef_vector(rec), coefs[best], rtol=1e-9, atol=1e-12)
    assert rec["intercept"] == pytest.approx(intercepts[best], rel=1e-10)
    assert rec["loss"] == pytest.approx(trains[best], rel=1e-10)
    assert rec["metrics"]["validation_mse"] == pytest.approx(vals[best], rel=1e-10)
    assert rec["converged"] is False and rec["warnings"] == []
    # the validation loss from R_val: one pass before the iterations, none per iteration
    assert es["val_loss_passes"] == 1 and "R factor" in es["val_loss_source"]
    fit_passes = 1 if strategy == "stats" else 1 + 1 + stop  # moments, start, iterations
    assert rec["passes"] == fit_passes + 1


def test_lbfgs_keeps_the_iterate_a_shorter_plain_run_ends_on(data):
    train, val, *_ = data
    code, rec, err = run_inline(["--solver", "lbfgs", "--early-stopping", "2", "--quiet",
                                 "--validation", val, train])
    assert code == 0, err
    es = rec["early_stopping"]
    assert es["stopped"] and es["best_iteration"] < es["stop_iteration"]
    vals = [h["val_loss"] for h in rec["history"]]
    assert min(vals) == es["best_val_loss"] == vals[es["best_iteration"] - 1]
    # the same iterations without early stopping, cut at the best one: the same weights
    code, plain, err = run_inline(["--solver", "lbfgs", "--quiet", "--max-iter",
                                   str(es["best_iteration"]), train])
    assert code == 0, err
    assert coef_vector(rec).tolist() == coef_vector(plain).tolist()
    assert rec["intercept"] == plain["intercept"]


def test_early_stopping_resumes_bit_for_bit(data, stopped, monkeypatch):
    from mrlinreg.driver import lifecycle

    train, val, *_ = data

    class Crash(Exception):
        pass

    real = lifecycle.SnapshotWriter.__call__

    cut = []

    def crash(self, step, *a, **kw):
        real(self, step, *a, **kw)
        cut.append(self.run_id)
        if step.iteration == stopped["early_stopping"]["best_iteration"] + 2 and \
                not kw.get("finished"):
            raise Crash()
    args = [*ARGS, "--validation", val, "--model-name", "es_cut", train]
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", crash)
    with pytest.raises(Crash):
        run_inline(args)
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", real)
    code, rec, err = run_inline([*args, "--resume"])
    assert code == 0, err
    assert rec["run_id"] == cut[-1]  # the interrupted run, continued
    assert rec["coefficients"] == stopped["coefficients"]
    assert rec["early_stopping"] == stopped["early_stopping"]
    assert [h["val_loss"] for h in rec["history"]] == \
        [h["val_loss"] for h in stopped["history"]]


def test_validation_loss_by_pass_equals_the_r_factor(data, tmp_path):
    """The per-iteration pass (used when R would be too wide) measures what R_val does."""
    from mrlinreg.driver.early_stopping import ValidationLoss
    from mrlinreg.driver.inputs import resolve_format
    from mrlinreg.driver.passes import PassRunner
    from mrlinreg.fs import FileSystem

    _, val, Xt, *_ = data
    fmt, _, _ = resolve_format([val], FileSystem())
    passes = PassRunner(["-r", "inline", val], str(tmp_path))
    shift, scale = Xt.mean(axis=0), Xt.std(axis=0)
    by_r = ValidationLoss(passes, fmt, shift, scale, True, use_r=True)
    by_pass = ValidationLoss(passes, fmt, shift, scale, True, use_r=False)
    w = np.random.default_rng(5).normal(size=D + 1)
    assert by_pass(w) == pytest.approx(by_r(w), rel=1e-12)
    assert by_pass.calls == 1 and passes.passes == 2


@pytest.mark.parametrize("args,needle", [
    (["--early-stopping", "3"], "--early-stopping watches the validation loss"),
    (["--early-stopping", "3", "--solver", "cg", "--validation", "V"],
     "--early-stopping needs --solver gd or lbfgs"),
    (["--early-stopping", "3", "--solver", "qr", "--validation", "V"],
     "--early-stopping needs --solver gd or lbfgs"),
    (["--early-stopping", "-1", "--validation", "V"], "--early-stopping must be a positive"),
    (["--early-stopping", "3", "--l2", "0.1", "--validation", "V"],
     "does not combine with --l2"),
])
def test_unsupported_combinations_exit_2(data, args, needle):
    train, val, *_ = data
    code, rec, err = run_inline([a if a != "V" else val for a in args] + [train])
    assert code == 2 and rec is None
    assert needle in err and "usage:" in err and "Traceback" not in err
