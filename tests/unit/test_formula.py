"""The formula parser and the design per block, against statsmodels (patsy) itself."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from mrlinreg.design import Design, LevelsAccumulator, sorted_levels
from mrlinreg.formula import FormulaError, design_columns, parse_formula
from mrlinreg.kernels import merge_partials
from mrlinreg.parsing import RowFormat

LEVELS = {"city": ["Austin", "Berlin", "Paris"], "rooms": [1, 2, 3, 4]}

FORMULAS = [
    "price ~ sqft + C(city) + sqft:age + I(age**2)",
    "price ~ sqft + C(city) - 1",
    "price ~ np.log(sqft) + C(city)*age",
    "price ~ C(city):sqft",
    "price ~ C(rooms) + sqft",
    "price ~ age:C(city) + C(city) + sqft*age + 0",
    "price ~ C(city):C(rooms)",
    "price ~ I(-age + sqft/2) + np.sqrt(sqft)",
    "price ~ C(city)*C(rooms)*sqft",
    "price ~ 0 + C(rooms):C(city) + sqft:C(city)",
    "price ~ sqft*age*C(city) - sqft:age",
    "price ~ -1 + sqft + 1",
    "price ~ sqft + np.exp(age/100) + I((sqft - 1000)**2)",
    "price ~ (sqft + age):C(city)",
    "price ~ +0 + sqft + I(2 ** -age) + I(-age ** 2)",
    "np.log(price) ~ C(city) + age",
]


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"sqft": rng.uniform(500, 3000, n), "age": rng.integers(1, 50, n) * 1.0,
                       "city": rng.choice(LEVELS["city"], n), "rooms": rng.integers(1, 5, n)})
    df["price"] = 100 + 0.2 * df.sqft - 2 * df.age + rng.normal(0, 5, n)
    return df


def _lines(df):
    return [",".join(str(v) for v in row) for row in df.itertuples(index=False)]


def _fmt(df, design):
    cols = list(df.columns)
    return RowFormat(",", len(cols), tuple(cols.index(c) for c in design.raw_columns),
                     cols.index(design.formula.label_column))


@pytest.mark.parametrize("formula", FORMULAS)
def test_names_and_matrix_equal_statsmodels(frame, formula):
    """Column names, their order and every value of the design equal statsmodels' exog."""
    model = smf.ols(formula, frame)
    design = Design(formula, LEVELS)
    names = (["Intercept"] if design.formula.intercept else []) + design.feature_names
    assert names == model.exog_names
    block = design.parse_block(_lines(frame), _fmt(frame, design))
    assert block.bad == []
    X, y = block.values[:, :-1], block.values[:, -1]
    exog = model.exog[:, 1:] if design.formula.intercept else model.exog
    np.testing.assert_allclose(X, exog, rtol=1e-15)
    np.testing.assert_allclose(y, model.endog, rtol=1e-15)


@pytest.mark.parametrize("text, words", [
    ("price", ["'~'"]),
    ("price ~ sqft +", ["the end"]),
    ("price ~ os.system(sqft)", ["unknown function", "os.system"]),
    ("price ~ __import__('os')", ["unexpected character"]),
    ("price ~ sqft; 1", ["unexpected character"]),
    ("price ~ sqft / age", ["'/'"]),
    ("price ~ (sqft + age)**2", ["'**'"]),
    ("price ~ 2 + sqft", ["0 or 1"]),
    ("price ~ C(sqft + age)", ["C(...)"]),
    ("C(city) ~ sqft", ["numeric"]),
    ("price ~ price + sqft", ["label"]),
    ("price ~ 0", ["no terms"]),
    ("price ~ I(sqft", ["')'"]),
    ("I(price * sqft) ~ age", ["exactly one column"]),
])
def test_parse_errors_say_where(text, words):
    with pytest.raises(FormulaError) as e:
        parse_formula(text)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_intercept_rules():
    assert parse_formula("y ~ x").intercept
    assert not parse_formula("y ~ x - 1").intercept
    assert not parse_formula("y ~ 0 + x").intercept
    assert not parse_formula("y ~ x + 0").intercept
    assert parse_formula("y ~ -1 + x + 1").intercept
    assert parse_formula("y ~ x - 0").intercept


def test_a_bare_name_is_numeric_and_levels_need_c():
    f = parse_formula("y ~ a + C(b) + a:C(b) + np.log(c)")
    assert f.categorical_columns == ["b"]
    assert f.numeric_columns == ["y", "a", "c"]


def test_missing_values_and_non_finite_are_bad_rows():
    design = Design("y ~ np.log(a) + C(b)", {"b": ["u", "v"]})
    fmt = RowFormat(",", 3, (0, 1), 2)
    lines = ["1,u,2", ",u,3", "2,,4", "0,v,1", "3,v,NA", "4,w,5", "5,v", "6,u,7,"]
    block = design.parse_block(lines, fmt, 1e100)
    assert block.bad == [(1, "missing"), (2, "missing"), (3, "non_finite"), (4, "missing"),
                         (5, "unseen_level"), (6, "field_count")]
    np.testing.assert_allclose(block.values, [[0, np.log(1), 2], [0, np.log(6), 7]])  # C(b) first
    ref = Design("y ~ np.log(a) + C(b)", {"b": ["u", "v"]}, unseen="reference")
    block = ref.parse_block(lines, fmt)
    assert (5, "unseen_level") not in block.bad and block.notes == {"unseen_level": 1}
    np.testing.assert_allclose(block.values[1], [0, np.log(4), 5])  # scored as "u"


def test_levels_pass_sorts_strings_and_numbers_like_pandas():
    design = Design("y ~ C(b) + C(n)", None)
    fmt = RowFormat(",", 3, (0, 1), 2)
    acc1, acc2 = LevelsAccumulator(10), LevelsAccumulator(10)
    acc1.add(design.parse_block(["b,10,1", "a,9,2"], fmt).levels)
    acc2.add(design.parse_block(["B,10,1", "a,2,x"], fmt).levels)  # a bad row adds nothing
    total = merge_partials([acc1.to_dict(), acc2.to_dict()])
    levels = sorted_levels(design.formula, total.values, 10)
    assert levels == {"b": ["B", "a", "b"], "n": [9, 10]}  # numeric order, not "10" < "9"
    # a missing value makes pandas read integers as floats: statsmodels names them 9.0
    acc2.add(design.parse_block(["c,,3"], fmt).levels)
    total = merge_partials([acc1.to_dict(), acc2.to_dict()])
    assert sorted_levels(design.formula, total.values, 10)["n"] == [9.0, 10.0]
    assert design_columns(design.formula, {"b": ["a"], "n": [9.0, 10.0]})[-1].name == \
        "C(n)[T.10.0]"


def test_too_many_levels():
    design = Design("y ~ C(b)", None)
    fmt = RowFormat(",", 2, (0,), 1)
    acc = LevelsAccumulator(3)
    acc.add(design.parse_block([f"v{i},1" for i in range(100)], fmt).levels)
    assert len(acc.values["b"]) <= 5  # bounded however many values come
    with pytest.raises(ValueError, match="more than 3 distinct"):
        sorted_levels(design.formula, acc.values, 3)


def test_design_travels_as_json():
    d = Design("y ~ C(b) + x", {"b": ["p", "q"]}, "reference")
    again = Design.from_dict(d.to_dict())
    assert again.feature_names == ["C(b)[T.q]", "x"] and again.unseen == "reference"
