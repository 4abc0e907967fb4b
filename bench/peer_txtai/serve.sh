#!/usr/bin/env bash
# Serve the txtai index with txtai's API (uvicorn, one worker) on 127.0.0.1.
#   bench/peer_txtai/serve.sh [PORT] [CONFIG]      (default 8765, /tmp/txtai-peer/config.yml)
# exec: the uvicorn process keeps this script's PID, so `serve.sh & echo $!` gives the PID
# that bench_load.py --peer-pid samples for CPU.
set -euo pipefail
venv=${TXTAI_VENV:-/tmp/txtai-venv}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 CONFIG=${2:-/tmp/txtai-peer/config.yml}
exec "$venv/bin/python" -m uvicorn "txtai.api:app" --host 127.0.0.1 --port "${1:-8765}" --log-level warning
