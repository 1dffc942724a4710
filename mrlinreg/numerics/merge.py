"""Bounded merge in one job: partials keyed to K reducers, then one driver merge.

A mapper emits its partial under ``reducer_key(input_file, start, K)``,
where ``(input_file, start)`` names its input split (Hadoop streaming gives
them as ``mapreduce.map.input.file`` / ``mapreduce.map.input.start``).  Each
reducer merges the partials of its key with the accumulator's ``merge_all``
and emits one partial; the driver merges those K partials the same way.
:func:`merge_tree` is the same computation in one process (tests, local runs).

What is guaranteed
------------------
* For a fixed K and fixed input splits, the result is bit-identical however
  the partials are scheduled or arrive: the key is a pure function of the
  split (not of the task attempt, host or time), each partial is a pure
  function of its split's rows, and ``merge_all`` sorts its inputs by content
  before any arithmetic (so it is a function of the multiset of its inputs).
  Re-running a failed task, or speculative execution, changes nothing.
* Across different K (or different split sizes) the grouping, and therefore
  the rounding, differs: results agree to rounding (about 1e-15 relative to
  ``||R||`` on well-conditioned data), not bit for bit.
* If the Hadoop partitioner sends two keys to one reducer, that reducer is
  called once per key and emits one partial per key: the result is still the
  same as with one key per reducer.

Sizes (d = 1000, 2,000 mappers; see :mod:`mrlinreg.numerics.fused`): 5.39 MB
per partial, about ``2000/K * 5.39 MB`` into each reducer, ``K * 5.39 MB``
into the driver; K near sqrt(2000) (32..45) balances the two (0.17-0.34 GB).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

__all__ = ["DEFAULT_BUCKETS", "reducer_key", "group_by_key", "merge_tree"]

#: Merge keys of a pass: the driver merges at most this many partials.  Fixed, so
#: the result is the same whatever the number of reduce tasks sharing the keys.
DEFAULT_BUCKETS = 32


def reducer_key(input_file: str, start: int, k: int) -> int:
    """Reducer index in ``0..k-1`` for the split ``(input_file, start)``.

    ``int(blake2b(f"{input_file}\\0{start}")[:8]) mod k``: a fixed hash (not
    Python's salted ``hash``), so every task and every run agrees.
    """
    if k < 1:
        raise ValueError(f"the number of reducers must be at least 1; got {k}")
    digest = hashlib.blake2b(f"{input_file}\0{int(start)}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % k


def group_by_key(items, k: int) -> dict:
    """``{key: [partial, ...]}`` for items ``((input_file, start), partial)``."""
    groups = defaultdict(list)
    for (input_file, start), partial in items:
        groups[reducer_key(input_file, start, k)].append(partial)
    return dict(groups)


def merge_tree(items, k: int, merge_all):
    """Merge keyed partials as the one-job tree does: per reducer, then in the driver.

    Parameters
    ----------
    items : iterable of ((str, int), accumulator)
        Each mapper's split id and partial, in any order.
    k : int
        Number of reducer keys.
    merge_all : callable
        The accumulator class's ``merge_all`` (order-independent).

    Returns
    -------
    The merged accumulator.
    """
    groups = group_by_key(items, k)
    return merge_all([merge_all(parts) for parts in groups.values()])
