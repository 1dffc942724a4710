"""The ``mrlinreg`` command (and ``jobs/linreg.py``, ``jobs/predict.py``): the top layer.

Only here are flags parsed, errors turned into messages with flags and exit
statuses (:mod:`mrlinreg.cli.errors`), and results printed.
"""
