"""Connection settings: one INI file, every key overridable from the environment.

Where the file comes from, first match wins:

1. the ``path`` given to :func:`load_config`;
2. the environment variable ``MRLINREG_CONFIG``;
3. the shipped ``mrlinreg/resources/conf/mrlinreg.ini`` (``conf/`` in a checkout);
4. otherwise the defaults below (the shipped INI repeats them; a unit test keeps
   the two equal).

Then each key can be overridden by ``MRLINREG_<SECTION>_<KEY>`` (e.g.
``MRLINREG_HIVE_HOST``, ``MRLINREG_RETRY_ATTEMPTS``); keys of the
``[mrlinreg]`` section by ``MRLINREG_<KEY>`` (``MRLINREG_MODE``,
``MRLINREG_STATE_DIR``).  ``mode = local`` keeps everything under
``state_dir``; ``mode = cluster`` uses Hive, HBase and ZooKeeper.

Passwords never appear in ``repr`` (they show as ``'***'``), so a config can be
logged.  A wrong key or value is a :class:`ConfigError` naming where it came
from.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mrlinreg.schema import SQL_NAME

from mrlinreg.resources import resource_path  # noqa: E402

DEFAULT_CONFIG_PATH = resource_path("conf", "mrlinreg.ini")
ENV_PREFIX = "MRLINREG_"
MODES = ("local", "cluster")
HIVE_AUTHS = ("NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS")


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


def _masked_repr(obj):
    parts = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name == "password" and value:
            value = "***"
        parts.append(f"{f.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class HiveConfig:
    host: str = "127.0.0.1"
    port: int = 10000
    database: str = "linreg"
    username: str = "mrlinreg"
    password: str = ""
    auth: str = "NONE"
    timeout_s: float = 30.0
    # where the tables' files go (each table's LOCATION is <warehouse_dir>/<db>.db/<table>)
    warehouse_dir: str = "hdfs://127.0.0.1:8020/user/mrlinreg/warehouse"

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    __repr__ = _masked_repr


@dataclass(frozen=True)
class HBaseConfig:
    host: str = "127.0.0.1"
    port: int = 9090
    table_prefix: str = "mrlinreg"
    transport: str = "buffered"
    protocol: str = "binary"
    timeout_s: float = 30.0
    snapshot_timeout_s: float = 5.0  # socket timeout of the training's snapshot store

    @property
    def address(self):
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ZooKeeperConfig:
    hosts: str = "127.0.0.1:2181"
    lock_root: str = "/mrlinreg/locks"
    timeout_s: float = 10.0

    @property
    def address(self):
        return self.hosts


@dataclass(frozen=True)
class HdfsConfig:
    url: str = "http://127.0.0.1:9870"
    user: str = "mrlinreg"


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0


@dataclass(frozen=True)
class Config:
    mode: str = "local"
    state_dir: Path = Path("var")
    hive: HiveConfig = field(default_factory=HiveConfig)
    hbase: HBaseConfig = field(default_factory=HBaseConfig)
    zookeeper: ZooKeeperConfig = field(default_factory=ZooKeeperConfig)
    hdfs: HdfsConfig = field(default_factory=HdfsConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    source: str | None = field(default=None, compare=False)

    @property
    def cluster(self):
        return self.mode == "cluster"

    def replace(self, **changes):
        """A copy with top-level fields or whole sections changed."""
        return dataclasses.replace(self, **changes)


SECTIONS = {"hive": HiveConfig, "hbase": HBaseConfig, "zookeeper": ZooKeeperConfig,
            "hdfs": HdfsConfig, "retry": RetryConfig}
MAIN_SECTION = "mrlinreg"
MAIN_KEYS = ("mode", "state_dir")


def _convert(raw, kind, where):
    text = raw.strip()
    try:
        if kind in ("int", int):
            return int(text)
        if kind in ("float", float):
            value = float(text)
            if not value >= 0:
                raise ValueError
            return value
    except ValueError:
        raise ConfigError(f"{where}: expected a non-negative number, got {raw!r}") from None
    if kind in ("Path", Path):
        return Path(os.path.expanduser(text))
    return text


def _field_kinds(cls):
    return {f.name: f.type for f in dataclasses.fields(cls)}


def _collect(path, env):
    """Raw string values per section, from the file then the environment."""
    values = {name: {} for name in (MAIN_SECTION, *SECTIONS)}
    where = {}
    if path is not None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path, encoding="utf-8") as fh:
                parser.read_file(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except configparser.Error as exc:
            raise ConfigError(f"config file {path} is not valid INI: {exc}") from None
        for section in parser.sections():
            if section not in values:
                raise ConfigError(f"{path}: unknown section [{section}]; known: "
                                  f"{', '.join(values)}")
            for key, raw in parser.items(section):
                values[section][key] = raw
                where[section, key] = f"{path} [{section}] {key}"
    for section in values:
        keys = MAIN_KEYS if section == MAIN_SECTION else _field_kinds(SECTIONS[section])
        for key in keys:
            var = (f"{ENV_PREFIX}{key}" if section == MAIN_SECTION
                   else f"{ENV_PREFIX}{section}_{key}").upper()
            if var in env:
                values[section][key] = env[var]
                where[section, key] = f"environment variable {var}"
    return values, where


def load_config(path=None, env=None):
    """Read the configuration.

    Parameters
    ----------
    path : str or Path, optional
        INI file; default ``$MRLINREG_CONFIG``, else ``conf/mrlinreg.ini`` if present.
    env : mapping, optional
        Environment to read overrides from (default ``os.environ``).

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Unknown section or key, a value of the wrong kind, a bad mode or name.
    """
    env = os.environ if env is None else env
    if path is None:
        path = env.get(f"{ENV_PREFIX}CONFIG") or (
            DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None)
    values, where = _collect(path, env)

    def build(cls, section):
        kinds = _field_kinds(cls)
        kwargs = {}
        for key, raw in values[section].items():
            if key not in kinds:
                raise ConfigError(f"{where[section, key]}: unknown key {key!r} in "
                                  f"[{section}]; known: {', '.join(kinds)}")
            kwargs[key] = _convert(raw, kinds[key], where[section, key])
        return cls(**kwargs)

    main = values[MAIN_SECTION]
    unknown = set(main) - set(MAIN_KEYS)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where[MAIN_SECTION, key]}: unknown key {key!r} in "
                          f"[{MAIN_SECTION}]; known: {', '.join(MAIN_KEYS)}")
    config = Config(
        mode=main.get("mode", Config.mode).strip().lower(),
        state_dir=_convert(main["state_dir"], Path, where[MAIN_SECTION, "state_dir"])
        if "state_dir" in main else Config.state_dir,
        source=str(path) if path is not None else None,
        **{name: build(cls, name) for name, cls in SECTIONS.items()},
    )
    _validate(config, where)
    return config


def _validate(config, where):
    def fail(section, key, message):
        origin = where.get((section, key), f"default [{section}] {key}")
        raise ConfigError(f"{origin}: {message}")

    if config.mode not in MODES:
        fail(MAIN_SECTION, "mode", f"mode must be one of {', '.join(MODES)}, "
                                   f"got {config.mode!r}")
    if config.hive.auth.upper() not in HIVE_AUTHS:
        fail("hive", "auth", f"auth must be one of {', '.join(HIVE_AUTHS)}")
    if not SQL_NAME.fullmatch(config.hive.database):
        fail("hive", "database", "database must be letters, digits and '_'")
    if config.hbase.table_prefix and not SQL_NAME.fullmatch(config.hbase.table_prefix):
        fail("hbase", "table_prefix", "table_prefix must be letters, digits and '_'")
    if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", config.zookeeper.lock_root):
        fail("zookeeper", "lock_root", "lock_root must be an absolute znode path "
                                       "like /mrlinreg/locks")
    if not re.fullmatch(r"hdfs://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9_.-]+)+",
                        config.hive.warehouse_dir):
        fail("hive", "warehouse_dir", "warehouse_dir must be an hdfs://host:port/path URI "
                                      "of letters, digits, '_', '.' and '-'")
    if config.retry.attempts < 1:
        fail("retry", "attempts", "attempts must be at least 1")
    for section in ("hive", "hbase"):
        if not 0 < getattr(config, section).port < 65536:
            fail(section, "port", "port must be between 1 and 65535")
