#!/usr/bin/env bash
# Create benchmarks/.venv with bambi (nutpie backend) and lmm_bayes (editable).
#
# Usage: bash benchmarks/setup_env.sh   (from anywhere; needs python3.11)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3.11}"

"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# matplotlib 3.11 removed matplotlib.style.core, which arviz-plots 0.8 (a bambi
# dependency, imported by arviz) still uses.
"$venv/bin/pip" install --quiet \
    "bambi==0.17.2" \
    "pymc==5.28.5" \
    "nutpie==0.16.8" \
    "arviz==0.23.4" \
    "matplotlib<3.11"

if [[ -f "$root/pyproject.toml" ]]; then
    "$venv/bin/pip" install --quiet -e "$root"
else
    echo "setup_env.sh: no $root/pyproject.toml yet; lmm_bayes not installed" >&2
fi

"$venv/bin/python" -c "import bambi, pymc, nutpie, arviz; \
print('bambi', bambi.__version__, 'pymc', pymc.__version__, \
'nutpie', nutpie.__version__, 'arviz', arviz.__version__)"
