"""``-r spark``: load :mod:`mrlinreg.compat` in the Pythons that spark-submit starts.

Under ``-r spark`` mrjob runs its own harness, ``mrjob/spark/harness.py``, with
spark-submit. The harness imports ``mrjob.util`` (which needs ``pipes``/``distutils``)
before it imports the job module, in the Spark driver and in the executors' Python
workers, so the job module's ``import mrlinreg.compat`` comes too late there, and
neither process is one of ours to edit. Python imports a module named ``sitecustomize``
from ``sys.path`` at start-up, so this package's directory, put on ``PYTHONPATH`` of
those processes, makes their first act ``import mrlinreg.compat``
(``mrlinreg/sparkboot/sitecustomize.py``).

:func:`mrjob_args` gives the mrjob switches that do it:

* ``--cmdenv PYTHONPATH=<this directory>:<$PYTHONPATH>``: mrjob passes cmdenv to
  spark-submit's own environment (the driver, in client mode) and as
  ``spark.executorEnv.PYTHONPATH`` (executors; Spark appends its own entries). This is
  enough for a local master (``-r spark`` with the default ``local[*]``), where driver
  and executors run on this machine with this venv's mrlinreg.
* on YARN (``--spark-master yarn``) the directory does not exist on the NodeManagers,
  so the package is also shipped as an archive and put on ``PYTHONPATH`` by the
  executors' Python wrapper: ``--setup 'export PYTHONPATH=<dir>/#:$PYTHONPATH'``
  (mrjob's ``--setup`` runs only where executors have their own working directory,
  i.e. not with a local master). ``mrlinreg`` itself must be installed on the nodes, as
  the NodeManager image does. Not yet tried on the cluster.
"""
from __future__ import annotations

import os

#: the directory to put on PYTHONPATH (it holds sitecustomize.py)
BOOT_DIR = os.path.dirname(os.path.abspath(__file__))


def mrjob_args(spark_master: str | None = None, environ=None) -> list[str]:
    """Extra mrjob command-line switches for ``-r spark`` on Python 3.12+.

    ``spark_master``: the ``--spark-master`` the job gets (None for mrjob's default,
    ``local[*]``); ``environ``: the environment spark-submit inherits (``os.environ``).
    Harmless on Python 3.11, where :mod:`mrlinreg.compat` installs nothing.
    """
    environ = os.environ if environ is None else environ
    path = os.pathsep.join(p for p in (BOOT_DIR, environ.get("PYTHONPATH")) if p)
    args = ["--cmdenv", f"PYTHONPATH={path}"]
    if spark_master and not spark_master.startswith("local"):
        args += ["--setup", f"export PYTHONPATH={BOOT_DIR}/#:$PYTHONPATH"]
    return args
