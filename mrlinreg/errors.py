"""Domain errors of mrlinreg, independent of any command line.

A message may name a setting the user can change as ``<opt:NAME>``, where
``NAME`` is a field of :class:`mrlinreg.options.TrainOptions` (or
:class:`~mrlinreg.options.PredictOptions`).  ``str(error)`` renders it as the
plain field name (``learning_rate``), so a library user reads the names of
the keyword arguments; the command line renders the same message with its
flags (``--learning-rate``) through :func:`render`.  The numerics and the
driver therefore never quote a flag themselves.

Which exit status each class means is decided in one table, in
:mod:`mrlinreg.cli.errors`.
"""

from __future__ import annotations

import re

OPTION_REF = re.compile(r"<opt:([a-z0-9_]+)>")


def render(message: str, option_name=lambda field: field) -> str:
    """Replace every ``<opt:field>`` in ``message`` by ``option_name(field)``."""
    return OPTION_REF.sub(lambda m: option_name(m.group(1)), message)


class MrLinRegError(Exception):
    """Base class: a failure with a message that says what to change."""

    def __init__(self, message: str):
        super().__init__(message)
        self.template = message

    def __str__(self) -> str:
        return render(self.template)


class OptionError(MrLinRegError, ValueError):
    """A setting is invalid, or settings do not combine.

    Attributes
    ----------
    field : str or None
        The option field at fault, when there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InputError(MrLinRegError, ValueError):
    """The input data or its column options are not usable."""


class TrainingError(MrLinRegError, RuntimeError):
    """Training cannot produce a trustworthy model (divergence, rank, no rows)."""


class PassError(MrLinRegError, RuntimeError):
    """A MapReduce pass failed; the message says why, in the user's terms."""


class BadRowError(PassError):
    """``on_bad_row = fail`` met a bad row."""


class ResumeError(MrLinRegError, ValueError):
    """A run cannot be resumed: nothing to resume, or its options differ."""


class RecordFormatError(MrLinRegError, ValueError):
    """A stored record (model JSON, snapshot) has a format this version cannot read."""
