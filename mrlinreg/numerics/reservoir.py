"""A deterministic, mergeable sample of rows: the k rows with the smallest hash keys.

Each row gets a 64-bit key hashed from its own values (the bits of its parsed
float64 fields, mixed column by column with the splitmix64 finaliser, all rows
of a block at once).  A sample keeps the ``k`` rows with the smallest keys; the
union of two samples, cut back to ``k``, is the sample of the union of their
rows.  So mappers sample their splits, a reducer merges their samples, and the
result is the same uniform-looking sample of ``min(k, n)`` rows whatever the
number of mappers or the order they finish in (bottom-k sampling).  Equal rows
have equal keys; ties are broken by the sampled values, so the order is total.

Memory is O(k) whatever the number of rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_keys", "ReservoirSample"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x):
    """splitmix64's finaliser (a bijection of uint64 with good avalanche)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def row_keys(values) -> np.ndarray:
    """A 64-bit hash key per row of ``values`` (n, c), from the rows' float64 bits.

    ``-0.0`` hashes as ``0.0``.  Vectorised over rows; loops over the c columns.
    """
    V = np.ascontiguousarray(np.asarray(values, dtype=np.float64) + 0.0)  # -0.0 -> 0.0
    bits = V.view(np.uint64).reshape(V.shape)
    h = np.full(V.shape[0], _GOLDEN, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(V.shape[1]):
            h = _mix(h ^ bits[:, j]) + _GOLDEN
    return _mix(h)


class ReservoirSample:
    """The ``k`` rows with the smallest keys among those added (or merged).

    ``columns`` names the sampled values (e.g. ``fitted``, ``y_true``); each
    :meth:`add` passes one array per column plus the rows' keys.
    """

    def __init__(self, k: int, columns=("fitted", "y_true")):
        self.k, self.columns = int(k), tuple(columns)
        self.keys = np.zeros(0, dtype=np.uint64)
        self.values = np.zeros((0, len(self.columns)))

    def __len__(self):
        return len(self.keys)

    def add(self, keys, *cols) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        vals = np.column_stack([np.asarray(c, dtype=np.float64) for c in cols]) \
            if cols else np.zeros((len(keys), 0))
        self._keep(np.concatenate([self.keys, keys]), np.vstack([self.values, vals]))

    def merge(self, other: "ReservoirSample") -> None:
        self._keep(np.concatenate([self.keys, other.keys]),
                   np.vstack([self.values, other.values]))

    def _keep(self, keys, values):
        # total order: key, then the values (equal keys are equal rows, in practice)
        order = np.lexsort(tuple(values[:, j] for j in reversed(range(values.shape[1])))
                           + (keys,))[:self.k] if len(keys) else np.zeros(0, dtype=int)
        self.keys, self.values = keys[order], values[order]

    def column(self, name) -> np.ndarray:
        return self.values[:, self.columns.index(name)]

    def to_dict(self) -> dict:
        """JSON-safe (keys as hex strings: JSON numbers lose 64-bit integers)."""
        return {"k": self.k, "columns": list(self.columns),
                "keys": [format(int(k), "016x") for k in self.keys],
                "values": self.values.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "ReservoirSample":
        s = cls(d["k"], d["columns"])
        s.keys = np.array([int(k, 16) for k in d["keys"]], dtype=np.uint64)
        s.values = np.asarray(d["values"], dtype=np.float64).reshape(-1, len(s.columns))
        return s
