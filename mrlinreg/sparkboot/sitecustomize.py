"""Imported by Python at start-up while this directory is on ``PYTHONPATH``.

It is there only in the Python processes that spark-submit starts for ``-r spark`` (see
:mod:`mrlinreg.sparkboot`): it loads :mod:`mrlinreg.compat` before mrjob's Spark harness
imports ``mrjob.util``. A ``sitecustomize`` that this one shadows (one in the standard
library's or site-packages' directories, e.g. Debian's) is run after it.
"""
import importlib.machinery
import importlib.util
import os
import sys

try:
    import mrlinreg.compat  # noqa: F401
except ImportError:  # mrlinreg is not installed for this interpreter: mrjob will say so
    pass


def _run_shadowed():
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_run_shadowed()
