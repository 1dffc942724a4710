#!/usr/bin/env bash
# Unit and functional tests (not the integration ones: no cluster) on Python 3.12 and
# 3.13, each in its own venv, .venv-3.12 / .venv-3.13, made or reused by setup-venv.sh.
#
#   scripts/test-pythons.sh [--quick] [3.12] [3.13] [-- | PYTEST ARGS...]
#
# Versions first (default: 3.12 3.13); every other argument goes to pytest. An
# interpreter that cannot be found is a failure, not a skip: exits non-zero after trying
# every version. Looks for python3.X on PATH, then in pyenv's versions directory.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# --quick: the unit tests and the functional tests that run the driver and mrjob's local
# runner (where the compat layer matters), not the whole functional suite
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
versions=()
while [ $# -gt 0 ] && [[ "$1" =~ ^3\.[0-9]+$ ]]; do versions+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#versions[@]} -gt 0 ] || versions=(3.12 3.13)

find_python() {  # a python3.X command that runs and is that version
  local v="$1" py
  for py in "python$v" $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v".*/bin/"python$v" \
                           2>/dev/null | sort -rV); do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$v')" 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  return 1
}

failed=()
for v in "${versions[@]}"; do
  echo "=== Python $v" >&2
  if ! py="$(find_python "$v")"; then
    echo "error: Python $v not found (python$v on PATH, or pyenv's versions)" >&2
    failed+=("$v: no interpreter"); continue
  fi
  if ! vpy="$(MRLINREG_PYTHON="$py" MRLINREG_VENV="$root/.venv-$v" bash scripts/setup-venv.sh)"; then
    failed+=("$v: venv"); continue
  fi
  paths=(tests/unit tests/functional)
  [ "$quick" = 1 ] && paths=(tests/unit tests/functional/test_cli.py
                             tests/functional/test_linreg_job.py
                             tests/functional/test_predict_job.py
                             tests/functional/test_lifecycle.py
                             tests/functional/test_hostile_signals.py)
  "$vpy" -m pytest "${paths[@]}" -m "not integration or spark" "$@"
  rc=$?
  [ $rc -eq 0 ] || failed+=("$v: pytest exit $rc")
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'test-pythons: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "test-pythons: passed on ${versions[*]}" >&2
