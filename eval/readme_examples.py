"""The README's sample answer, produced by the code rather than written by hand.

    python -m eval.readme_examples            # rewrite the block in README.md from the index
    python -m eval.readme_examples --check    # exit 1 when README.md is out of date

The block between BEGIN and END in README.md is the /ask response to QUESTION,
abridged the same way every time (the first citation in full but for a shortened
passage, the others elided, timings elided); tests/test_readme.py fails when it
differs from what the code answers now.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.pipeline import QAPipeline

README = Path(__file__).resolve().parents[1] / "README.md"
QUESTION = "Which MLOps tools should I learn?"
BEGIN = "<!-- sample answer: made by `python -m eval.readme_examples`, checked by tests/test_readme.py -->"
END = "<!-- end of sample answer -->"
PASSAGE_CHARS = 100  # of the first citation's passage shown


def sample_answer(pipeline: QAPipeline, question: str = QUESTION) -> str:
    """The /ask response to `question` as a ```json block, abridged."""
    answer = pipeline.ask(question).answer.to_json()
    first, *others = answer["citations"]
    first = {**first, "text": _shortened(first["text"]), "score": round(first["score"], 3)}
    lines = [
        "```json",
        "{" + f'"answer": {_dumps(answer["answer"])},',
        f' "abstained": {_dumps(answer["abstained"])},',
        ' "citations": [',
        f"   {_dumps(first)}" + ("," if others else "]"),
    ]
    if others:
        lines.append("   " + ", ".join(_dumps({"n": c["n"], "...": "..."}) for c in others) + "],")
    else:
        lines[-1] += ","
    lines += [
        f' "nearest": [], "generator": {_dumps(answer["generator"])}, "notice": {_dumps(answer["notice"])},',
        ' "timings": {"retrieve_ms": "…", "generate_ms": "…"}, "stale_index": null}',
        "```",
    ]
    return "\n".join(lines)


def with_sample(readme: str, block: str) -> str:
    """`readme` with the text between BEGIN and END replaced by `block`."""
    head, found, rest = readme.partition(BEGIN)
    _, ended, tail = rest.partition(END)
    if not (found and ended):
        raise ValueError(f"README.md has no {BEGIN!r} … {END!r} block")
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def _shortened(text: str) -> str:
    if len(text) <= PASSAGE_CHARS:
        return text
    return text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    from rag.service import QAService
    from rag.settings import Settings

    parser = argparse.ArgumentParser(description="Regenerate (or --check) the README's sample answer.")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    options = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    updated = with_sample(current, sample_answer(QAService(Settings()).engine.pipeline))
    if options.check:
        print("README.md is up to date" if updated == current else "README.md is out of date: "
              "run python -m eval.readme_examples")
        return 0 if updated == current else 1
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
