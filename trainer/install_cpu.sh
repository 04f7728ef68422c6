#!/usr/bin/env bash
# Installs the trainer's CPU stack into a private venv: torch's CPU build and EXACTLY the pins of
# requirements.txt (the image's versions; plus requirements-ci.txt's test-only kernel), from this machine's configured Python index. An unreachable index
# fails fast (--retries 0 --timeout 5): no wait of minutes on a network that is not there.
#
#   bash trainer/install_cpu.sh            # venv at $TEXT2SQL_TRAINER_VENV (default ~/.cache/text2sql/trainer-venv)
#   bash trainer/install_cpu.sh --print    # print the venv's python and exit (nothing installed)
#
# Idempotent: when the venv already holds exactly these versions, it does nothing (about a second).
# The suite (tests/run_tests.ts) runs the trainer's tests with this venv's python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${TEXT2SQL_TRAINER_VENV:-$HOME/.cache/text2sql/trainer-venv}"
if [[ "${1:-}" == "--print" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
base_python="${PYTHON:-python3}"
req="$here/requirements.txt"
torch_version="$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' "$req")"
[[ -n "$torch_version" ]] || { echo "install_cpu: no torch pin in $req" >&2; exit 2; }

# The pins, with torch's CPU build in place of the plain (CUDA) one.
pins="$(mktemp)"
trap 'rm -f "$pins"' EXIT
grep -hE '^[A-Za-z0-9_.-]+==' "$req" "$here/requirements-ci.txt" | sed "s/^torch==.*/torch==${torch_version}+cpu/" >"$pins"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "$pins" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  echo "install_cpu: $venv already holds the pins ($(tr '\n' ' ' <"$pins"))"
  exit 0
fi

[[ -x "$venv/bin/python" ]] || "$base_python" -m venv "$venv"
start=$SECONDS
# Quiet, but keep pip's errors: one line per failure is what a CI log needs.
"$venv/bin/python" -m pip install --quiet --retries 0 --timeout 5 --disable-pip-version-check \
  -r "$pins" 2> >(grep -v "^WARNING: Location" >&2)
"$venv/bin/python" -m pip check >/dev/null || { "$venv/bin/python" -m pip check >&2; exit 1; }
echo "install_cpu: installed $(tr '\n' ' ' <"$pins")into $venv in $((SECONDS - start)) s"
