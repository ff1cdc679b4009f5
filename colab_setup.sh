#!/usr/bin/env bash
# TerraSculpt setup, for Google Colab and plain Linux alike.
#   bash colab_setup.sh            install requirements + tslib, download the Kaggle data if credentials exist
#   bash colab_setup.sh --dev      also install the test tools (pytest, nbmake, ruff, scikit-image, hypothesis)
#   bash colab_setup.sh --no-data  skip the download
#   bash colab_setup.sh --landcover also download Landcover.ai v1 (~1.5 GB, public) and cut it into tiles
# Colab: installs requirements.txt into Colab's Python (its torch range admits Colab's preinstalled torch, so it is
# kept; Colab's ipykernel and ipywidgets are not touched). Elsewhere: uses the active virtualenv, or creates ./.venv
# next to this script, and adds requirements-runner.txt (Jupyter kernel, widgets, the notebook runner).
# Data goes to $TSLIB_DATA (default ./data). Kaggle credentials come from the environment (in Colab the notebook's
# setup cell, tslib.colab.setup, puts the Colab secrets there: a child process like this one cannot read them) or
# ~/.kaggle; without them it says so in one line and the notebooks use the built-in procedural dataset.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dev=0
data=1
landcover=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --no-data) data=0 ;;
    --landcover) landcover=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "colab_setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

colab=0
if python3 -c "import google.colab" 2>/dev/null; then
  py=python3
  colab=1
elif [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  [ -x "$here/.venv/bin/python" ] || python3 -m venv "$here/.venv"
  py="$here/.venv/bin/python"
fi

# Colab: only what the notebooks import (Colab brings its own kernel and widgets, and pins them); elsewhere also
# the Jupyter kernel, widgets and the notebook runner; --dev the test tools too.
req="$here/requirements.txt"
[ "$colab" = 1 ] || req="$here/requirements-runner.txt"
[ "$dev" = 1 ] && req="$here/requirements-dev.txt"
echo "installing $(basename "$req") into $("$py" -c 'import sys; print(sys.prefix)')"
"$py" -m pip install -q --disable-pip-version-check -r "$req"
"$py" -m pip install -q --disable-pip-version-check --no-deps -e "$here"

if [ "$data" = 1 ]; then
  export TSLIB_DATA="${TSLIB_DATA:-$here/data}"
  "$py" -m tslib download --allow-missing
fi
if [ "$landcover" = 1 ]; then
  export TSLIB_DATA="${TSLIB_DATA:-$here/data}"
  "$py" -m tslib download --dataset landcover
  "$py" -m tslib prepare-landcover --root "$TSLIB_DATA/landcover"
fi
echo "ready: $py -m tslib --help"
