"""Let mrjob 0.7.4 import on Python 3.12 and 3.13: import this module before any ``mrjob``.

mrjob 0.7.4 is the last release and supports Python up to 3.11. Newer Pythons removed
two standard modules it imports at module level (upstream Yelp/mrjob issues #2222 and
#2224, fixed by PR #2225, never released):

* ``distutils`` (removed in 3.12, PEP 632):
  ``mrjob/util.py`` does ``from distutils.spawn import find_executable`` (called only
  when ``shutil.which`` is missing, i.e. never on Python 3), and ``mrjob/compat.py`` does
  ``from distutils.version import LooseVersion`` (``map_version``, ``version_gte``:
  comparing Hadoop/Spark version strings; ``mrjob.compat`` is imported by every runner).
* ``pipes`` (removed in 3.13, PEP 594):
  ``import pipes`` in ``mrjob/util.py``, ``mrjob/bin.py``, ``mrjob/cloud.py`` and
  ``mrjob/emr.py``; the only name used is ``pipes.quote``.

Nothing else that mrjob 0.7.4 imports is gone in 3.13 (no ``imp``, ``cgi``,
``asynchat``, ``asyncore``, ``telnetlib``...); ``datetime.utcnow`` in
``mrjob/runner.py`` only warns.

So this module supplies exactly those three names, and only where the real module cannot
be found: ``pipes.quote`` (``shlex.quote``, which it always was),
``distutils.spawn.find_executable`` (``shutil.which``) and
``distutils.version.LooseVersion`` (re-implemented below with the same splitting and
ordering). On Python 3.11 the real modules exist and this module installs nothing. On
3.12, where setuptools is installed its ``distutils`` (from the ``distutils-precedence``
hook) is found and used as is; only ``pipes`` would then be missing, in 3.13.

The shims go into ``sys.modules``, so they must be in place before the first ``mrjob``
import of the process: every job module (which mrjob runs again as
``python <jobfile> --mapper ...`` in each task) and every driver imports this module
first; under ``-r spark`` see :mod:`mrlinreg.sparkboot`. Shim modules carry
``__mrlinreg_shim__ = True``; :data:`SHIMMED` lists the names installed.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shlex
import shutil
import sys
import types
import warnings

#: names of the shim modules this process installed (empty on Python 3.11)
SHIMMED: list[str] = []


def _exists(name: str) -> bool:
    """Whether ``name`` can be imported, without running it (for packages: their parent)."""
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # the parent package is missing
        return False


def _install(name: str, doc: str, package: bool = False, **attrs) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    # a spec, so that find_spec(name) answers for it as for any imported module
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=package)
    if package:
        module.__path__ = []  # so that ``import distutils.spawn`` finds the children
    module.__mrlinreg_shim__ = True
    module.__dict__.update(attrs)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    SHIMMED.append(name)
    return module


def find_executable(executable: str, path: str | None = None) -> str | None:
    """``distutils.spawn.find_executable``: the path of ``executable`` on ``path``, or None.

    Unlike the original (a plain file test) it wants the file executable, as
    ``shutil.which`` does; mrjob only calls it when ``shutil.which`` does not exist.
    """
    return shutil.which(executable, path=path)


class LooseVersion:
    """``distutils.version.LooseVersion``: a version string split into numbers and words.

    ``'3.10.1'`` is ``[3, 10, 1]`` and ``'2.8.5-amzn-1'`` is ``[2, 8, 5, '-', 'amzn',
    '-', 1]``; versions order as those lists do, so ``3.4.2 < 3.10.1``. Any string is
    accepted (``packaging.version.Version`` would reject vendor Hadoop versions such as
    ``2.8.5-amzn-1``, which is why it is not used here).
    """

    _component = re.compile(r"(\d+|[a-z]+|\.)")

    def __init__(self, vstring: str | None = None):
        if vstring:
            self.parse(vstring)

    def parse(self, vstring: str) -> None:
        self.vstring = vstring
        parts = [p for p in self._component.split(vstring) if p and p != "."]
        self.version = [int(p) if p.isdigit() else p for p in parts]

    def __str__(self) -> str:
        return self.vstring

    def __repr__(self) -> str:
        return f"LooseVersion ('{self}')"

    def _key(self, other):
        if isinstance(other, str):
            other = LooseVersion(other)
        elif not isinstance(other, LooseVersion):
            return NotImplemented
        return other.version

    def __eq__(self, other):
        v = self._key(other)
        return v if v is NotImplemented else self.version == v

    def __lt__(self, other):
        v = self._key(other)
        return v if v is NotImplemented else self.version < v

    def __le__(self, other):
        v = self._key(other)
        return v if v is NotImplemented else self.version <= v

    def __gt__(self, other):
        v = self._key(other)
        return v if v is NotImplemented else self.version > v

    def __ge__(self, other):
        v = self._key(other)
        return v if v is NotImplemented else self.version >= v

    __hash__ = None  # as distutils' (it defines __eq__ only)


def _install_missing() -> None:
    if not _exists("pipes"):  # Python >= 3.13
        _install("pipes", "mrlinreg.compat's stand-in: only quote(), as mrjob uses.",
                 quote=shlex.quote)
    if not _exists("distutils"):  # Python >= 3.12 without setuptools' distutils
        _install("distutils", "mrlinreg.compat's stand-in for mrjob's two names.",
                 package=True)
    if not _exists("distutils.spawn"):
        _install("distutils.spawn", "mrlinreg.compat: find_executable only.",
                 find_executable=find_executable)
    if not _exists("distutils.version"):
        _install("distutils.version", "mrlinreg.compat: LooseVersion only.",
                 LooseVersion=LooseVersion)


def _prefer_stdlib_distutils() -> None:
    """Python 3.11: the standard library's ``distutils``, not setuptools' copy.

    setuptools' ``distutils-precedence`` hook (a meta-path finder installed at start-up)
    answers ``import distutils`` with ``setuptools._distutils``, which imports
    setuptools and ``pkg_resources``: 0.2-0.5 s of every driver's start for mrjob's
    one ``LooseVersion``, which the standard library's module has too.  The hook's
    own switch, ``SETUPTOOLS_USE_DISTUTILS=stdlib`` (what local tasks already get:
    ``mrlinreg.driver.runners.task_args``), is set for this process and its children,
    so a later ``import setuptools`` agrees with it.  Nothing changes when the user
    chose a value, when ``distutils`` is already imported, or on 3.12+ (no
    ``distutils`` in the standard library).
    """
    if sys.version_info >= (3, 12) or "distutils" in sys.modules or \
            os.environ.get("SETUPTOOLS_USE_DISTUTILS", "local") != "local":
        return
    hook = sys.modules.get("_distutils_hack")
    finder = getattr(hook, "DISTUTILS_FINDER", None)
    if finder is not None and finder in sys.meta_path:
        sys.meta_path.remove(finder)
    os.environ["SETUPTOOLS_USE_DISTUTILS"] = "stdlib"
    with warnings.catch_warnings():  # 3.11 warns on import; mrjob's import finds it here
        warnings.filterwarnings("ignore", "The distutils package is deprecated",
                                DeprecationWarning)
        try:
            import distutils  # noqa: F401
        except ImportError:  # a Python built without it: the shims below stand in
            pass


_prefer_stdlib_distutils()
_install_missing()
