"""The connection handling the Hive and HBase stores share."""

from __future__ import annotations


class HeldConnection:
    """One client connection held across nested ``with`` blocks.

    Subclasses set ``host``, ``port`` and ``_conn`` (None until opened); the
    connection is closed when the outermost ``with`` exits, so ``with store:``
    around several calls uses one connection and a bare call opens its own.
    """

    _conn = None
    _depth = 0

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def __enter__(self):
        self._depth += 1
        return self

    def __exit__(self, *exc_info):
        self._depth -= 1
        if self._depth == 0:
            self._close()
        return False

    def _close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection is not worth an error
                pass
