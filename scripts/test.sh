#!/usr/bin/env bash
# The README's second command: the whole test suite, unit, functional and integration.
# Installs what it needs, starts the Docker-less cluster (HDFS, YARN, ZooKeeper, HBase,
# HiveServer2 protocol) for the integration tests, and stops it again, on failure too.
# Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="$(bash scripts/setup-venv.sh)"
cleanup() { "$py" -m mrlinreg.cluster down || true; }
trap cleanup EXIT
"$py" -m mrlinreg.cluster up
eval "$("$py" -m mrlinreg.cluster env)"
"$py" -m pytest "$@"
whole=1
for a in "$@"; do  # test paths narrow the run; option values (-p no:...) do not
  case "$a" in -*) ;; *) [ -e "${a%%::*}" ] && whole=0 ;; esac
done
if [ "$whole" = 1 ]; then
  # the whole suite (no test paths given) also proves that an installed wheel trains,
  # publishes, predicts and resumes outside the checkout
  bash scripts/wheel-smoke.sh "$py"
  # unit and functional tests on the other supported Pythons (3.12, 3.13); the cluster
  # tests stay on the main venv's version
  # (the unit tests and the driver/local-runner functional tests, which keeps the whole
  # command inside CI's time; `scripts/test-pythons.sh 3.13` runs all of them)
  bash scripts/test-pythons.sh --quick 3.13 -p no:cacheprovider
  bash scripts/test-pythons.sh --quick 3.12 -p no:cacheprovider
fi
