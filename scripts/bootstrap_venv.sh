#!/usr/bin/env bash
# Create or update .venv from requirements.lock with uv, then install the workspace packages editable.
# Skips all of it when the stamp in .venv matches the lock, the pyproject files and this script.
# Environment: PYTHON (the interpreter to base the venv on, default python3), VENV (default .venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP=$VENV/.iko-bootstrap-stamp
# Every service directory with a pyproject (services/*, as the workspace's members): a new connector needs no edit.
EDITABLES=(shared)
for d in services/*/; do
    if [[ -f ${d}pyproject.toml ]]; then EDITABLES+=("${d%/}"); fi
done
EDITABLES+=(sandbox)
export UV_PYTHON_DOWNLOADS=never # use the machine's Python, never fetch one

say() { printf 'venv: %s\n' "$*"; }
die() { printf 'venv: ERROR: %s\n' "$*" >&2; exit 1; }

command -v "$PY" >/dev/null 2>&1 || die "$PY not found: install Python 3.11 (apt-get install python3 python3-pip)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$("$PY" --version 2>&1) is too old: IKO needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"
[[ -f requirements.lock ]] || die "requirements.lock is missing (make lock writes it)"

# One bootstrap at a time: two makes at once would otherwise install over each other.
mkdir -p .run
exec 9>.run/venv.lock
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

stamp_key() {
    local files=(requirements.lock pyproject.toml scripts/bootstrap_venv.sh)
    local d
    for d in "${EDITABLES[@]}"; do files+=("$d/pyproject.toml"); done
    {
        "$PY" --version 2>&1
        for f in "${files[@]}"; do
            printf '%s\n' "$f"
            cat "$f" 2>/dev/null || printf 'missing\n'
        done
    } | "$PY" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

# Bytecode of the workspace's own sources, written ahead: with PYTHONDONTWRITEBYTECODE set (as on the CI machine)
# Python never writes it, and every process of a stack would compile every module again at start (measured: the
# assembler's imports took 3.4 CPU-s without, 1.4 s with; a stack starts 16 processes). Only changed files are
# compiled again; a stale file is recompiled in memory, so this is never wrong, only faster.
compile_sources() {
    "$VENV/bin/python" -m compileall -q -j 0 shared/src services/*/src sandbox >/dev/null ||
        say "compiling the workspace's bytecode failed (imports are only slower)"
}

key=$(stamp_key)
if [[ -x $VENV/bin/python && -f $STAMP && $(cat "$STAMP") == "$key" ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
    compile_sources
    say "$VENV is up to date with requirements.lock"
    exit 0
fi

if command -v uv >/dev/null 2>&1; then
    UV=(uv)
elif "$PY" -m uv --version >/dev/null 2>&1; then
    UV=("$PY" -m uv)
else
    say "uv is missing: $PY -m pip install uv"
    "$PY" -m pip install --quiet uv ||
        "$PY" -m pip install --quiet --user uv ||
        "$PY" -m pip install --quiet --break-system-packages uv ||
        die "could not install uv with pip"
    if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=("$PY" -m uv); fi
fi
say "using $("${UV[@]}" --version)"

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "creating $VENV with $("$PY" --version 2>&1)"
    "${UV[@]}" venv --allow-existing --python "$(command -v "$PY")" "$VENV"
fi

say "syncing $VENV with requirements.lock"
# --compile-bytecode: the installed packages' bytecode is written once here, not compiled at every process start.
"${UV[@]}" pip sync --compile-bytecode --python "$VENV/bin/python" requirements.lock
editable_args=()
for d in "${EDITABLES[@]}"; do editable_args+=(-e "$d"); done
say "installing the workspace packages editable: ${EDITABLES[*]}"
# The build backend comes from the lock too (no unpinned download at install time).
"${UV[@]}" pip install --python "$VENV/bin/python" --no-deps --no-build-isolation "${editable_args[@]}"
compile_sources
printf '%s\n' "$key" >"$STAMP"
say "$VENV is ready"
