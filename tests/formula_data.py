"""A realistic table with a categorical column for ``--formula`` tests: house prices.

``city`` (strings, one level rare), ``rooms`` (small integers: a numeric categorical),
``sqft``, ``age``; the price depends on all of them with a curve in age and a log in
sqft.  A few rows miss a value (empty fields), as real exports do.
"""

import numpy as np

CITIES = ("Paris", "Berlin", "Austin", "Lyon", "Zurich")

#: Formulas the tests fit through the job and with statsmodels.
FORMULAS = (
    "price ~ sqft + C(city) + sqft:age + I(age**2) + np.log(sqft)",
    "price ~ C(city)*sqft + age",
    "price ~ C(city) + C(rooms) + np.sqrt(sqft) + np.exp(age/100) - 1",
    "np.log(price) ~ np.log(sqft) + C(city):age + I((age - 40)**2) + 0 + C(rooms)",
)


def write_houses(path, n=4000, seed=0, missing=True, cities=CITIES):
    """Write the table to ``path`` (CSV with a header); return the number of rows."""
    rng = np.random.default_rng(seed)
    p = np.array([0.3, 0.25, 0.25, 0.15, 0.05])[:len(cities)]
    city = rng.choice(list(cities), n, p=p / p.sum())
    rooms = rng.integers(1, 6, n)
    sqft = np.round(rng.uniform(300, 4000, n), 1)
    age = rng.integers(0, 90, n)
    base = {c: 100.0 + 60 * i for i, c in enumerate(CITIES)}
    price = (np.array([base.get(c, 50.0) for c in city]) + 0.15 * sqft - 1.1 * age
             + 0.012 * age**2 + 25 * np.log(sqft) + 8 * rooms + rng.normal(0, 15, n))
    price = np.round(price, 3)
    fields = [[f"{s:.1f}", str(a), c, str(r), f"{pr:.3f}"]
              for s, a, c, r, pr in zip(sqft, age, city, rooms, price)]
    if missing:
        for i, col in ((5, 0), (17, 2), (333, 4), (1000, 3)):
            if i < n:
                fields[i][col] = ""
    with open(path, "w") as f:
        f.write("sqft,age,city,rooms,price\n")
        f.writelines(",".join(row) + "\n" for row in fields)
    return n


def statsmodels_fit(path, formula):
    """statsmodels' formula OLS on the same file (pandas reads the empty fields as NaN,
    and the formula drops those rows)."""
    import pandas as pd
    import statsmodels.formula.api as smf

    return smf.ols(formula, pd.read_csv(path)).fit()
