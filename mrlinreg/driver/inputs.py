"""Look at the input before the first pass: each file's columns, header and delimiter.

Every input file's first lines are read (local files directly; ``hdfs://`` files
through :meth:`mrlinreg.fs.FileSystem.head`, many at once on a thread pool).
Per file, ``header`` decides whether its first line is a header: ``auto`` when
any field is non-empty and not a number, ``yes`` always, ``no`` never.

The columns of the dataset (the *reference*) come from the schema, else from the
first header found, else ``c0, c1, ...``.  A file with a header is read **by
name**: its own column order is passed to the tasks (keyed by file path, see
:func:`mrlinreg.parsing.file_key`), so files whose headers list the same columns
in different orders give the same rows.  A headerless file is read by position
in the reference order.  A file whose header names a different set of columns
(one missing, or one the others do not have) is an error naming the file and
the difference, before any pass: an extra column means the files do not share a
schema, and with the default features (all but the label) it would silently be
a feature in some files and absent in others.  So is a file whose rows have a
different number of fields than its header (or, headerless, than the reference).

The label defaults to the last column, the features to all the others.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import yaml

from mrlinreg.errors import InputError
from mrlinreg.fs import FileSystem, is_remote, local_path
from mrlinreg.parsing import (HeaderError, RowFormat, clean_line, field_count, file_key,
                              header_names, header_text, looks_like_header)

HEADER_MODES = ("auto", "yes", "no")
SNIFF_BYTES = 1 << 16     # enough for a header and some rows
SNIFF_ROWS = 50           # data lines looked at to judge a file's field count
REMOTE_READERS = 16       # hdfs heads read at once


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
        raise InputError(f"schema file {path} must be a mapping with 'columns' "
                         f"(it holds a {type(schema).__name__})")
    cols = schema.get("columns")
    if not isinstance(cols, list) or not cols:
        raise InputError(f"schema file {path} must list 'columns'")
    schema["columns"] = [c["name"] if isinstance(c, dict) else str(c) for c in cols]
    return schema


def _list(path, fs):
    try:
        return fs.list_inputs(path)
    except FileNotFoundError as e:
        raise InputError(f"{e}; check the path (every INPUT must exist before training "
                         "starts)") from None


def listing(paths, fs: FileSystem) -> dict:
    """``{path: its input files}`` (local ones absolute), listed once; every path must
    exist and hold input.  Pass it on, so that no caller lists the inputs again."""
    out = {}
    for path in paths:
        files = _list(path, fs)
        out[path] = files if is_remote(path) else [os.path.abspath(p) for p in files]
    return out


def input_files(paths, fs: FileSystem, listed=None) -> list:
    """The paths each job reads: local folders expanded to their input files (Hadoop's
    rule: no ``_``/``.`` names) as absolute paths, ``hdfs://`` paths as given (Hadoop
    applies the rule; there may be thousands of part files).  Every path must exist."""
    listed = listing(paths, fs) if listed is None else listed
    out = []
    for path in paths:
        out += [path] if is_remote(path) else listed[path]
    return out


def all_files(paths, fs: FileSystem, listed=None) -> list:
    """Every input file, local ones absolute, remote ones as listed."""
    listed = listing(paths, fs) if listed is None else listed
    return [f for path in paths for f in listed[path]]


def _head(path, fs) -> bytes:
    if not is_remote(path) and not path.endswith((".gz", ".bz2")):
        with open(local_path(path), "rb") as f:
            return f.read(SNIFF_BYTES)
    return fs.head(path, SNIFF_BYTES)


def read_heads(files, fs) -> dict:
    """``{path: first lines (text)}``: local files in turn, remote ones on a thread pool."""
    local = [p for p in files if not is_remote(p)]
    remote = [p for p in files if is_remote(p)]
    heads = {p: _head(p, fs) for p in local}
    if remote:
        with ThreadPoolExecutor(max_workers=min(REMOTE_READERS, len(remote))) as pool:
            heads.update(zip(remote, pool.map(lambda p: _head(p, fs), remote)))
    out = {}
    for path in files:
        data = heads[path]
        lines = data.split(b"\n")
        if len(data) >= SNIFF_BYTES and len(lines) > 1:
            lines = lines[:-1]  # the last one may be cut
        elif lines and lines[-1] == b"":
            lines = lines[:-1]
        out[path] = [line.decode("utf-8", "replace") for line in lines[:SNIFF_ROWS + 1]]
    return out


def _field_counts(lines, delimiter):
    """How many data lines have each field count (blank ones, as the parser sees them,
    are left out: they are bad rows, not evidence of a layout)."""
    return Counter(field_count(line, delimiter) for line in lines
                   if clean_line(line, delimiter).strip())


class _Sniffed:
    __slots__ = ("path", "header", "names", "counts")

    def __init__(self, path, header, names, counts):
        self.path, self.header, self.names, self.counts = path, header, names, counts


def sniff_files(heads: dict, delimiter: str, header_mode: str) -> list:
    """Per non-empty file: its header line (or None), its names, its rows' field counts."""
    out = []
    for path, lines in heads.items():
        if not any(clean_line(line, delimiter).strip() for line in lines):
            continue  # an empty (or blank) file holds no rows: nothing to read by name
        first = lines[0]
        has_header = header_mode == "yes" or (header_mode == "auto" and
                                              looks_like_header(first, delimiter))
        names = None
        if has_header:
            try:
                names = header_names(first, delimiter)
            except HeaderError as e:
                raise InputError(f"input file {path}: {e}") from None
        data = lines[1:] if has_header else lines
        out.append(_Sniffed(path, header_text(first) if has_header else None, names,
                            _field_counts(data, delimiter)))
    return out


