#!/usr/bin/env bash
# Make the txtai venv (outside the repository), export our passages and build the txtai index.
#   bench/peer_txtai/setup.sh [INDEX_DIR] [OUT_DIR]
# INDEX_DIR: a rag index folder, built there if missing (default /tmp/peer-index);
# OUT_DIR: passages.jsonl, config.yml and the txtai index (default /tmp/txtai-peer).
# TXTAI_VENV overrides the venv folder (default /tmp/txtai-venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
index=${1:-/tmp/peer-index}
out=${2:-/tmp/txtai-peer}
venv=${TXTAI_VENV:-/tmp/txtai-venv}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# --system-site-packages: reuse the installed CPU torch 2.13 (and transformers, faiss, fastapi)
[ -x "$venv/bin/python" ] || python -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q -r "$here/requirements.txt"

[ -f "$index/manifest.json" ] || PYTHONPATH="$repo" python -m cli.main index build --corpus "$repo/corpus" --index "$index"
PYTHONPATH="$repo" python "$here/export.py" --index "$index" --out "$out"
"$venv/bin/python" "$here/build_index.py" "$out/config.yml"
echo "serve with: bench/peer_txtai/serve.sh PORT $out/config.yml"
