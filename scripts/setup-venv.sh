#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv and install the project with its test
# dependencies. Sourced by demo.sh and test.sh; prints the venv's python path.
#
# Interpreter: $MRLINREG_PYTHON (a command name or a path) if set, else python3.11 when
# present, else the newest of python3.13 and python3.12. Python 3.12 and 3.13 need
# mrlinreg.compat imported before mrjob (mrjob 0.7.4 was released for <= 3.11).
# Venv: ${MRLINREG_VENV:-<root>/.venv}. The install stamp names the interpreter version,
# so switching Pythons (or editing setup.cfg / the pins) reinstalls.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MRLINREG_VENV:-$root/.venv}"
supported='import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)'
runs() { "$1" -c 'import sys' >/dev/null 2>&1; }
find_cmd() {  # a command that runs; a pythonX.Y pyenv shim of an unselected version falls
              # back to that version's own binary under pyenv's versions directory
  local name="$1" py
  if py="$(command -v "$name" 2>/dev/null)" && runs "$py"; then echo "$py"; return 0; fi
  if [[ "$name" =~ ^python(3\.[0-9]+)$ ]]; then
    for py in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/${BASH_REMATCH[1]}".*/bin/"$name" \
                  2>/dev/null | sort -rV); do
      if runs "$py"; then echo "$py"; return 0; fi
    done
  fi
  [ -n "${py:-}" ] && echo "$py" && return 0
  return 1
}
pick_python() {
  if [ -n "${MRLINREG_PYTHON:-}" ]; then
    local py
    if ! py="$(find_cmd "$MRLINREG_PYTHON")"; then
      echo "error: MRLINREG_PYTHON=$MRLINREG_PYTHON: no such command" >&2; return 1
    fi
    local version
    if ! version="$("$py" -c 'import platform; print(platform.python_version())' 2>/dev/null)"; then
      echo "error: MRLINREG_PYTHON=$MRLINREG_PYTHON ($py) does not run" \
        "(a pyenv shim of a version that is not selected? give the full path)" >&2; return 1
    fi
    if ! "$py" -c "$supported"; then
      echo "error: MRLINREG_PYTHON=$MRLINREG_PYTHON is Python $version;" \
        "mrlinreg supports Python 3.11, 3.12 and 3.13" >&2; return 1
    fi
    echo "$py"; return 0
  fi
  local name py
  for name in python3.11 python3.13 python3.12; do
    if py="$(find_cmd "$name")" && "$py" -c "$supported" 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "error: Python 3.11, 3.12 or 3.13 is required (set MRLINREG_PYTHON to pick one)" >&2
  return 1
}
py="$(pick_python)"
want="$("$py" -c 'import platform; print(platform.python_version())')"
have="$("$venv/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  # none yet, or one of another Python: (re)create it for this one
  "$py" -m venv --clear "$venv"
fi
stamp="$venv/.installed-py$want-$(cat "$root/setup.cfg" "$root/requirements-pins.txt" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip wheel >&2
  "$venv/bin/python" -m pip install --quiet -c "$root/requirements-pins.txt" -e "$root[test]" >&2
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
echo "$venv/bin/python"
