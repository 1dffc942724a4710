"""Errors the storage layer raises; each message says what to do next."""

from __future__ import annotations


class StorageError(RuntimeError):
    """A results or snapshot store could not do what was asked."""


class StorageUnavailableError(StorageError):
    """A service stayed unreachable after every retry.

    Attributes
    ----------
    service : str
        "Hive", "HBase" or "ZooKeeper".
    address : str
        ``host:port`` (never credentials).
    """

    def __init__(self, service, address, attempts, cause):
        self.service, self.address, self.attempts = service, address, attempts
        super().__init__(
            f"{service} at {address} could not be reached after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} ({cause}). Is the cluster up "
            f"(`python -m mrlinreg.cluster status`)? Or set mode = local in the config.")


class SchemaMismatchError(StorageError):
    """A table exists but its columns differ from schemas/warehouse.yaml."""


class InvalidRecordError(ValueError):
    """A model record or snapshot cannot be stored as given (NaN, bad name, ...)."""


class ModelLockedError(StorageError):
    """Another process holds the lock on this model.

    Attributes
    ----------
    model_name : str
    holder : str or None
        Identifier of the holder (``user@host:pid``) when it is known.
    """

    def __init__(self, model_name, holder=None, waited=None):
        self.model_name, self.holder = model_name, holder
        who = f" by {holder}" if holder else ""
        how = (f" after waiting {waited:g} s" if waited is not None
               else "; pass wait=True (--wait) to wait for it")
        super().__init__(f"model {model_name!r} is locked{who}{how}. Another training "
                         f"or publish of this model is running.")


class LockLostError(StorageError):
    """The model's lock can no longer be trusted: its ZooKeeper session expired, or
    ZooKeeper stayed unreachable for longer than the lock's grace period.  The trainer
    stops (exit 1) so that it never runs beside the trainer that may now hold the lock;
    the snapshots written so far stay resumable.
    """

    def __init__(self, model_name, reason):
        self.model_name, self.reason = model_name, reason
        super().__init__(f"lost the lock of model {model_name!r}: {reason}. Training "
                         "stopped so that no second trainer runs beside this one; the run "
                         "continues from its last snapshot with <opt:resume>")
