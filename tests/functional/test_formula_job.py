"""``--formula`` through the job: statsmodels' formula OLS to 1e-8, predict, policies, errors."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.formula_data import FORMULAS, statsmodels_fit, write_houses
from tests.functional.helpers import run_inline
from tests.functional.test_predict_job import run_predict


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    path = tmp_path_factory.mktemp("houses") / "houses.csv"
    write_houses(path, n=4000, seed=3)
    return path


def assert_matches_statsmodels(rec, ols):
    """Every summary statistic of the job's record equals statsmodels' to 1e-8, by name."""
    s = rec["summary"]
    names = ["Intercept" if n == "intercept" else n for n in s["names"]]
    assert sorted(names) == sorted(ols.params.index)
    order = [list(ols.params.index).index(n) for n in names]
    rel = dict(rtol=1e-8)
    np.testing.assert_allclose(s["params"], ols.params.values[order], **rel)
    np.testing.assert_allclose(s["bse"], ols.bse.values[order], **rel)
    np.testing.assert_allclose(s["tvalues"], ols.tvalues.values[order], **rel)
    np.testing.assert_allclose(s["pvalues"], ols.pvalues.values[order], rtol=1e-8,
                               atol=1e-300)
    np.testing.assert_allclose(s["conf_int"], ols.conf_int().values[order], **rel)
    for key, ref in [("rsquared", ols.rsquared), ("rsquared_adj", ols.rsquared_adj),
                     ("fvalue", ols.fvalue), ("llf", ols.llf), ("aic", ols.aic),
                     ("bic", ols.bic), ("df_resid", ols.df_resid), ("df_model", ols.df_model),
                     ("nobs", ols.nobs), ("ssr", ols.ssr)]:
        assert s[key] == pytest.approx(ref, rel=1e-8), key
    assert rec["n_rows"] == ols.nobs
    # the model's coefficients carry statsmodels' names
    for name, value in rec["coefficients"].items():
        assert value == pytest.approx(ols.params[name], rel=1e-8), name
    if "Intercept" in ols.params.index:
        assert rec["intercept"] == pytest.approx(ols.params["Intercept"], rel=1e-8)
    else:
        assert rec["intercept"] == 0.0


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_equals_statsmodels_inline(houses, formula):
    code, rec, err = run_inline(["--formula", formula, "--solver", "qr", "--summary",
                                 "--block-rows", "700", str(houses)])
    assert code == 0, err
    ols = statsmodels_fit(houses, formula)
    assert_matches_statsmodels(rec, ols)
    # the features are statsmodels' columns in statsmodels' order
    assert rec["features"] == [n for n in ols.params.index if n != "Intercept"]
    assert rec["formula"]["text"] == formula


def test_formula_equals_statsmodels_local_runner(houses):
    formula = FORMULAS[0]
    code, rec, err = run_inline(["-r", "local", "--num-cores", "2", "--formula", formula,
                                 "--solver", "qr", "--summary", "--block-rows", "500",
                                 str(houses)])
    assert code == 0, err
    assert_matches_statsmodels(rec, statsmodels_fit(houses, formula))


def test_names_as_statsmodels_prints_them(houses):
    code, rec, err = run_inline(["--formula", FORMULAS[0], "--solver", "qr", str(houses)])
    assert code == 0, err
    assert rec["features"] == ["C(city)[T.Berlin]", "C(city)[T.Lyon]", "C(city)[T.Paris]",
                               "C(city)[T.Zurich]", "sqft", "sqft:age", "I(age ** 2)",
                               "np.log(sqft)"]
    assert rec["formula"]["levels"] == {"city": ["Austin", "Berlin", "Lyon", "Paris", "Zurich"]}


def test_missing_values_are_counted_and_dropped(houses):
    code, rec, err = run_inline(["--formula", "price ~ sqft + C(city) + C(rooms)",
                                 "--solver", "qr", str(houses)])
    assert code == 0, err
    # rows 5 (sqft), 17 (city), 333 (price), 1000 (rooms) miss a value the formula reads
    assert rec["bad_row_reasons"] == {"missing": 4} and rec["bad_rows"] == 4
    assert rec["n_rows"] == 4000 - 4
    # a formula that does not read a column ignores its missing values
    code, rec, err = run_inline(["--formula", "price ~ age", "--solver", "qr", str(houses)])
    assert code == 0, err
    assert rec["bad_row_reasons"] == {"missing": 1}  # only the price


def test_gd_and_cg_reach_the_same_fit(houses):
    ols = statsmodels_fit(houses, FORMULAS[1])
    for solver in ("cg", "newton"):
        code, rec, err = run_inline(["--formula", FORMULAS[1], "--solver", solver,
                                     "--tol", "1e-12", str(houses)])
        assert code == 0, err
        for name, value in rec["coefficients"].items():
            assert value == pytest.approx(ols.params[name], rel=1e-7, abs=1e-9), (solver, name)


def test_validation_data_goes_through_the_design(houses, tmp_path):
    held = tmp_path / "held.csv"
    write_houses(held, n=1000, seed=9)
    code, rec, err = run_inline(["--formula", FORMULAS[0], "--solver", "qr",
                                 "--validation", str(held), str(houses)])
    assert code == 0, err
    ols = statsmodels_fit(houses, FORMULAS[0])
    df = pd.read_csv(held)
    pred = ols.predict(df)
    keep = pred.notna() & df["price"].notna()
    mse = float(np.mean((df["price"][keep] - pred[keep]) ** 2))
    assert rec["metrics"]["validation_mse"] == pytest.approx(mse, rel=1e-8)


# --- predict ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def formula_model(houses, tmp_path_factory):
    model = tmp_path_factory.mktemp("model") / "model.json"
    code, rec, err = run_inline(["--formula", FORMULAS[0], "--solver", "qr",
                                 "--output-model", str(model), str(houses)])
    assert code == 0, err
    return model


def _predictions(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path)]
    return np.array([int(r[1]) for r in rows]), np.array([float(r[4]) for r in rows])


def _row_offsets(path):
    """Byte offset of every data line of a CSV (its first line is the header)."""
    offsets, pos = [], 0
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i:
                offsets.append(pos)
            pos += len(line)
    return np.array(offsets)


def _in_row_order(out, data):
    """The predictions of ``out`` placed at their rows of ``data`` (NaN: not scored)."""
    offsets, pred = _predictions(out)
    rows = _row_offsets(data)
    full = np.full(len(rows), np.nan)
    full[np.searchsorted(rows, offsets)] = pred
    return full


def test_predict_matches_statsmodels_predict(houses, formula_model, tmp_path):
    new = tmp_path / "new.csv"
    write_houses(new, n=1500, seed=11, missing=False)
    out = tmp_path / "pred.csv"
    code, err = run_predict(["--model", str(formula_model), "--output", str(out), str(new)])
    assert code == 0, err
    offsets, pred = _predictions(out)
    ref = statsmodels_fit(houses, FORMULAS[0]).predict(pd.read_csv(new)).values
    order = np.searchsorted(_row_offsets(new), offsets)
    np.testing.assert_allclose(pred, ref[order], rtol=1e-8)
    assert len(pred) == 1500


def test_predict_without_label_column(houses, formula_model, tmp_path):
    new = tmp_path / "new.csv"
    write_houses(new, n=300, seed=12, missing=False)
    df = pd.read_csv(new).drop(columns=["price"])
    df.to_csv(tmp_path / "nolabel.csv", index=False)
    out = tmp_path / "pred.csv"
    code, err = run_predict(["--model", str(formula_model), "--output", str(out),
                             str(tmp_path / "nolabel.csv")])
    assert code == 0, err
    _, pred = _predictions(out)
    ref = statsmodels_fit(houses, FORMULAS[0]).predict(df).values
    np.testing.assert_allclose(np.sort(pred), np.sort(ref), rtol=1e-8)


@pytest.fixture()
def unseen_data(tmp_path):
    new = tmp_path / "unseen.csv"
    write_houses(new, n=400, seed=13, missing=False,
                 cities=("Paris", "Berlin", "Austin", "Lyon", "Madrid"))
    df = pd.read_csv(new)
    assert (df["city"] == "Madrid").sum() > 0
    return new, df


def test_unseen_level_error_policy_skips_and_counts(houses, formula_model, unseen_data,
                                                    tmp_path):
    new, df = unseen_data
    out = tmp_path / "pred.csv"
    code, err = run_predict(["--model", str(formula_model), "--output", str(out), str(new)])
    assert code == 0, err
    n_unseen = int((df["city"] == "Madrid").sum())
    assert f"skipped {n_unseen} rows: unseen level {n_unseen}" in err
    pred = _in_row_order(out, new)
    seen = (df["city"] != "Madrid").values
    assert np.isnan(pred[~seen]).all()
    ref = statsmodels_fit(houses, FORMULAS[0]).predict(df[seen]).values
    np.testing.assert_allclose(pred[seen], ref, rtol=1e-8)
    # --on-bad-row fail stops at the first one (local runner: a failed task)
    code, err = run_predict(["-r", "local", "--model", str(formula_model), "--on-bad-row", "fail",
                             "--output", str(out), str(new)])
    assert code == 1  # the task's log names the row and unseen_level


def test_unseen_level_reference_policy_scores_as_reference(houses, formula_model,
                                                           unseen_data, tmp_path):
    new, df = unseen_data
    out = tmp_path / "pred.csv"
    code, err = run_predict(["--model", str(formula_model), "--unseen-level", "reference",
                             "--output", str(out), str(new)])
    assert code == 0, err
    n_unseen = int((df["city"] == "Madrid").sum())
    assert f"scored {n_unseen} rows with a level unseen in training as the reference" in err
    pred = _in_row_order(out, new)
    as_ref = df.assign(city=df["city"].replace("Madrid", "Austin"))  # Austin: first in order
    ref = statsmodels_fit(houses, FORMULAS[0]).predict(as_ref).values
    np.testing.assert_allclose(pred, ref, rtol=1e-8)


def test_model_json_holds_formula_and_levels(formula_model):
    rec = json.loads(formula_model.read_text())
    assert rec["formula"]["text"] == FORMULAS[0]
    assert rec["formula"]["levels"]["city"][0] == "Austin"


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--formula", "price ~ sqft +"], ["--formula", "position"]),
    (["--formula", "price ~ eval(sqft)"], ["unknown function", "eval"]),
    (["--formula", "price ~ __import__('os')"], ["--formula"]),
    (["--formula", "price ~ sqft", "--features", "sqft"], ["--features", "--formula"]),
    (["--formula", "price ~ sqft", "--no-fit-intercept"], ["- 1"]),
    (["--formula", "price ~ C(city)", "--max-levels", "0"], ["--max-levels"]),
    (["--formula", "price ~ sqft", "--unseen-level", "drop"], ["--unseen-level"]),
])
def test_formula_usage_errors(houses, args, words):
    code, rec, err = run_inline([*args, str(houses)])
    assert code == 2 and rec is None, err
    assert "usage:" in err and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_too_many_levels_is_a_clear_error(houses):
    code, rec, err = run_inline(["--formula", "price ~ C(city) + C(sqft)", "--max-levels",
                                 "50", "--solver", "qr", str(houses)])
    assert code == 2 and rec is None
    assert "sqft" in err and "--max-levels" in err and "Traceback" not in err


def test_unknown_column_is_a_clear_error(houses):
    code, rec, err = run_inline(["--formula", "price ~ floors", str(houses)])
    assert code == 2 and "floors" in err and "Traceback" not in err


def test_string_in_a_numeric_column_is_a_bad_row(tmp_path):
    path = tmp_path / "h.csv"
    write_houses(path, n=500, seed=4, missing=False)
    lines = path.read_text().splitlines()
    lines[10] = "big," + lines[10].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    code, rec, err = run_inline(["--formula", "price ~ sqft + C(city)", "--solver", "qr",
                                 str(path)])
    assert code == 0, err
    assert rec["bad_row_reasons"] == {"non_numeric": 1}


def test_non_finite_factor_is_a_bad_row(tmp_path):
    path = tmp_path / "h.csv"
    write_houses(path, n=500, seed=4, missing=False)
    lines = path.read_text().splitlines()
    lines[7] = "0.0," + lines[7].split(",", 1)[1]  # np.log(0) = -inf
    path.write_text("\n".join(lines) + "\n")
    code, rec, err = run_inline(["--formula", "price ~ np.log(sqft) + C(city)", "--solver",
                                 "qr", str(path)])
    assert code == 0, err
    assert rec["bad_row_reasons"] == {"non_finite": 1}
