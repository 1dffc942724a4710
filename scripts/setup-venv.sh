#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv in .venv with Python 3.11 and install the
# project with its test dependencies. Sourced by demo.sh and test.sh; prints the python path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MRLINREG_VENV:-$root/.venv}"
pick_python() {
  for py in python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      command -v "$py"; return 0
    fi
  done
  echo "error: Python 3.11 is required (mrjob 0.7.4 does not run on 3.13)" >&2
  return 1
}
if [ ! -x "$venv/bin/python" ]; then
  "$(pick_python)" -m venv "$venv"
fi
stamp="$venv/.installed-$(cat "$root/setup.cfg" "$root/requirements-pins.txt" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip wheel >&2
  "$venv/bin/python" -m pip install --quiet -c "$root/requirements-pins.txt" -e "$root[test]" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
