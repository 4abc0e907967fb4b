"""Fit the query map on labelled questions, cross-validated by set: `rag tune queries`.

Every answerable question of the dev, train and seen sets (eval/sets.toml; holdouts
are never read), as the conversation means it, is encoded as the retriever encodes
it. Its positives are the sentences of its index that an evidence span covers (the
relevance rule of CONTRACTS §1); every other sentence of that index is a negative.
The map `I + A` is fitted by a softmax over all of an index's sentences per
question (the positives' share of it, as in contrastive retrieval training), with
an L2 penalty on A so that it stays near the identity.

Cross-validation leaves one golden set out at a time: a set on corpus/ measures the
map on questions written apart from the ones it was fitted on; a set alone on its
guide (remote-work, gardening, chickens, coffee, hiking) is left as encoded, since
the map moves only questions about guides it was fitted on (rag.retrieve.query_map),
and shows no change. The report gives, for the held-out questions, MRR@10 and hit@1
of their evidence among all the index's sentences, without and with the map.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import numpy as np

from eval.metrics import covers
from eval.suite import WORK_DIR, questions_of
from rag.core.types import Turn
from rag.index.store import Index
from rag.query.conversation import contextualise
from rag.query.editions import without_edition_references
from rag.retrieve.hybrid import HybridRetriever
from rag.retrieve.query_map import QueryMap
from rag.service import QAService

FIT_ROLES = ("dev", "train", "seen")
L2 = 1e-2
STEPS = 60
TEMPERATURE = 0.05
HELD_OUT_FOLDER = "query_maps"  # in the work folder: per set, the map fitted without it


@dataclass(frozen=True)
class Sentences:
    """The distinct sentences of one index (overlapping chunks repeat them), with their vectors."""

    texts: list[str]
    vectors: np.ndarray  # (n, dim) float32


@dataclass(frozen=True)
class Labelled:
    """One question: its vector as encoded, its index's sentences, and which of them are evidence."""

    set_name: str
    kind: str
    series: str  # of the guide its evidence is in
    vector: np.ndarray
    sentences: Sentences
    positives: np.ndarray  # indexes into sentences


def sentences_of(index: Index) -> Sentences:
    texts, vectors, seen = [], [], set()
    for row, chunk in enumerate(index.chunks):
        stored = index.sentence_vectors[index.sentence_offsets[row] : index.sentence_offsets[row + 1]]
        for quote, vector in zip(chunk.quotes(), stored):
            if (chunk.doc, quote.start) not in seen:
                seen.add((chunk.doc, quote.start))
                texts.append(quote.text)
                vectors.append(np.asarray(vector, dtype=np.float32))
    return Sentences(texts, np.stack(vectors))


def collect(service: QAService, progress: Callable[[Iterable], Iterable] = lambda it: it,
            work_dir: Path = WORK_DIR) -> list[Labelled]:
    """Every answerable question of the fitting sets whose evidence covers a sentence of its index."""
    by_index: dict[int, tuple[Sentences, dict[str, str]]] = {}
    cases = []
    for spec_name, svc, q in progress(questions_of(service, FIT_ROLES, work_dir)):
        if not q.answerable:
            continue
        index = svc.engine.index
        if id(index) not in by_index:
            by_index[id(index)] = sentences_of(index), {g.doc: g.series for g in index.guides}
        sentences, series = by_index[id(index)]
        asked = contextualise(q.question, [Turn(t.role, t.content) for t in q.history]).question
        vector = svc.embedder.encode_queries([without_edition_references(asked)])[0]
        positives = np.array([i for i, text in enumerate(sentences.texts) if any(covers(span, text) for span in q.spans)], dtype=np.int64)
        if len(positives):
            cases.append(Labelled(spec_name, q.type, series[q.evidence[0].doc], vector.astype(np.float32), sentences, positives))
    return cases


def fit(cases: list[Labelled], model: str, l2: float = L2, steps: int = STEPS) -> QueryMap:
    """The map that raises each question's evidence among its index's sentences (Adam on the
    softmax loss; few steps and the L2 penalty keep it close to the identity)."""
    import torch

    dim = cases[0].vector.shape[0]
    delta = torch.zeros(dim, dim, requires_grad=True)
    optimiser = torch.optim.Adam([delta], lr=1e-3)
    groups = _by_index(cases)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = sum(_group_loss(torch, delta, group) for group in groups) / len(cases) + l2 * (delta**2).sum()
        loss.backward()
        optimiser.step()
    return QueryMap((torch.eye(dim) + delta.detach()).numpy(), model, frozenset(c.series for c in cases))


