"""Write the passages our index holds, and the txtai config, for the txtai peer.

Run with the project's Python (PYTHONPATH=<repo>):

    python bench/peer_txtai/export.py --index /tmp/peer-index --out /tmp/txtai-peer

Writes OUT/passages.jsonl ({"id", "text"} per chunk, the text our index embeds and BM25-indexes:
`passage_text` with the index's passage template) and OUT/config.yml (config.template.yml with the
model folder and OUT/index filled in).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from string import Template

from rag.encoders.embedding import default_model_path, passage_text
from rag.index.passages import Passages
from rag.index.store import PASSAGES, read_manifest

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="a rag index folder (rag index build)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/txtai-peer"))
    args = parser.parse_args()
    template = read_manifest(args.index).settings.passage_template
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [{"id": c.chunk_id, "text": passage_text(c, template)} for c in Passages(args.index / PASSAGES)]
    with (args.out / "passages.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    config = Template((HERE / "config.template.yml").read_text(encoding="utf-8"))
    (args.out / "config.yml").write_text(
        config.substitute(model=default_model_path(), index=(args.out / "index").resolve()), encoding="utf-8")
    print(f"{len(rows)} passages (template {template!r}) and config.yml in {args.out}")


if __name__ == "__main__":
    main()
