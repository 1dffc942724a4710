"""The driver: the training run, its passes and oracles, snapshots and resume, publishing.

It may use the jobs, storage and the pure layer; it never prints results or parses
flags (that is :mod:`mrlinreg.cli`).
"""
