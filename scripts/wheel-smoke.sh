#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv (with the pip that Python's venv bundles,
# so undeclared dependencies show), and from a directory outside the checkout: generate
# data, train (with a snapshot per iteration), publish to the local warehouse, kill a
# trainer and resume it, and predict.  Fails on the first step that fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${1:-$(bash "$root/scripts/setup-venv.sh")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" -m pip wheel --quiet --no-deps --no-build-isolation "$root" -w "$work/dist" >&2
wheel="$(ls "$work"/dist/mrlinreg-*.whl)"
unzip -l "$wheel" > "$work/contents.txt"
grep -q "mrlinreg/resources/schemas/warehouse.yaml" "$work/contents.txt"
grep -q "mrlinreg/resources/conf/mrlinreg.ini" "$work/contents.txt"
grep -q "mrlinreg/driver/train.py" "$work/contents.txt"
if grep -Eq " (jobs|pipelines)/" "$work/contents.txt"; then
  echo "wheel-smoke: the wheel claims a top-level jobs/ or pipelines/" >&2; exit 1
fi
base="$("$py" -c 'import sys; print(sys.base_prefix)')/bin/python3"
"$base" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet -c "$root/requirements-pins.txt" "$wheel" >&2
cd "$work"
export MRLINREG_MODE=local MRLINREG_STATE_DIR="$work/state"
unset MRLINREG_CONFIG PYTHONPATH
bin="$work/venv/bin"
"$bin/python" -c 'import thrift_sasl, pyhive.hive, happybase, kazoo, hdfs'  # Hive publish needs them
"$bin/mrlinreg-datagen" --rows 3000 --features 3 --seed 5 --out data.csv >/dev/null
"$bin/mrlinreg" train --model-name smoke --solver qr --summary --publish --quiet \
    --output-model model.json data.csv > trained.json
test -f state/warehouse/linreg.db/models/run_id=*/part-0.parquet
"$bin/mrlinreg" predict --model model.json --output pred.csv --publish data.csv
test "$(wc -l < pred.csv)" -eq 3000
# resume: kill a slow trainer after its third snapshot, then finish the run
slow=(--model-name slow --strategy passes --no-standardize --max-iter 25 --tol 1e-14)
"$bin/mrlinreg" train "${slow[@]}" data.csv > /dev/null 2> slow.err &
pid=$!
for _ in $(seq 600); do grep -q "^iter    3" slow.err && break; sleep 0.1; done
kill -9 "$pid"; wait "$pid" || true
grep -q "^iter    3" slow.err
"$bin/mrlinreg" train "${slow[@]}" --resume data.csv > resumed.json 2> resume.err
grep -q "resuming run" resume.err
"$bin/python" - <<'PY'
import json
m = json.load(open("resumed.json"))
assert m["iterations"] == 25 and m["model_name"] == "slow", m["iterations"]
t = json.load(open("trained.json"))
assert t["format_version"] == 2 and t["summary"] is not None
print("wheel-smoke: train, publish, predict and resume work from an installed wheel")
PY
