"""Retry with exponential backoff for services that may be briefly unreachable.

Only connection-level failures are retried (refused, reset, timed out, Thrift
transport errors); a query the server rejects is not, since trying again would
fail the same way.  After the last attempt a
:class:`~mrlinreg.storage.errors.StorageUnavailableError` names the service and
its address, never credentials.
"""

from __future__ import annotations

import logging
import socket
import time

from mrlinreg.storage.errors import StorageUnavailableError

log = logging.getLogger(__name__)


def _transport_errors():
    kinds = [OSError, socket.timeout, EOFError]
    try:
        from thrift.transport.TTransport import TTransportException
        kinds.append(TTransportException)
    except ImportError:  # pragma: no cover - thrift is a dependency
        pass
    try:
        from thriftpy2.transport import TTransportException as Thriftpy2TransportException
        kinds.append(Thriftpy2TransportException)
    except ImportError:  # pragma: no cover - thriftpy2 comes with happybase
        pass
    try:
        from kazoo.handlers.threading import KazooTimeoutError
        from kazoo.exceptions import ConnectionLoss, SessionExpiredError
        kinds += [KazooTimeoutError, ConnectionLoss, SessionExpiredError]
    except ImportError:  # pragma: no cover - kazoo is a dependency
        pass
    return tuple(kinds)


UNREACHABLE = _transport_errors()


def describe(exc, secrets=()):
    """``Type: message`` of an exception with any secret masked."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def with_retries(operation, *, service, address, attempts=4, base_delay_s=0.5,
                 max_delay_s=8.0, retry_on=UNREACHABLE, secrets=(), sleep=time.sleep):
    """Call ``operation()`` until it succeeds or ``attempts`` are used.

    Parameters
    ----------
    operation : callable
        Called with no argument; must be safe to repeat (our writes overwrite).
    service, address : str
        For messages: "Hive", "127.0.0.1:10000".
    attempts : int
        Total tries (>= 1). The delay before try k+1 is
        ``min(max_delay_s, base_delay_s * 2**(k-1))``.
    retry_on : tuple of exception types
        Failures that mean "unreachable"; anything else propagates at once.
    secrets : iterable of str
        Strings to mask in logged and raised messages.

    Raises
    ------
    StorageUnavailableError
        After the last failed attempt.
    """
    attempts = max(1, int(attempts))
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except retry_on as exc:
            cause = describe(exc, secrets)
            if attempt == attempts:
                raise StorageUnavailableError(service, address, attempts, cause) from None
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
            log.warning("%s at %s unreachable (%s); retry %d/%d in %.2g s",
                        service, address, cause, attempt, attempts - 1, delay)
            sleep(delay)


def retry_settings(config):
    """keyword arguments for :func:`with_retries` from a ``Config``."""
    return dict(attempts=config.retry.attempts, base_delay_s=config.retry.base_delay_s,
                max_delay_s=config.retry.max_delay_s)
