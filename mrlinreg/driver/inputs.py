"""Look at the input before the first pass: its columns, header and delimiter.

The first line of the first input file decides whether the data has a
header (any non-numeric field).  Column names come from that header, else
from a dataset schema (``schemas/datasets/*.yaml``), else ``c0, c1, ...``.
The label defaults to the last column, the features to all the others.
"""

from __future__ import annotations

import yaml

from mrlinreg.errors import InputError
from mrlinreg.fs import FileSystem, is_remote
from mrlinreg.parsing import RowFormat, looks_like_header


def load_dataset_schema(path: str) -> dict:
    """Read a dataset schema: ``columns`` (list), optional ``label``, ``features``, ``delimiter``."""
    try:
        with open(path) as f:
            schema = yaml.safe_load(f) or {}
    except OSError as e:
        raise InputError(f"cannot read schema file {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise InputError(f"schema file {path} is not valid YAML: {e}") from None
    if not isinstance(schema, dict):
        raise InputError(f"schema file {path} must be a mapping with 'columns'")
    cols = schema.get("columns")
    if not isinstance(cols, list) or not cols:
        raise InputError(f"schema file {path} must list 'columns'")
    schema["columns"] = [c["name"] if isinstance(c, dict) else str(c) for c in cols]
    return schema


def first_line(paths, fs: FileSystem) -> str | None:
    """The first non-empty line of the first non-empty input file (decompressed)."""
    for path in paths:
        try:
            files = fs.list_inputs(path)
        except FileNotFoundError as e:
            raise InputError(str(e)) from None
        for uri in files:
            text = fs.head(uri).decode("utf-8", errors="replace")
            for line in text.splitlines():
                if line.strip():
                    return line.rstrip("\r")
    return None


def input_files(paths, fs: FileSystem) -> list:
    """The paths each job reads: local folders expanded to their input files (Hadoop's
    rule: no ``_``/``.`` names), ``hdfs://`` paths as given (Hadoop applies the rule)."""
    out = []
    for path in paths:
        if is_remote(path):
            out.append(path)
            continue
        try:
            out += fs.list_inputs(path)
        except FileNotFoundError as e:
            raise InputError(str(e)) from None
    return out


def resolve_format(paths, fs, *, delimiter=None, label=None, features=None, schema_path=None,
                   require_label=True):
    """Work out the :class:`RowFormat` and the column names.

    Returns
    -------
    fmt : RowFormat
    feature_names : list of str
    label_name : str or None
        None only with ``require_label=False`` when the data has no label column.
    """
    schema = load_dataset_schema(schema_path) if schema_path else {}
    delimiter = delimiter or schema.get("delimiter") or ","
    if len(delimiter) != 1:
        raise InputError("<opt:delimiter> must be a single character")
    line = first_line(paths, fs)
    if line is None:
        raise InputError("the input is empty: no rows to fit")
    header = None
    if looks_like_header(line, delimiter):
        header = line
        names = [n.strip() for n in line.split(delimiter)]
    elif schema:
        names = list(schema["columns"])
    else:
        names = [f"c{i}" for i in range(line.count(delimiter) + 1)]
    if schema and header and names != list(schema["columns"]):
        raise InputError(f"the input header {names} does not match the schema's columns "
                         f"{schema['columns']}")
    if len(names) < 2:
        raise InputError(f"need at least two columns (features and a label); found {names}")
    if len(set(names)) != len(names):
        raise InputError(f"column names repeat in the header: {names}")
    label = label or schema.get("label") or names[-1]
    if label not in names:
        if require_label:
            raise InputError(f"label column {label!r} not found; columns are {names}")
        label = None  # scoring data without labels
    if features:
        feats = [f.strip() for f in features.split(",")] if isinstance(features, str) else list(features)
    else:
        feats = schema.get("features") or [n for n in names if n != label]
    missing = [f for f in feats if f not in names]
    if missing:
        raise InputError(f"feature columns {missing} not found; columns are {names}")
    if label in feats:
        raise InputError(f"the label {label!r} cannot also be a feature")
    if not feats:
        raise InputError("no feature columns to fit")
    fmt = RowFormat(delimiter=delimiter, n_columns=len(names),
                    feature_idx=tuple(names.index(f) for f in feats),
                    label_idx=None if label is None else names.index(label), header=header)
    return fmt, feats, label
