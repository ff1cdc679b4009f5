#!/usr/bin/env bash
# TerraSculpt setup, for Google Colab and plain Linux alike.
#   bash colab_setup.sh              install terrasculpt and what it uses, download the Kaggle data if credentials exist
#   bash colab_setup.sh --dev        also the test and docs tools (pytest, nbmake, ruff, mkdocs, ...)
#   bash colab_setup.sh --no-data    skip the download
#   bash colab_setup.sh --landcover  also download Landcover.ai v1 (~1.5 GB, public) and cut it into tiles
#   bash colab_setup.sh [...] -- CMD  then run CMD with the environment's python and tslib first on PATH, e.g.
#                                    bash colab_setup.sh -- python -m tslib notebooks --out runs/notebooks
# What is installed comes from pyproject.toml alone: Colab gets ".[colab]" (what the notebooks import, keeping
# Colab's torch, ipykernel and ipywidgets), elsewhere ".[all]" (plus a Jupyter kernel, widgets and the notebook
# runner), --dev ".[dev]". Elsewhere it uses the active virtualenv, or creates ./.venv next to this script.
# Data goes to $TSLIB_DATA (default ./data). Kaggle credentials come from the environment (in Colab the notebook's
# setup cell, tslib.colab.setup, puts the Colab secrets there: a child process like this one cannot read them) or
# ~/.kaggle; without them it says so in one line and the notebooks use the built-in procedural dataset.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dev=0
data=1
landcover=0
then=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) dev=1 ;;
    --no-data) data=0 ;;
    --landcover) landcover=1 ;;
    --) shift; then=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "colab_setup.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

need_python() {  # before gigabytes of wheels download: a Python that can run tslib, and can make a virtualenv
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && return 0
  echo "colab_setup.sh: TerraSculpt needs Python 3.10 or newer; $1 is $("$1" -V 2>&1 || echo missing)." \
       "Install a newer Python (e.g. sudo apt install python3.11 python3.11-venv) and run this with it first on PATH." >&2
  exit 2
}

colab=0
if python3 -c "import google.colab" 2>/dev/null; then
  py=python3
  colab=1
elif [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  if [ ! -x "$here/.venv/bin/python" ]; then
    need_python python3
    if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
      echo "colab_setup.sh: python3 cannot create a virtualenv (the venv module or ensurepip is missing). On" \
           "Debian/Ubuntu: sudo apt install python3-venv; or activate a virtualenv of your own and run this again." >&2
      exit 2
    fi
    python3 -m venv "$here/.venv"
  fi
  py="$here/.venv/bin/python"
fi
need_python "$py"

extras=all
[ "$colab" = 1 ] && extras=colab
[ "$dev" = 1 ] && extras=dev
echo "installing terrasculpt[$extras] into $("$py" -c 'import sys; print(sys.prefix)')"
"$py" -m pip install -q --disable-pip-version-check -e "$here[$extras]"

if [ "$data" = 1 ]; then
  export TSLIB_DATA="${TSLIB_DATA:-$here/data}"
  "$py" -m tslib download --allow-missing
fi
if [ "$landcover" = 1 ]; then
  export TSLIB_DATA="${TSLIB_DATA:-$here/data}"
  "$py" -m tslib download --datasets landcover
  "$py" -m tslib prepare-landcover --data "$TSLIB_DATA/landcover"
fi
if [ ${#then[@]} -gt 0 ]; then
  PATH="$(dirname "$(command -v "$py")"):$PATH" exec "${then[@]}"
fi
echo "ready: $py -m tslib --help"
