"""The :class:`Snapshot` of a model after one iteration, and its byte encoding.

A :class:`Snapshot` is encoded into *cells* ``{b"family:qualifier": bytes}``,
the shape of one HBase row; :class:`~mrlinreg.storage.hbase_snapshots.HBaseSnapshotStore`
writes them as a row, :class:`~mrlinreg.storage.local_snapshots.LocalSnapshotStore`
as one file.  Both therefore round-trip the same bytes.

Encoding (all numbers little-endian, never decimal text)::

    m:model_name, m:run_id, m:created_at   UTF-8
    m:iteration                            int64   ('<q')
    m:loss, m:grad_norm, m:step            float64 ('<d'), or b"" for None
    m:state_keys                           solver_state keys, UTF-8, '\\n'-joined
    w:weights                              float64 array, raw ('<f8'), 1-D
    s:<key>                                one typed value per solver_state key:
        b"N"                       None
        b"F" + '<d'                float
        b"I" + '<q'                int
        b"B" + b"\\0" | b"\\1"       bool
        b"S" + UTF-8               str
        b"A" + '<B' ndim + '<q' * ndim shape + '<f8' data (C order)   float array

Floats and arrays come back bit for bit.  ``put`` refuses NaN and infinity
anywhere (weights, scalars, solver state) with an :class:`InvalidRecordError`:
a diverged model is not a version to resume from.

A run's context (what is fixed for the whole run: data moments, scaling, the R
factor, the options) is stored once per run, not with every iteration:
:func:`encode_run_cells` gives its cells (``m:model_name``, ``m:run_id``,
``m:state_keys`` and one ``s:<key>`` per value).  A value whose encoding is over
:data:`CHUNK_BYTES` (a large R factor) is split: ``s:<key>`` holds ``b"C"`` and the
piece count, the pieces follow as ``s:<key>~<i, 6 digits>`` — HBase refuses cells over
10 MB by default (``hbase.client.keyvalue.maxsize``).

Row keys and the "latest" pointer are described in ``docs/hbase-rowkeys.md``.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from mrlinreg.schema import InvalidIdentifierError, validate_key_name
from mrlinreg.storage.errors import InvalidRecordError

MAX_ITERATION = 10 ** 10 - 1  # row keys pad the iteration to 10 digits
STATE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,128}")
SCALARS = ("loss", "grad_norm", "step")
CHUNK_BYTES = 4 << 20


def utc_now():
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(eq=False)
class Snapshot:
    """The model after one iteration.

    ``weights`` is a 1-D float64 array (working space, intercept last, as the
    solvers keep it); ``solver_state`` maps names to float64 arrays, floats,
    ints, bools, strings or None (e.g. L-BFGS memory, a step-size schedule).
    Two snapshots are equal when they encode to the same bytes.
    """

    model_name: str
    run_id: str
    iteration: int
    weights: np.ndarray
    loss: float | None = None
    grad_norm: float | None = None
    step: float | None = None
    solver_state: dict = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)

    def __eq__(self, other):
        if not isinstance(other, Snapshot):
            return NotImplemented
        return encode_cells(self, check=False) == encode_cells(other, check=False)

    @property
    def key(self):
        """``(model_name, run_id, iteration)``: what orders and identifies it."""
        return self.model_name, self.run_id, self.iteration


# --- checking -------------------------------------------------------------

def checked_names(model_name, run_id=None):
    try:
        validate_key_name(model_name, "model name")
        if run_id is not None:
            validate_key_name(run_id, "run_id")
    except InvalidIdentifierError as exc:
        raise InvalidRecordError(str(exc)) from None


def _finite_array(value, what):
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise InvalidRecordError(f"{what} must be a float array, got dtype {array.dtype}")
    array = array.astype("<f8", copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InvalidRecordError(f"{what} has {bad} non-finite value(s) (NaN or inf); "
                                 f"a diverged model is not stored")
    return array


def _finite_float(value, what):
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRecordError(f"{what} is {number}; NaN and infinity are never stored")
    return number


# --- encoding -------------------------------------------------------------

def _encode_value(value, what, check):
    if value is None:
        return b"N"
    if isinstance(value, (bool, np.bool_)):
        return b"B" + (b"\x01" if value else b"\x00")
    if isinstance(value, numbers.Integral):
        return b"I" + struct.pack("<q", int(value))
    if isinstance(value, numbers.Real):
        return b"F" + struct.pack("<d", _finite_float(value, what) if check else float(value))
    if isinstance(value, str):
        return b"S" + value.encode("utf-8")
    if isinstance(value, (np.ndarray, list, tuple)):
        array = _finite_array(value, what) if check else np.asarray(value, dtype="<f8")
        array = np.ascontiguousarray(array)
        return (b"A" + struct.pack("<B", array.ndim)
                + struct.pack(f"<{array.ndim}q", *array.shape) + array.tobytes())
    raise InvalidRecordError(f"{what}: cannot store a {type(value).__name__}; use a float "
                             f"array, float, int, bool, str or None")


def _decode_value(blob):
    tag, body = blob[:1], blob[1:]
    if tag == b"N":
        return None
    if tag == b"B":
        return body == b"\x01"
    if tag == b"I":
        return struct.unpack("<q", body)[0]
    if tag == b"F":
        return struct.unpack("<d", body)[0]
    if tag == b"S":
        return body.decode("utf-8")
    if tag == b"A":
        ndim = body[0]
        shape = struct.unpack_from(f"<{ndim}q", body, 1)
        data = body[1 + 8 * ndim:]
        return np.frombuffer(data, dtype="<f8").astype(np.float64).reshape(shape)
    raise ValueError(f"unknown solver-state value tag {tag!r}")


def _opt_float(value, what, check):
    if value is None:
        return b""
    return struct.pack("<d", _finite_float(value, what) if check else float(value))


def encode_cells(snapshot, check=True):
    """Cells of one snapshot; with ``check`` refuse bad names and non-finite numbers."""
    s = snapshot
    if check:
        checked_names(s.model_name, s.run_id)
        if isinstance(s.iteration, bool) or not isinstance(s.iteration, numbers.Integral) \
                or not 0 <= s.iteration <= MAX_ITERATION:
            raise InvalidRecordError(f"iteration must be an integer in 0..{MAX_ITERATION}, "
                                     f"got {s.iteration!r}")
        weights = _finite_array(s.weights, "weights")
        if weights.ndim != 1:
            raise InvalidRecordError(f"weights must be 1-D, got shape {weights.shape}")
        for key in s.solver_state:
            if not isinstance(key, str) or not STATE_KEY.fullmatch(key):
                raise InvalidRecordError(f"solver_state key {key!r}: use letters, digits, "
                                         f"'_', '.' and '-'")
    else:
        weights = np.asarray(s.weights, dtype="<f8")
    where = f"snapshot {s.model_name}/{s.run_id}/{s.iteration}"
    cells = {
        b"m:model_name": s.model_name.encode("utf-8"),
        b"m:run_id": s.run_id.encode("utf-8"),
        b"m:iteration": struct.pack("<q", int(s.iteration)),
        b"m:created_at": str(s.created_at).encode("utf-8"),
        b"m:state_keys": "\n".join(s.solver_state).encode("utf-8"),
        b"w:weights": np.ascontiguousarray(weights, dtype="<f8").tobytes(),
    }
    for name in SCALARS:
        cells[f"m:{name}".encode()] = _opt_float(getattr(s, name), f"{where}: {name}", check)
    for key, value in s.solver_state.items():
        cells[f"s:{key}".encode()] = _encode_value(value, f"{where}: solver_state[{key!r}]",
                                                  check)
    return cells


def decode_cells(cells):
    """The :class:`Snapshot` stored in ``cells`` (inverse of :func:`encode_cells`)."""
    text = lambda name: cells[name].decode("utf-8")  # noqa: E731
    keys = text(b"m:state_keys")
    state = {key: _decode_value(cells[f"s:{key}".encode()])
             for key in (keys.split("\n") if keys else [])}
    scalars = {name: (struct.unpack("<d", cells[f"m:{name}".encode()])[0]
                      if cells.get(f"m:{name}".encode()) else None) for name in SCALARS}
    return Snapshot(
        model_name=text(b"m:model_name"),
        run_id=text(b"m:run_id"),
        iteration=struct.unpack("<q", cells[b"m:iteration"])[0],
        weights=np.frombuffer(cells[b"w:weights"], dtype="<f8").astype(np.float64),
        solver_state=state,
        created_at=text(b"m:created_at"),
        **scalars,
    )


# --- run context (once per run) ---------------------------------------------

def _value_cells(key, blob):
    if len(blob) <= CHUNK_BYTES:
        return {f"s:{key}".encode(): blob}
    pieces = [blob[i:i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)]
    cells = {f"s:{key}".encode(): b"C" + struct.pack("<I", len(pieces))}
    cells.update({f"s:{key}~{i:06d}".encode(): piece for i, piece in enumerate(pieces)})
    return cells


def _value_blob(cells, key):
    blob = cells[f"s:{key}".encode()]
    if blob[:1] != b"C":
        return blob
    (count,) = struct.unpack("<I", blob[1:5])
    return b"".join(cells[f"s:{key}~{i:06d}".encode()] for i in range(count))


def encode_run_cells(model_name, run_id, values, check=True):
    """Cells of a run's context: ``values`` maps keys to typed values (as solver state)."""
    checked_names(model_name, run_id)
    where = f"run {model_name}/{run_id}"
    cells = {b"m:model_name": model_name.encode("utf-8"), b"m:run_id": run_id.encode("utf-8"),
             b"m:state_keys": "\n".join(values).encode("utf-8")}
    for key, value in values.items():
        if not isinstance(key, str) or not STATE_KEY.fullmatch(key):
            raise InvalidRecordError(f"run context key {key!r}: use letters, digits, "
                                     f"'_', '.' and '-'")
        cells.update(_value_cells(key, _encode_value(value, f"{where}: {key}", check)))
    return cells


def decode_run_cells(cells):
    """The values of a run's context (inverse of :func:`encode_run_cells`)."""
    keys = cells[b"m:state_keys"].decode("utf-8")
    return {key: _decode_value(_value_blob(cells, key)) for key in (keys.split("\n") if keys else [])}
