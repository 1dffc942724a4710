"""Bring the services' jars into the cache: Maven Central for Hadoop, ZooKeeper, HBase
and Hive (one POM per service under ``poms/`` so versions never clash), PyPI for pyspark
(used only by the integration tests: Spark SQL reading the results tables through the
shared metastore). A finished download is marked and never fetched again.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mrlinreg.cluster.paths import POM_DIR

#: Maven-resolved runtimes: name -> POM under poms/.
MAVEN_RUNTIMES = ("hadoop", "zookeeper", "hbase", "hbase-thrift", "hive")
#: Every mvn run uses it: all repositories are mirrored to Maven Central.
SETTINGS = POM_DIR / "settings.xml"
PYSPARK_VERSION = "4.3.0"
JAVA_CANDIDATES = (
    "/usr/lib/jvm/java-17-openjdk-amd64",
    "/usr/lib/jvm/java-17-openjdk-arm64",
    "/usr/lib/jvm/java-17-openjdk",
)
COMPLETE = ".complete"


class FetchError(RuntimeError):
    """A download or an install step failed; the message says which and why."""


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _apt_install(*packages: str) -> None:
    """Install Debian packages; only possible as root on a Debian-like machine."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise FetchError(
            f"{', '.join(packages)} missing and cannot be installed here "
            "(needs apt-get as root): install it and run `up` again")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def _java_major(java_home: Path) -> int:
    java = java_home / "bin" / "java"
    if not java.exists():
        return 0
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    try:
        version = out.split('"')[1]
        return int(version.split(".")[0])
    except (IndexError, ValueError):
        return 0


def ensure_java() -> Path:
    """A Java 17 home: Hadoop 3.5 wants 17+, pyspark 4 too; HBase 2.6 is tested on 17."""
    candidates = [os.environ.get("JAVA_HOME", ""), *JAVA_CANDIDATES]
    for candidate in filter(None, candidates):
        if _java_major(Path(candidate)) == 17:
            return Path(candidate)
    _apt_install("openjdk-17-jdk-headless")
    for candidate in JAVA_CANDIDATES:
        if _java_major(Path(candidate)) == 17:
            return Path(candidate)
    raise FetchError("installed openjdk-17-jdk-headless but found no Java 17 home")


def ensure_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        _apt_install("maven")
        mvn = shutil.which("mvn")
    if mvn is None:
        raise FetchError("Maven (mvn) not found after installing it")
    return mvn


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()[:12]


def maven_lib_dir(cache: Path, name: str) -> Path:
    """Where the jars of runtime ``name`` live (changes when its POM changes)."""
    pom = POM_DIR / f"{name}.xml"
    return cache / f"{name}-{_pom_digest(pom)}" / "lib"


def metastore_home(hive_lib: Path) -> Path:
    """``METASTORE_HOME`` for MetastoreSchemaTool: holds ``scripts/metastore/upgrade``."""
    return hive_lib.parent / "metastore"


def _extract_metastore_scripts(lib: Path) -> None:
    """Unpack ``scripts/`` of the standalone metastore's bin tarball (its schema DDL for
    every database), then drop the tarball from ``lib/``: it is not a jar."""
    tarballs = sorted(lib.glob("hive-standalone-metastore-server-*-bin.tar.gz"))
    if not tarballs:
        raise FetchError(f"no hive-standalone-metastore-server bin tarball in {lib}")
    target = metastore_home(lib)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(tarballs[0]) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if "scripts" not in parts[:2] or not (member.isfile() or member.isdir()):
                continue
            relative = Path(*parts[parts.index("scripts"):])
            if member.isdir():
                (target / relative).mkdir(parents=True, exist_ok=True)
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, open(target / relative, "wb") as out:
                shutil.copyfileobj(source, out)
    if not (target / "scripts" / "metastore" / "upgrade" / "derby").is_dir():
        raise FetchError(f"{tarballs[0].name} has no scripts/metastore/upgrade/derby")
    for tarball in tarballs:
        tarball.unlink()


#: Steps after Maven for some runtimes, run on the staging lib/ before it is marked done.
POST_FETCH = {"hive": _extract_metastore_scripts}


def fetch_maven(cache: Path, name: str, java_home: Path) -> Path:
    """Resolve ``poms/<name>.xml`` into ``<cache>/<name>-<digest>/lib`` once."""
    lib = maven_lib_dir(cache, name)
    if (lib.parent / COMPLETE).exists():
        return lib
    mvn = ensure_maven()
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = lib.parent / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    log = lib.parent / "mvn.log"
    command = [
        mvn, "-B", "-q", "-s", str(SETTINGS), "-f", str(POM_DIR / f"{name}.xml"),
        f"-Dmaven.repo.local={cache / 'm2'}",
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
    ]
    env = dict(os.environ, JAVA_HOME=str(java_home))
    with open(log, "w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise FetchError(f"Maven could not resolve poms/{name}.xml:\n{_tail(log)}")
    if name in POST_FETCH:
        try:
            POST_FETCH[name](staging)
        except (OSError, tarfile.TarError) as exc:
            raise FetchError(f"preparing {name} after Maven: {exc}") from exc
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    (lib.parent / COMPLETE).touch()
    return lib


def fetch_pyspark(cache: Path) -> Path:
    """pyspark installed with pip into the cache, for tests/integration/test_interop.py
    (Spark SQL in local mode, in a subprocess, with the Hive jars above as its metastore
    client). No Spark service runs."""
    target = cache / f"pyspark-{PYSPARK_VERSION}"
    spark_home = target / "pyspark"
    if (target / COMPLETE).exists():
        return spark_home
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    log = cache / f"pyspark-{PYSPARK_VERSION}.pip.log"
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile",
               "--disable-pip-version-check", "--target", str(target),
               f"pyspark=={PYSPARK_VERSION}"]
    with open(log, "w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise FetchError(f"pip could not install pyspark=={PYSPARK_VERSION}:\n{_tail(log)}")
    for script in (spark_home / "bin").iterdir():
        script.chmod(script.stat().st_mode | 0o111)
    (target / COMPLETE).touch()
    return spark_home


def fetch_all(cache: Path, java_home: Path) -> dict[str, Path]:
    """Fetch every runtime. pip runs beside Maven; the Maven runs go one after another
    because Maven 3.8 does not lock its local repository against itself."""
    cache.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        spark = pool.submit(fetch_pyspark, cache)
        found = {name: fetch_maven(cache, name, java_home) for name in MAVEN_RUNTIMES}
        found["spark"] = spark.result()
    return found
