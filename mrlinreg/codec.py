"""Exact, JSON-safe transport of float64 arrays between tasks and the driver.

Arrays travel as base64 of their little-endian float64 bytes with their
shape: the round trip is bit-exact (so a resumed run can reproduce an
uninterrupted one) and a non-finite intermediate never becomes the invalid
JSON tokens ``NaN`` / ``Infinity``.  Whether a value is finite is checked by
the driver, explicitly, before anything reaches output or storage.
"""

from __future__ import annotations

import base64

import numpy as np


def encode_array(a) -> dict:
    """Encode an array as ``{"shape": [...], "f8": "<base64>"}``."""
    a = np.ascontiguousarray(a, dtype="<f8")
    return {"shape": list(a.shape), "f8": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(obj) -> np.ndarray:
    """Inverse of :func:`encode_array` (returns a writable copy)."""
    raw = base64.b64decode(obj["f8"])
    return np.frombuffer(raw, dtype="<f8").reshape(obj["shape"]).copy()


def encode_arrays(mapping: dict) -> dict:
    """Encode every ndarray value of ``mapping``; other values pass through."""
    return {k: encode_array(v) if isinstance(v, np.ndarray) else v for k, v in mapping.items()}


def decode_arrays(mapping: dict) -> dict:
    """Inverse of :func:`encode_arrays`."""
    return {
        k: decode_array(v) if isinstance(v, dict) and "f8" in v else v
        for k, v in mapping.items()
    }
