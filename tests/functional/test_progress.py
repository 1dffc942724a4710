"""Issue 10: a running pass says map %, reduce % and rows read on -r local and -r inline."""

import re

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from mrlinreg.driver.inputs import resolve_format
from mrlinreg.driver.passes import PassRunner
from mrlinreg.fs import FileSystem

LINE = re.compile(r"^pass 1 \(mrlinreg m1 moments\): (starting|map (\d+)% reduce (\d+)%)"
                  r"(, rows read ([\d,]+))?, \d+ s$")


@pytest.mark.parametrize("runner", ["local", "inline"])
def test_progress_lines_while_a_pass_runs(tmp_path, runner):
    rng = np.random.default_rng(5)
    n = 150_000
    X = rng.standard_normal((n, 5))
    path = str(tmp_path / "d.csv")
    write_csv(path, X, X @ np.arange(5.0))
    fmt, _, _ = resolve_format([path], FileSystem())
    lines = []
    passes = PassRunner(["-r", runner, path], str(tmp_path), model_name="m1",
                        say=lines.append, progress_every=0.05)
    result = passes.run({"pass": "moments", "format": fmt.to_dict()})
    assert result.acc.n == n
    assert lines and all(LINE.match(line) for line in lines), lines[:5]
    maps = [int(m.group(2)) for m in map(LINE.match, lines) if m.group(2)]
    rows = [int(m.group(5).replace(",", "")) for m in map(LINE.match, lines) if m.group(5)]
    assert maps == sorted(maps) and rows == sorted(rows)  # never going back
    assert max(rows, default=0) <= n and max(maps, default=0) <= 100
    assert any(0 < r for r in rows), lines  # rows counted while the pass ran
