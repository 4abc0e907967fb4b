"""Build and save the txtai index that config.yml names, from passages.jsonl. Run with the txtai venv's Python:

    /tmp/txtai-venv/bin/python bench/peer_txtai/build_index.py /tmp/txtai-peer/config.yml
"""

import json
import sys
from pathlib import Path

import yaml
from txtai import Embeddings

config_path = Path(sys.argv[1])
config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
rows = [json.loads(line) for line in (config_path.parent / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
embeddings = Embeddings(config["embeddings"])
embeddings.index((r["id"], r["text"], None) for r in rows)
embeddings.save(config["path"])
print(f"{embeddings.count()} passages indexed into {config['path']}")