def _check_file(s: _Sniffed, reference, ref_from):
    """Raise when a file's columns differ from the reference columns."""
    if s.names is not None:
        missing = [n for n in reference if n not in s.names]
        extra = [n for n in s.names if n not in reference]
        if missing or extra:
            what = "; ".join(x for x in (
                f"it lacks {missing}" if missing else "",
                f"it has {extra}, which {ref_from} does not" if extra else "") if x)
            raise InputError(f"input file {s.path}: its header {s.names} does not match the "
                             f"columns {reference} of {ref_from}: {what}. Every file must "
                             "hold the same columns (in any order)")
        expected, where = len(s.names), "its header has"
    else:
        expected, where = len(reference), f"the dataset ({ref_from}) has"
    got, times = s.counts.most_common(1)[0] if s.counts else (expected, 0)
    if expected not in s.counts and times >= 2:  # one odd line is a bad row, not a layout
        hint = (" (a header of other data, or the wrong delimiter?)" if s.names is not None
                else " (is its first line a header? see <opt:header>)")
        raise InputError(f"input file {s.path}: {where} {expected} columns but its rows have "
                         f"{got} fields{hint}")


def resolve_format(paths, fs, *, delimiter=None, label=None, features=None, schema_path=None,
                   require_label=True, header="auto", listed=None, weight=None):
    """Work out the :class:`RowFormat` (with a layout per input file) and the column names.

    Returns
    -------
    fmt : RowFormat
    feature_names : list of str
    label_name : str or None
        None only with ``require_label=False`` when the data has no label column.
    """
    if header not in HEADER_MODES:
        raise InputError(f"<opt:header> must be one of {', '.join(HEADER_MODES)}")
    schema = load_dataset_schema(schema_path) if schema_path else {}
    delimiter = delimiter or schema.get("delimiter") or ","
    if len(delimiter) != 1:
        raise InputError("<opt:delimiter> must be a single character")
    sniffed = sniff_files(read_heads(all_files(paths, fs, listed), fs), delimiter, header)
    if not sniffed:
        raise InputError("the input is empty: no rows to fit")
    with_header = [s for s in sniffed if s.names is not None]
    if schema:
        reference, ref_from = list(schema["columns"]), f"the schema {schema_path}"
    elif with_header:
        reference, ref_from = with_header[0].names, f"the header of {with_header[0].path}"
    else:  # the field count most rows have (one odd file of bad rows does not decide)
        k = sum((s.counts for s in sniffed), Counter()).most_common(1)[0][0]
        reference, ref_from = [f"c{i}" for i in range(k)], "the input's rows"
    if len(set(reference)) != len(reference):
        raise InputError(f"column names repeat in {ref_from}: {reference}")
    for s in sniffed:
        _check_file(s, reference, ref_from)
    if len(reference) < 2:
        raise InputError(f"need at least two columns (features and a label); found {reference}")
    label = label or schema.get("label") or reference[-1]
    if label not in reference:
        if require_label:
            raise InputError(f"label column {label!r} not found; columns are {reference}")
        label = None  # scoring data without labels
    if features:
        feats = [f.strip() for f in features.split(",")] if isinstance(features, str) \
            else list(features)
    else:
        feats = schema.get("features") or [n for n in reference if n not in (label, weight)]
    if weight is not None:
        if weight not in reference:
            raise InputError(f"weight column {weight!r} (<opt:weight_column>) not found; "
                             f"columns are {reference}")
        if weight == label or weight in feats:
            raise InputError(f"the weight column {weight!r} cannot also be the label or a "
                             "feature")
    missing = [f for f in feats if f not in reference]
    if missing:
        raise InputError(f"feature columns {missing} not found; columns are {reference}")
    if label in feats:
        raise InputError(f"the label {label!r} cannot also be a feature")
    if not feats:
        raise InputError("no feature columns to fit")

    def layout(names, header_line):
        return RowFormat(delimiter=delimiter, n_columns=len(names),
                         feature_idx=tuple(names.index(f) for f in feats),
                         label_idx=None if label is None else names.index(label),
                         header=header_line,
                         weight_idx=None if weight is None else names.index(weight))

    files = tuple((file_key(s.path), layout(s.names or reference, s.header)) for s in sniffed)
    default_header = with_header[0].header if with_header else None
    fmt = layout(reference, default_header)
    fmt = RowFormat(fmt.delimiter, fmt.n_columns, fmt.feature_idx, fmt.label_idx,
                    fmt.header, files, fmt.weight_idx)
    return fmt, feats, label
