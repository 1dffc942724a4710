"""The one table from errors to exit statuses, and how their messages are shown.

Exit status: 0 done; 1 the work failed (divergence, a bad row with
``--on-bad-row fail``, a failed pass, an unreachable service); 2 the command or
its input is wrong.  Messages name settings by their flags (``--max-iter``),
rendered from the ``<opt:field>`` references of :mod:`mrlinreg.errors`.
"""

from __future__ import annotations

import subprocess
import sys

from mrlinreg.cli.args import flag
from mrlinreg.config import ConfigError
from mrlinreg.errors import (InputError, MrLinRegError, OptionError, PassError,
                             RecordFormatError, ResumeError, TrainingError, render)
from mrlinreg.schema import InvalidIdentifierError
from mrlinreg.storage.errors import InvalidRecordError, StorageError

#: (exception classes, exit status), first match wins.
EXIT_CODES = (
    ((OptionError, InputError, ResumeError, ConfigError, RecordFormatError,
      InvalidIdentifierError, InvalidRecordError), 2),
    ((TrainingError, PassError, StorageError), 1),
    ((OSError, subprocess.SubprocessError), 1),  # e.g. listing or writing on HDFS
)


def exit_code(exc: BaseException) -> int | None:
    """The exit status for ``exc``, or None when it is not an expected failure."""
    for classes, code in EXIT_CODES:
        if isinstance(exc, classes):
            return code
    return None


def message(exc: BaseException) -> str:
    """The one-line message shown for ``exc``, with flags for option references."""
    if isinstance(exc, MrLinRegError):
        return render(exc.template, flag)
    if isinstance(exc, (OSError, subprocess.SubprocessError)):
        return f"{type(exc).__name__}: {render(str(exc), flag)}"
    return render(str(exc), flag)


def report(exc: BaseException, usage: str | None = None, stream=None) -> int:
    """Print ``exc`` as ``error: ...`` (after the usage line for command errors); its status."""
    stream = stream or sys.stderr
    code = exit_code(exc)
    if code is None:
        raise exc
    if code == 2 and usage and isinstance(exc, OptionError):
        stream.write(usage if usage.endswith("\n") else usage + "\n")
    print(f"error: {message(exc)}", file=stream)
    return code
