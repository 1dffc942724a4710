"""A ``--formula`` run: the formula's raw columns, the levels pass, the design.

The passes read the raw columns the formula uses (its label, its numeric
columns, its ``C()`` columns) and build ``[X y]`` per block in the mappers
(:class:`mrlinreg.design.Design`).  Before the first of them, one *levels pass*
collects each ``C()`` column's distinct values: the design's columns, and so the
size of every sum the other passes accumulate, are unknown until the levels are.
A formula without ``C()`` needs no such pass.
"""

from __future__ import annotations

import dataclasses

from mrlinreg.design import Design, LevelsError, sorted_levels
from mrlinreg.driver.training import Dataset
from mrlinreg.errors import InputError
from mrlinreg.formula import parse_formula


def raw_columns(formula_text: str):
    """``(label column, other columns)`` a formula reads."""
    f = parse_formula(formula_text)
    return f.label_column, [c for c in f.columns if c != f.label_column]


def discover_design(opts, data: Dataset, passes, progress) -> Design:
    """Run the levels pass (when the formula has ``C()``) and return the design."""
    design = Design(opts.formula, None, opts.unseen_level)
    levels = {}
    if design.formula.categorical_columns:
        passes.extra["formula"] = design.to_dict()
        result = passes.run({"pass": "levels", "format": data.fmt.to_dict(),
                             "max_levels": opts.max_levels})
        try:
            levels = sorted_levels(design.formula, result.acc.values, opts.max_levels)
        except LevelsError as e:
            raise InputError(str(e).replace("--max-levels", "<opt:max_levels>")) from None
        progress.say("levels: " + "; ".join(f"{c}: {len(v)}" for c, v in levels.items()))
    design = Design(opts.formula, levels, opts.unseen_level)
    passes.extra["formula"] = design.to_dict()
    return design


def design_dataset(data: Dataset, design: Design) -> Dataset:
    """The dataset as the solvers see it: the design's columns are its features."""
    return Dataset(data.inputs, data.fmt, tuple(design.feature_names), design.label_name,
                   implicit_constant=design.formula.spans_constant)


def design_options(opts, design: Design):
    """The formula decides the intercept."""
    return dataclasses.replace(opts, fit_intercept=design.formula.intercept)


def formula_record(design: Design) -> dict:
    return {"text": design.formula_text, "levels": design.levels}
