"""Parquet and ORC inputs, and Hive tables by name: what the passes read and how.

Before the first pass the driver reads every columnar file's footer (schema and
row groups / stripes, a few KiB each; ``hdfs://`` files over WebHDFS with offset
and length, on a thread pool), checks that the model's columns are present and
numeric in every file, and lists the *units* (row group or stripe of one file).
The passes then read a **manifest** instead of the data: text files of one JSON
line per unit, contiguous units of a file grouped into splits of about
``SPLIT_BYTES`` (one map task each), so one large file spreads over several tasks
and a task's memory is one batch (Parquet) or one stripe (ORC), never a file.

``--hive-table db.table [--where ...]`` asks the table catalog (Hive, or the local
warehouse) for the table's columns, partitions and each chosen partition's
location and format, then lists the partitions' files: partition values travel
in the manifest as constant columns, usable as features when numeric.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mrlinreg import columnar
from mrlinreg.errors import InputError
from mrlinreg.fs import is_remote, local_path
from mrlinreg.parsing import RowFormat
from mrlinreg.partition_filter import (FilterError, is_numeric_hive_type, parse_table_name,
                                       parse_where, select_partitions)

#: Bytes of a file per map task (contiguous row groups of one file share a task).
SPLIT_BYTES = int(float(os.environ.get("MRLINREG_COLUMNAR_SPLIT_MB", "64")) * (1 << 20))
REMOTE_READERS = 16


@dataclass(frozen=True)
class ColumnarSource:
    """Columnar input of a run: the columns read (features, then the label when there
    is one), the units, and how tasks reach ``hdfs://`` files."""

    columns: tuple
    units: tuple
    sizes: dict
    webhdfs: dict | None

    def params(self) -> dict:
        return {"columns": list(self.columns), "webhdfs": self.webhdfs}

    def write_manifests(self, folder: str) -> list:
        """One manifest file per split; returns their paths (the passes' input)."""
        paths = []
        for i, group in enumerate(columnar.group_units(self.units, self.sizes, SPLIT_BYTES)):
            path = os.path.join(folder, f"manifest-{i:05d}.jsonl")
            with open(path, "w") as f:
                f.write("".join(u.to_line() + "\n" for u in group))
            paths.append(path)
        return paths


def _head(path, fs) -> bytes:
    if not is_remote(path):
        with open(local_path(path), "rb") as f:
            return f.read(columnar.MAGIC_BYTES)
    return fs.head(path, columnar.MAGIC_BYTES)[:columnar.MAGIC_BYTES]


def file_formats(files, fs, requested="auto") -> dict:
    """``{path: csv|parquet|orc}`` by ``requested``, else magic bytes and extension."""
    if requested != "auto":
        return {p: requested for p in files}
    remote = [p for p in files if is_remote(p)]
    heads = {p: _head(p, fs) for p in files if not is_remote(p)}
    if remote:
        with ThreadPoolExecutor(max_workers=min(REMOTE_READERS, len(remote))) as pool:
            heads.update(zip(remote, pool.map(lambda p: _head(p, fs), remote)))
    try:
        return {p: columnar.format_of(p, heads[p]) for p in files}
    except columnar.ColumnarError as e:
        raise InputError(str(e)) from None


def input_format_of(files, fs, requested="auto") -> str:
    """The one format of all ``files`` (csv, parquet or orc); a mix is an error."""
    formats = file_formats(files, fs, requested)
    kinds = sorted(set(formats.values()))
    if len(kinds) > 1:
        example = {k: next(p for p, f in formats.items() if f == k) for k in kinds}
        raise InputError("the inputs mix formats: " + ", ".join(
            f"{k} ({example[k]})" for k in kinds) + "; train on one format at a time")
    return kinds[0] if kinds else "csv"


def webhdfs_of(config) -> dict | None:
    return None if config is None else {"url": config.hdfs.url, "user": config.hdfs.user}


def inspect_files(files, formats: dict, webhdfs: dict | None) -> list:
    """The footer of every file (:class:`mrlinreg.columnar.FileInfo`)."""
    web = columnar.WebHdfs(**webhdfs) if webhdfs else None

    def one(path):
        try:
            f = columnar.open_input(path, web)
        except OSError as e:
            raise InputError(f"cannot open {path}: {e}") from None
        except columnar.ColumnarError as e:
            raise InputError(str(e)) from None
        try:
            return columnar.inspect(f, path, formats[path])
        except columnar.ColumnarError as e:
            raise InputError(f"{str(e).rstrip('.')}. Check the file, or pass "
                             "<opt:input_format>") from None
        finally:
            f.close()
    if len(files) > 1 and any(is_remote(p) for p in files):
        with ThreadPoolExecutor(max_workers=min(REMOTE_READERS, len(files))) as pool:
            return list(pool.map(one, files))
    return [one(p) for p in files]