def _by_index(cases: list[Labelled]) -> list[list[Labelled]]:
    groups: dict[int, list[Labelled]] = defaultdict(list)
    for case in cases:
        groups[id(case.sentences)].append(case)
    return list(groups.values())


def _group_loss(torch, delta, group: list[Labelled]):
    """Summed over the group's questions: −log of the share of the softmax that falls on its positives."""
    sentences = torch.from_numpy(group[0].sentences.vectors)
    questions = torch.from_numpy(np.stack([c.vector for c in group]))
    mapped = questions + questions @ delta.T
    logits = (mapped / mapped.norm(dim=1, keepdim=True)) @ sentences.T / TEMPERATURE
    every = torch.logsumexp(logits, dim=1)
    return sum(every[i] - torch.logsumexp(logits[i, torch.from_numpy(c.positives)], dim=0) for i, c in enumerate(group))


def ranks(cases: list[Labelled], query_map: QueryMap | None) -> list[int]:
    """Per question, the rank (1 = first) of its best-placed evidence sentence among its index's sentences
    (the map moves only questions about a guide it knows, as served)."""
    found = []
    for case in cases:
        vector = query_map(case.vector) if query_map is not None and query_map.knows(case.series) else case.vector
        scores = case.sentences.vectors @ vector
        found.append(int((scores > scores[case.positives].max()).sum()) + 1)
    return found


def _summary(found: list[int]) -> dict[str, float]:
    return {"mrr@10": round(mean(1 / r if r <= 10 else 0.0 for r in found), 4),
            "hit@1": round(mean(r == 1 for r in found), 4), "questions": len(found)}


def held_out_maps(cases: list[Labelled], model: str) -> dict[str, QueryMap]:
    """Per set, the map fitted on the other sets' questions."""
    return {name: fit([c for c in cases if c.set_name != name], model) for name in sorted({c.set_name for c in cases})}


def cross_validate(cases: list[Labelled], maps: dict[str, QueryMap]) -> dict[str, dict]:
    """Leave one set out: each set's questions ranked without and with the map fitted on the others."""
    held = {name: list(zip(ranks(test, None), ranks(test, query_map), (c.kind for c in test)))
            for name, query_map in maps.items() for test in [[c for c in cases if c.set_name == name]]}
    report = {name: _before_after(rows) for name, rows in held.items()}
    every = [row for rows in held.values() for row in rows]
    report["all"] = _before_after(every)
    for kind in sorted({k for _, _, k in every}):
        report[f"all:{kind}"] = _before_after([row for row in every if row[2] == kind])
    return report


def held_out_retriever(service: QAService, set_name: str, work_dir: Path = WORK_DIR, mapped: bool = True) -> HybridRetriever:
    """The service's retriever, searching with the map fitted without this set's questions when
    `rag tune queries` wrote one: the models fitted after the map (the sentence scorer, the decline)
    then see the cosines a new question gets, not the sharper ones of questions the map was fitted on
    (and a set alone on its guide is searched as a guide the map does not know is). Without
    `mapped`: the retriever with no map at all."""
    served = service.engine.retriever
    path = work_dir / HELD_OUT_FOLDER / f"{set_name}.npz"
    if mapped and (served.query_map is None or not path.is_file()):
        return served
    retriever = copy.copy(served)
    retriever.query_map = QueryMap.load(path) if mapped else None
    return retriever


def _before_after(rows: list[tuple[int, int, str]]) -> dict:
    return {"without": _summary([b for b, _, _ in rows]), "with": _summary([a for _, a, _ in rows])}


def run(service: QAService, out: Path, progress: Callable[[Iterable], Iterable] = lambda it: it,
        work_dir: Path = WORK_DIR) -> dict:
    """Collect, cross-validate, and write the map fitted on every question to `out` and the held-out
    maps (for `held_out_retriever`) to the work folder."""
    cases = collect(service, progress, work_dir)
    model = service.embedder.model_name
    maps = held_out_maps(cases, model)
    for name, query_map in maps.items():
        query_map.save(work_dir / HELD_OUT_FOLDER / f"{name}.npz")
    fit(cases, model).save(out)
    return {"cross_validation (leave one set out)": cross_validate(cases, maps),
            "fitted_on": {"questions": len(cases), "sets": sorted(maps), "l2": L2, "steps": STEPS}}
