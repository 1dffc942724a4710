#!/usr/bin/env bash
# The README's first command: generate a dataset and fit it with the inline runner.
# No cluster needed. Extra arguments go to jobs/linreg.py (e.g. --solver qr --summary).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="$(bash scripts/setup-venv.sh)"
data="data/demo.csv"
if [ ! -f "$data" ]; then
  "$py" -m mrlinreg.datagen --rows 200000 --features 5 --scales 0.01,1,100,1000,10000 \
      --noise 0.5 --seed 42 --out "$data" >/dev/null
fi
echo "true coefficients: $(cat "$data.truth.json" | tr -d '\n ')" >&2
# train (a snapshot per iteration), evaluate (--summary) and publish (--publish) to the
# embedded defaults: Parquet tables under var/warehouse, snapshots under var/snapshots
"$py" jobs/linreg.py -r inline --model-name demo --summary --publish "$@" "$data"
echo "results: var/warehouse/linreg.db/<table>/run_id=<run>/ (Parquet), snapshots: var/snapshots/demo/" >&2
