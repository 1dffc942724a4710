"""Where the cluster keeps its downloads (cache) and its state (home).

The cache holds what was fetched (Maven jars, pyspark) and is reused by every later
``up``; the home holds rendered configuration, data, logs and pid files of one cluster.
"""
from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "MRLINREG_CLUSTER_HOME"
CACHE_ENV = "MRLINREG_CLUSTER_CACHE"

#: Repository root (in a source checkout; docker/ lives there).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
POM_DIR = Path(__file__).resolve().parent / "poms"


def template_dir() -> Path:
    """The service templates: package data ``mrlinreg/resources/conf``.

    Found through importlib.resources, so an installed wheel has them too; the
    repository's top-level ``conf`` is a symlink to the same folder.
    """
    found = importlib.resources.files("mrlinreg") / "resources" / "conf"
    if not isinstance(found, Path):  # e.g. imported from a zip archive
        raise RuntimeError(f"mrlinreg's templates are not on the file system: {found}")
    return found


TEMPLATE_DIR = template_dir()


def default_home() -> Path:
    """``$MRLINREG_CLUSTER_HOME`` or ``~/.local/share/mrlinreg-cluster``."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data, "mrlinreg-cluster").resolve()


def default_cache() -> Path:
    """``$MRLINREG_CLUSTER_CACHE`` or ``~/.cache/mrlinreg-cluster``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache, "mrlinreg-cluster").resolve()


@dataclass(frozen=True)
class ClusterPaths:
    """Every path one cluster uses, derived from its home and the shared cache."""

    home: Path
    cache: Path

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def hadoop_home(self) -> Path:
        return self.home / "hadoop"

    @property
    def hadoop_bin(self) -> Path:
        return self.hadoop_home / "bin" / "hadoop"

    @property
    def mrjob_conf(self) -> Path:
        return self.home / "mrjob.conf"

    @property
    def env_file(self) -> Path:
        return self.home / "cluster.env"

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.logs / f"{service}.log"


def resolve(home: str | os.PathLike | None = None) -> ClusterPaths:
    """Paths for ``home`` (or the default home) with the default cache."""
    home_path = Path(home).expanduser().resolve() if home else default_home()
    return ClusterPaths(home=home_path, cache=default_cache())
