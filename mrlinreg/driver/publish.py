"""Publish model records to the results store; keep them in an outbox when it is down.

``publish_run`` is what the training driver calls at the end of a run.  The store
retries with backoff (``[retry]`` in the config); if the service stays
unreachable, or rejects the run, the record is written to
``<state_dir>/outbox/<run_id>.json`` and the message says how to push it later.
``publish_pending`` (``mrlinreg publish``) pushes the outbox.  An outbox file is
deleted only after its run was published, so nothing is lost.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from mrlinreg.errors import RecordFormatError
from mrlinreg.fsutil import write_atomic
from mrlinreg.records import ModelRecord
from mrlinreg.schema import InvalidIdentifierError, load_warehouse
from mrlinreg.storage.errors import InvalidRecordError, StorageError, StorageUnavailableError
from mrlinreg.storage.factory import open_results_store
from mrlinreg.storage.records import checked_record_rows

log = logging.getLogger(__name__)

PUSH_HINT = "mrlinreg publish"


@dataclass
class PublishOutcome:
    """What happened to one run: published, or queued in the outbox (and why)."""

    run_id: str
    published: bool
    message: str
    outbox_path: Path | None = None


@dataclass
class PendingReport:
    published: list = field(default_factory=list)  # run ids
    remaining: list = field(default_factory=list)  # (run id, reason)

    @property
    def ok(self):
        return not self.remaining


def outbox_dir(config):
    return Path(config.state_dir) / "outbox"


def save_to_outbox(record, config):
    """Write ``record`` to ``<state>/outbox/<run_id>.json`` atomically; return the path."""
    run_id, _ = checked_record_rows(record, load_warehouse())  # run_id becomes a file name
    directory = outbox_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.json"
    text = json.dumps(record.to_json(), allow_nan=False, sort_keys=True, indent=1)
    write_atomic(path, text.encode("utf-8"))
    return path


def publish_run(record, config, store=None):
    """Publish one model record, or queue it in the outbox.

    Parameters
    ----------
    record : ModelRecord
    config : Config
    store : ResultsStore, optional
        Default: ``open_results_store(config)``.

    Returns
    -------
    PublishOutcome
        ``published`` False means the record is in the outbox; ``message`` says
        why and how to push it.

    Raises
    ------
    InvalidRecordError
        The record can never be published (bad name, NaN, missing field);
        nothing is written.
    """
    run_id, _ = checked_record_rows(record, load_warehouse())
    store = store if store is not None else open_results_store(config)
    try:
        with store:
            store.publish(record)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the trained model is kept
        path = save_to_outbox(record, config)
        reason = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
        message = (f"run {run_id} was not published: {reason}\n"
                   f"The run is saved in {path}; push it later with `{PUSH_HINT}`.")
        log.warning("%s", message)
        return PublishOutcome(run_id, False, message, path)
    stale = outbox_dir(config) / f"{run_id}.json"
    if stale.exists():  # an earlier failed attempt of this run is now superseded
        stale.unlink()
    return PublishOutcome(run_id, True, f"published run {run_id} to {store!r}")


def pending_runs(config):
    directory = outbox_dir(config)
    return sorted(directory.glob("[!.]*.json")) if directory.is_dir() else []


def publish_pending(config, store=None):
    """Publish every record in the outbox; delete each file once its run is published.

    Stops at the first "unreachable" (the rest would fail the same way); a
    record the store rejects stays in the outbox and the others go on.

    Returns
    -------
    PendingReport
    """
    report = PendingReport()
    paths = pending_runs(config)
    if not paths:
        return report
    store = store if store is not None else open_results_store(config)
    with store:
        for i, path in enumerate(paths):
            run_id = path.stem
            try:
                record = ModelRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
                store.publish(record)
            except StorageUnavailableError as exc:
                report.remaining += [(p.stem, str(exc)) for p in paths[i:]]
                break
            except (StorageError, InvalidRecordError, InvalidIdentifierError,
                    RecordFormatError, ValueError, OSError) as exc:
                report.remaining.append((run_id, f"{type(exc).__name__}: {exc}"))
                continue
            path.unlink()
            report.published.append(run_id)
    return report
