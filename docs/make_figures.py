"""Draw the README's pictures with the command line itself: ``docs/img/*.png``.

    .venv/bin/python docs/make_figures.py            # about a minute, inline runner

* ``convergence.png``: gd, cg and newton on one ill-conditioned dataset
  (``mrlinreg train --strategy passes ... --output-model``, then ``mrlinreg plot --kind convergence``);
* ``validation_curve.png``: ``mrlinreg curve --degree 10`` on 20 noisy rows of a cubic
  with 2,000 validation rows (the validation error falls, then rises: over-fitting);
* ``residuals.png`` and ``qq.png``: the residual sample of a run with
  ``--validation ... --residual-sample 2000``.

Everything runs in a temporary folder with its own local warehouse; only the PNGs
are kept.  The data are generated with fixed seeds, so the pictures change only
when the code does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMG = ROOT / "docs" / "img"


def mrlinreg(*args, env):
    cmd = [sys.executable, "-m", "mrlinreg.cli.main", *map(str, args)]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    return p.stdout


def write_csv(path, X, y, names):
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join(names),
               comments="", fmt="%.17g")


def main():
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mrlinreg-figures-") as tmp:
        tmp = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRLINREG_")}
        env["MRLINREG_STATE_DIR"] = str(tmp / "state")
        rng = np.random.default_rng(2026)

        # convergence: 5 strongly correlated features (standardised condition number ~70)
        n, d = 5_000, 5
        X = rng.normal(size=(n, 1)) + 0.15 * rng.normal(size=(n, d))
        y = X @ rng.normal(size=d) + rng.normal(0, 1.0, n)
        names = [f"x{i}" for i in range(d)]
        write_csv(tmp / "conv.csv", X, y, names + ["y"])
        models = []
        for solver in ("gd", "cg", "newton"):
            path = tmp / f"{solver}.json"
            mrlinreg("train", "--solver", solver, "--strategy", "passes", "--tol", "1e-10",
                     "--max-iter", "60", "--quiet", "--output-model", path,
                     tmp / "conv.csv", env=env)
            models.append(path)
        mrlinreg("plot", *models, "--kind", "convergence", "--output",
                 IMG / "convergence.png", env=env)

        # validation curve: a noisy cubic, few training rows
        def cubic(m):
            x = rng.uniform(-1, 1, m)
            return x[:, None], 1 + x - 2 * x**2 + 1.5 * x**3 + rng.normal(0, 0.25, m)
        write_csv(tmp / "small.csv", *cubic(20), ["x", "y"])
        write_csv(tmp / "held_out.csv", *cubic(2000), ["x", "y"])
        mrlinreg("curve", "--degree", 10, "--validation", tmp / "held_out.csv", "--quiet",
                 "--model-name", "cubic",
                 "--output", tmp / "curve.json", tmp / "small.csv", env=env)
        mrlinreg("plot", tmp / "curve.json", "--kind", "curve", "--output",
                 IMG / "validation_curve.png", env=env)
        from mrlinreg.cli.human import format_curve
        from mrlinreg.records import ValidationCurve

        print(format_curve(ValidationCurve.from_json(json.loads(
            (tmp / "curve.json").read_text()))))

        # residual sample of a straight line fitted to the cubic: the pattern shows
        mrlinreg("train", "--solver", "qr", "--validation", tmp / "held_out.csv",
                 "--residual-sample", 2000, "--quiet", "--output-model", tmp / "line.json",
                 tmp / "small.csv", env=env)
        for kind in ("residuals", "qq"):
            mrlinreg("plot", tmp / "line.json", "--kind", kind, "--output",
                     IMG / f"{kind}.png", env=env)
    for png in sorted(IMG.glob("*.png")):
        print(f"{png.relative_to(ROOT)}: {png.stat().st_size} bytes")


if __name__ == "__main__":
    main()
