"""Where published runs go: the ``ResultsStore`` protocol and its two stores.

A *model record* is the dict the training driver produces (JSON-serialisable,
never NaN or infinity)::

    {"run_id": "20261129T231500Z-abc123", "model_name": "demo",
     "created_at": "2026-11-29T23:15:00Z", "solver": "gd", "strategy": "passes",
     "options": {...}, "label": "y", "features": ["x0", "x1"],
     "coefficients": {"x0": 1.5, "x1": -2.0}, "intercept": 0.5,
     "iterations": 12, "converged": true, "loss": 0.0101,
     "n_rows": 1000, "bad_rows": 3,
     "history": [{"iteration": 1, "loss": 3.2, "grad_norm": 1.1, "step": 0.5,
                  "elapsed_s": 0.8}, ...],
     "metrics": {"mse": ..., "rmse": ..., "r2": ..., "mae": ...},
     "summary": null | {"coefficients": {"x0": {"std_err", "t", "p_value",
                                                "ci_low", "ci_high"}, ...},
                        "r2": ..., ...}}

``publish`` writes it to the ``models``, ``coefficients``, ``training_history``
and ``metrics`` tables (and ``residual_samples`` when the record has a sample) (see ``schemas/warehouse.yaml`` and
:mod:`mrlinreg.storage.records` for the mapping), in the partition
``run_id=<run_id>`` of each, replacing whatever that run had there: publishing a
run twice leaves one copy.  ``models`` is written last, so a run listed there
has its details.

Stores are context managers: ``with store:`` holds one connection for several
calls; without it each call opens and closes its own.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mrlinreg.storage.hive_results import HiveResultsStore
from mrlinreg.storage.local_results import LocalResultsStore

__all__ = ["ResultsStore", "HiveResultsStore", "LocalResultsStore"]


@runtime_checkable
class ResultsStore(Protocol):
    def __enter__(self): ...

    def __exit__(self, *exc_info): ...

    def publish(self, record: dict) -> None:
        """Write one model record, replacing any earlier rows of its run."""

    def publish_curve(self, curve) -> None:
        """Write a :class:`~mrlinreg.records.ValidationCurve` as its run's partition of
        ``validation_curves``, replacing an earlier one."""

    def publish_predictions(self, run_id: str, batch: str, table_of_rows) -> None:
        """Replace the ``predictions`` partition (``run_id``, ``batch``) by these rows.

        ``table_of_rows``: a pyarrow Table, a dict of columns, or an iterable of
        row dicts with the columns of ``predictions`` in warehouse.yaml.
        """

    def write_predictions(self, run_id: str, batch: str, chunks) -> None:
        """Replace the (``run_id``, ``batch``) partition by the predict job's text
        output, streamed from ``chunks`` (bytes)."""

    def read_table(self, table: str, run_id: str | None = None):
        """A pyarrow Table of one table (one run's partitions if ``run_id``),
        with the partition columns (``run_id``, then ``batch`` for predictions) last."""