def choose_columns(names, label, features, *, require_label=True, partition_names=()):
    """Label (default: the last column) and features (default: every other column that
    is not a partition column), both by name."""
    available = list(names) + [p for p in partition_names if p not in names]
    label = label or (list(names)[-1] if names else None)
    if label not in available:
        if require_label:
            raise InputError(f"label column {label!r} not found; columns are {available}")
        label = None
    feats = list(features) if features else [n for n in names if n != label]
    missing = [f for f in feats if f not in available]
    if missing:
        raise InputError(f"feature columns {missing} not found; columns are {available}")
    if label in feats:
        raise InputError(f"the label {label!r} cannot also be a feature")
    if not feats:
        raise InputError("no feature columns to fit")
    return feats, label


def check_types(infos, wanted, partition_types: dict):
    """Every wanted column present and numeric in every file (partition columns: numeric
    in the table)."""
    for name in wanted:
        if name in partition_types:
            if not is_numeric_hive_type(partition_types[name]):
                raise InputError(f"partition column {name!r} is {partition_types[name]}: "
                                 "only a numeric partition column can be a feature or the "
                                 "label")
            continue
        for info in infos:
            if name not in info.schema:
                raise InputError(f"input file {info.path} has no column {name!r} (its "
                                 f"columns are {sorted(info.schema)})")
            t = info.schema[name]
            if not columnar.numeric_type(t):
                raise InputError(f"column {name!r} of {info.path} is {t}, not a number: "
                                 "choose numeric columns with <opt:features> and "
                                 "<opt:label>")


def resolve_columnar(file_consts, fs, fmt_name, *, label=None, features=None,
                     require_label=True, webhdfs=None, partition_types=None,
                     formats=None, weight=None):
    """Resolve a columnar input: ``file_consts`` is ``[(path, {partition: value text})]``.

    Returns ``(RowFormat, feature names, label name, ColumnarSource)``; the row format
    places the features first, then the label, as the blocks hold them.
    """
    partition_types = dict(partition_types or {})
    files = [p for p, _ in file_consts]
    if not files:
        raise InputError("the input is empty: no files to read")
    formats = formats or {p: fmt_name for p in files}
    infos = inspect_files(files, formats, webhdfs if any(is_remote(p) for p in files)
                          else None)
    names = [n for n in infos[0].schema if n not in partition_types]
    feats, label = choose_columns(names, label, features, require_label=require_label,
                                  partition_names=list(partition_types))
    if weight is not None:  # --weight-column: read after the label, never a feature
        feats = _without_weight(feats, weight, label, features,
                                names + list(partition_types))
    wanted = feats + ([label] if label is not None else []) + \
        ([weight] if weight is not None else [])
    check_types(infos, wanted, partition_types)
    units, sizes = [], {}
    for info, (path, consts) in zip(infos, file_consts):
        values = {}
        for name in wanted:
            if name in partition_types:
                v = consts.get(name)
                try:
                    values[name] = None if v is None else float(v)
                except ValueError:
                    raise InputError(f"partition value {name}={v!r} of {path} is not a "
                                     "number") from None
        units += columnar.file_units(info, values)
        sizes[path] = info.size
    if not units:
        raise InputError("the input is empty: no rows to fit")
    d = len(feats)
    fmt = RowFormat(delimiter=",", n_columns=len(wanted), feature_idx=tuple(range(d)),
                    label_idx=None if label is None else d, header=None,
                    weight_idx=None if weight is None else len(wanted) - 1)
    source = ColumnarSource(tuple(wanted), tuple(units), sizes,
                            webhdfs if any(is_remote(p) for p in files) else None)
    return fmt, feats, label, source


def _without_weight(feats, weight, label, features, available):
    """The features without the weight column (``--weight-column``), which must exist
    and be neither the label nor an asked-for feature."""
    if weight not in available:
        raise InputError(f"weight column {weight!r} (<opt:weight_column>) not found; "
                         f"columns are {available}")
    if weight == label or (features and weight in features):
        raise InputError(f"the weight column {weight!r} cannot also be the label or a "
                         "feature")
    feats = [f for f in feats if f != weight]
    if not feats:
        raise InputError("no feature columns to fit")
    return feats


# --- tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFiles:
    """A table's chosen files with their partition values."""

    name: str
    stored_as: str
    file_consts: list
    partition_types: dict
    formats: dict


