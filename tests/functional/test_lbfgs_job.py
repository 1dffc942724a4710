"""``--solver lbfgs`` through the job: passes and stats strategies, ridge, resume."""

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from tests.functional.helpers import coef_vector, lstsq_reference, run_cli, run_inline
from tests.functional.test_ridge import ridge_reference


@pytest.fixture(scope="module")
def ill(tmp_path_factory):
    """Correlated features (pairwise 0.9) over three orders of magnitude."""
    rng = np.random.default_rng(1)
    n, d = 3000, 8
    C = 0.9 * np.ones((d, d)) + 0.1 * np.eye(d)
    X = rng.multivariate_normal(np.zeros(d), C, size=n) * 10.0 ** np.linspace(-1, 2, d)
    y = X @ rng.normal(size=d) + 1.0 + rng.normal(size=n)
    path = tmp_path_factory.mktemp("lbfgs") / "ill.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b) / np.abs(b)))


def test_lbfgs_on_passes_reaches_lstsq_in_few_passes(ill):
    path, X, y = ill
    code, rec, err = run_inline(["--solver", "lbfgs", "--strategy", "passes", "--tol", "1e-10",
                                 "--quiet", path])
    assert code == 0, err
    coef, intercept = lstsq_reference(X, y)
    assert rec["converged"] and rec["solver"] == "lbfgs" and rec["strategy"] == "passes"
    assert _rel(coef_vector(rec), coef) < 1e-6
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-6)
    # one pass per iteration (its line search evaluates every trial step at once),
    # plus the moments pass and the starting point's
    assert rec["passes"] == rec["iterations"] + 2 and rec["iterations"] < 60
    code, gd, err = run_inline(["--solver", "gd", "--strategy", "passes", "--tol", "1e-10",
                                "--max-iter", "60", "--quiet", path])
    assert not gd["converged"] and _rel(coef_vector(gd), coef) > 1e-3  # gd crawls here


def test_lbfgs_stats_strategy_makes_the_same_iterates(ill):
    """The same iterates up to rounding: gradients from R and from the data differ in the
    last digits, which this ill-conditioned problem amplifies to ~1e-7 at the end."""
    path, X, y = ill
    args = ["--solver", "lbfgs", "--tol", "1e-10", "--quiet", path]
    _, on_passes, _ = run_inline(["--strategy", "passes", *args])
    _, on_stats, _ = run_inline(["--strategy", "stats", *args])
    # one pass: moments and R fused (issue 10)
    assert on_stats["passes"] == 1 and on_stats["iterations"] == on_passes["iterations"]
    np.testing.assert_allclose([h["loss"] for h in on_stats["history"]],
                               [h["loss"] for h in on_passes["history"]], rtol=1e-10)
    np.testing.assert_allclose(coef_vector(on_stats), coef_vector(on_passes), rtol=1e-6)
    assert _rel(coef_vector(on_stats), lstsq_reference(X, y)[0]) < 1e-6


def test_lbfgs_with_ridge_and_the_local_runner(ill):
    path, X, y = ill
    # stats: the local runner's job start-up would make ~40 passes slow; the passes
    # strategy's iterates are tested on the inline runner above
    code, rec, err = run_cli(["-r", "local", "--solver", "lbfgs", "--strategy", "stats",
                              "--l2", "0.3", "--tol", "1e-10", "--quiet", path])
    assert code == 0, err
    coef, intercept, _ = ridge_reference(X, y, 0.3)
    assert _rel(coef_vector(rec), coef) < 1e-7
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-7)


class Crash(Exception):
    pass


def test_lbfgs_resumes_bit_for_bit(ill, monkeypatch):
    from mrlinreg.driver import lifecycle

    path, _, _ = ill
    args = ["--solver", "lbfgs", "--strategy", "passes", "--tol", "1e-10", "--quiet", path]
    _, whole, _ = run_inline(["--model-name", "lb_whole", *args])
    real = lifecycle.SnapshotWriter.__call__

    def crash(self, step, *a, **kw):
        real(self, step, *a, **kw)
        if step.iteration == 6 and not kw.get("finished"):
            raise Crash()
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", crash)
    with pytest.raises(Crash):
        run_inline(["--model-name", "lb_cut", *args])
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", real)
    code, rec, err = run_inline(["--model-name", "lb_cut", "--resume", *args])
    assert code == 0, err and "resuming run" in err
    assert rec["coefficients"] == whole["coefficients"]  # the L-BFGS pairs were restored
    assert rec["iterations"] == whole["iterations"] and rec["passes"] == whole["passes"]