def table_files(hive_table: str, where: str | None, catalog, fs, default_database="default"):
    """List the files of ``hive_table`` (and of the partitions ``where`` keeps)."""
    from mrlinreg.storage.errors import StorageError
    from mrlinreg.storage.table_catalog import TableNotFoundError

    try:
        database, table = parse_table_name(hive_table, default_database)
        comparisons = parse_where(where) if where else []
    except FilterError as e:
        raise InputError(str(e)) from None
    try:
        with catalog:
            layout = catalog.layout(database, table)
            partition_types = dict(layout.partition_columns)
            try:
                chosen = select_partitions(layout.partitions, comparisons, partition_types) \
                    if partition_types else ([{}] if not comparisons else None)
            except FilterError as e:
                raise InputError(str(e)) from None
            if chosen is None:
                raise InputError(f"--where: table {database}.{table} has no partitions")
            parts = [catalog.partition(layout, values) for values in chosen]
    except TableNotFoundError as e:
        raise InputError(f"<opt:hive_table> {database}.{table}: {e}") from None
    except StorageError as e:
        raise InputError(f"cannot look up table {database}.{table}: {e}") from None
    if not parts:
        raise InputError(f"no partition of {database}.{table} matches --where {where!r}"
                         if where else f"table {database}.{table} has no partitions")
    file_consts, formats = [], {}
    for part in parts:
        if part.stored_as not in (None, "PARQUET", "ORC"):
            raise InputError(f"table {database}.{table} is stored as {part.stored_as}: "
                             "<opt:hive_table> reads Parquet and ORC tables; train on a text "
                             f"table's files by giving its location ({part.location}) as INPUT")
        try:
            files = fs.list_inputs(part.location)
        except FileNotFoundError:
            continue  # a partition without files holds no rows
        found = file_formats(files, fs)
        expected = part.stored_as.lower() if part.stored_as else None
        for path in files:
            kind = found[path]
            if kind == "csv" or (expected and kind != expected):
                raise InputError(f"{path} of table {database}.{table} is not a "
                                 f"{expected or 'Parquet or ORC'} file (by its first bytes)")
            formats[path] = kind
            file_consts.append((path, part.values))
    kinds = sorted(set(formats.values()))
    if len(kinds) > 1:
        raise InputError(f"table {database}.{table} mixes formats {kinds}")
    if not file_consts:
        raise InputError(f"the chosen partitions of {database}.{table} hold no files")
    return TableFiles(f"{database}.{table}", kinds[0], file_consts, partition_types, formats)


# --- the driver's entry points ----------------------------------------------------------


def sniffed_files(listed: dict) -> list:
    """The files whose first bytes decide the format: every local file, and the first
    file of each ``hdfs://`` INPUT (the others by their names; thousands of part files)."""
    out = []
    for path, files in listed.items():
        out += files if not is_remote(path) else files[:1] + [
            f for f in files[1:] if os.path.splitext(f.lower())[1] in columnar.EXTENSIONS]
    return out


def columnar_inputs(inputs, fs, *, input_format="auto", hive_table=None, where=None,
                    label=None, features=None, require_label=True, config=None, listed=None,
                    weight=None):
    """``(files, RowFormat, features, label, ColumnarSource)`` when the input is a table or
    Parquet/ORC files; None for text (the caller reads it as CSV)."""
    from mrlinreg.driver.inputs import all_files, listing

    webhdfs = webhdfs_of(config)
    if hive_table:
        from mrlinreg.storage.factory import open_table_catalog

        default_db = config.hive.database if config is not None else "default"
        tf = table_files(hive_table, where, open_table_catalog(config), fs, default_db)
        fmt, feats, label, source = resolve_columnar(
            tf.file_consts, fs, tf.stored_as, label=label, features=features,
            require_label=require_label, webhdfs=webhdfs, partition_types=tf.partition_types,
            formats=tf.formats, weight=weight)
        return [p for p, _ in tf.file_consts], fmt, feats, label, source
    if input_format == "csv":
        return None
    listed = listing(inputs, fs) if listed is None else listed
    files = all_files(inputs, fs, listed)
    if input_format == "auto":
        kind = input_format_of(sniffed_files(listed), fs)
        if kind == "csv":
            return None
        formats = file_formats(files, fs) if all(not is_remote(p) for p in files) else \
            {p: kind for p in files}
        if len(set(formats.values())) > 1:
            raise InputError("the inputs mix formats: " + ", ".join(sorted(
                f"{f} ({next(p for p, k in formats.items() if k == f)})"
                for f in set(formats.values()))) + "; train on one format at a time")
    else:
        kind, formats = input_format, {p: input_format for p in files}
    fmt, feats, label, source = resolve_columnar(
        [(p, {}) for p in files], fs, kind, label=label, features=features,
        require_label=require_label, webhdfs=webhdfs, formats=formats, weight=weight)
    return files, fmt, feats, label, source


def open_columnar(inputs, fs, opts, config, listed=None):
    """The :class:`~mrlinreg.driver.training.Dataset` of a table or of Parquet/ORC inputs,
    or None when the input is text."""
    from mrlinreg.driver.training import Dataset

    found = columnar_inputs(inputs, fs, input_format=opts.input_format,
                            hive_table=opts.hive_table, where=opts.where, label=opts.label,
                            features=opts.features, config=config, listed=listed,
                            weight=getattr(opts, "weight_column", None))
    if found is None:
        return None
    files, fmt, feats, label, source = found
    return Dataset(tuple(files), fmt, tuple(feats), label, source)


def pass_inputs(data, workdir) -> list:
    """What the passes read: the manifests of a columnar dataset, else its files."""
    if data.columnar is None:
        return list(data.inputs)
    import tempfile

    return data.columnar.write_manifests(tempfile.mkdtemp(prefix="manifest-", dir=workdir))


def pass_params(data) -> dict:
    return {} if data.columnar is None else {"columnar": data.columnar.params()}
