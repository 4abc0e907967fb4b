"""Tests for eval.metrics: hand-worked values plus a cross-check against ranx."""

from __future__ import annotations

import math
import random
import time
from difflib import SequenceMatcher

import pytest

from eval.metrics import (
    abstain_accuracy,
    answer_precision,
    answer_sentences,
    answer_words,
    citation_precision,
    context_recall_at_chars,
    coverage,
    covers,
    false_abstain_rate,
    hit_at_k,
    keyword_recall,
    lead_hit,
    longest_common_run,
    mrr_at_k,
    ndcg_at_k,
    normalize,
    recall_at_k,
)

L2 = math.log2


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------


def test_normalize_drops_markdown_link_targets():
    assert normalize("[Lisbon](/cities/lisbon)") == "lisbon"
    assert normalize("See [Lisbon](/cities/lisbon) and [Porto](https://x.y/porto)!") == "see lisbon and porto"


def test_normalize_folds_case_and_punctuation():
    # "Tram  No. 28 -- LEAVES @ 9:30!" -> runs of [a-z0-9]: tram|no|28|leaves|9|30
    assert normalize("Tram  No. 28 -- LEAVES @ 9:30!\n") == "tram no 28 leaves 9 30"
    assert normalize("  ") == ""
    assert normalize("!!!") == ""
    # Non-ASCII letters are not in [a-z0-9], so they split runs.
    assert normalize("Praça") == "pra a"


def test_covers_ignores_link_target_text():
    assert covers("Visit [Lisbon](/cities/lisbon) in May.", "visit Lisbon in may")
    # The words only occur inside the link target, which is dropped.
    assert not covers("See [here](/tram-28-leaves-from-martim-moniz).", "Tram 28 leaves from Martim Moniz")


def test_empty_span_is_never_covered():
    assert not covers("anything at all", "")
    assert not covers("anything at all", "?!")


# ---------------------------------------------------------------------------
# 60% longest-common-run rule
# ---------------------------------------------------------------------------


def test_sixty_percent_rule_exact_threshold():
    # span "0123456789" has 10 chars -> need a common run >= 6.
    span = "0123456789"
    assert longest_common_run(normalize("xx 012345 yy"), span) == 6
    assert covers("xx 012345 yy", span)  # 6/10 = 60% -> covered
    assert longest_common_run(normalize("xx 01234 yy"), span) == 5
    assert not covers("xx 01234 yy", span)  # 5/10 = 50% -> not covered


def test_sixty_percent_rule_on_words():
    span = "Tram 28 leaves from Martim Moniz"  # "tram 28 leaves from martim moniz": 32 chars, need >= 19.2
    # common run "tram 28 leaves from " = 20 chars -> 62.5% -> covered
    assert longest_common_run(normalize("Tram 28 leaves from Rossio."), normalize(span)) == 20
    assert covers("Tram 28 leaves from Rossio.", span)
    # common run "tram 28 leaves " = 15 chars -> 46.9% -> not covered
    assert longest_common_run(normalize("Tram 28 leaves at noon."), normalize(span)) == 15
    assert not covers("Tram 28 leaves at noon.", span)
    # plain containment, modulo case / punctuation
    assert covers("Note: TRAM 28 leaves from Martim-Moniz, daily.", span)


def test_covers_is_directional():
    long_span = "Tram 28 leaves from Martim Moniz every ten minutes and climbs to Estrela."
    short = "leaves from Martim Moniz"
    assert covers(long_span, short)  # short text inside long text
    assert not covers(short, long_span)  # 24 chars of a 72-char span is < 60%


def test_covers_matches_sequence_matcher_reference():
    # The fast exact check must agree with the SequenceMatcher definition.
    rng = random.Random(7)
    for trial in range(4000):
        alphabet = "ab " if trial % 2 else "abcd "
        p = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        np_, ns = normalize(p), normalize(s)
        run = 0
        if np_ and ns:
            run = SequenceMatcher(None, np_, ns, autojunk=False).find_longest_match(0, len(np_), 0, len(ns)).size
        expected = bool(ns) and (ns in np_ or run >= 0.6 * len(ns))
        assert covers(p, s) == expected, (p, s)


# ---------------------------------------------------------------------------
# Ranked metrics: hand-worked example
# ---------------------------------------------------------------------------

SPAN_A = "Tram 28 leaves from Martim Moniz"
SPAN_B = "The castle opens at 9 am"
RANKED = [
    "Museums close on Mondays.",  # rank 1: nothing
    "Good to know: tram 28 leaves from Martim Moniz every 10 minutes.",  # rank 2: covers A
    "Ferries cross the river to Cacilhas.",  # rank 3: nothing
    "Sao Jorge: the castle opens at 9 AM, daily.",  # rank 4: covers B
    "Pastries are sold everywhere.",  # rank 5: nothing
]
SPANS = [SPAN_A, SPAN_B]


def test_coverage_matrix_of_example():
    assert coverage(RANKED, SPANS) == [
        [False, False],
        [True, False],
        [False, False],
        [False, True],
        [False, False],
    ]


def test_recall_and_hit_at_k():
    # spans covered at ranks 2 and 4 of 5
    assert recall_at_k(RANKED, SPANS, 1) == 0.0
    assert recall_at_k(RANKED, SPANS, 2) == 0.5
    assert recall_at_k(RANKED, SPANS, 3) == 0.5
    assert recall_at_k(RANKED, SPANS, 4) == 1.0
    assert recall_at_k(RANKED, SPANS, 50) == 1.0  # k beyond the list
    assert hit_at_k(RANKED, SPANS, 1) == 0.0
    assert hit_at_k(RANKED, SPANS, 2) == 1.0
    assert hit_at_k(RANKED, SPANS, 5) == 1.0


def test_mrr():
    # first covering passage is rank 2 -> 1/2
    assert mrr_at_k(RANKED, SPANS) == 0.5
    assert mrr_at_k(RANKED, SPANS, 2) == 0.5
    assert mrr_at_k(RANKED, SPANS, 1) == 0.0  # outside the cutoff
    assert mrr_at_k(RANKED[:1], SPANS) == 0.0


def test_ndcg_worked_example():
    # DCG  = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.630930       = 1.630930
    # nDCG@10 = 1.061606 / 1.630930 = 0.650921
    assert ndcg_at_k(RANKED, SPANS) == pytest.approx(0.650921, abs=1e-6)
    assert ndcg_at_k(RANKED, SPANS) == pytest.approx((1 / L2(3) + 1 / L2(5)) / (1 + 1 / L2(3)), abs=1e-12)
    # nDCG@3: DCG = 1/log2(3) = 0.630930, IDCG over min(2,3)=2 ranks = 1.630930 -> 0.386853
    assert ndcg_at_k(RANKED, SPANS, 3) == pytest.approx(0.386853, abs=1e-6)
    # perfect ranking
    assert ndcg_at_k([RANKED[1], RANKED[3]], SPANS) == pytest.approx(1.0)


def test_ndcg_duplicates_do_not_double_count():
    pa, pb = RANKED[1], RANKED[3]
    # gains: rank1 A -> 1, rank2 duplicate of A -> 0, rank3 B -> 1
    # DCG = 1/log2(2) + 1/log2(4) = 1.5 ; IDCG = 1.630930 ; nDCG = 0.919721
    assert ndcg_at_k([pa, pa, pb], SPANS) == pytest.approx(0.919721, abs=1e-6)
    # without the "first to cover" rule it would be 1 + 0.6309 + 0.5 > IDCG -> 1.0
    assert recall_at_k([pa, pa, pb], SPANS, 2) == 0.5


def test_ndcg_multi_span_passage_and_clamp():
    both = RANKED[1] + " " + RANKED[3]  # one passage covering A and B
    # rank 1 gains 2: DCG = 2/log2(2) = 2 > IDCG = 1.630930 -> clamped to 1.0
    assert ndcg_at_k([both], SPANS) == 1.0
    span_c = "Pastries are sold everywhere"
    # 3 spans, rank 1 gains 2: DCG = 2 ; IDCG = 1 + 0.630930 + 0.5 = 2.130930 ; nDCG = 0.938557
    assert ndcg_at_k([both], SPANS + [span_c]) == pytest.approx(0.938557, abs=1e-6)
    # recall@1 = 2/3
    assert recall_at_k([both], SPANS + [span_c], 1) == pytest.approx(2 / 3)


def test_precomputed_coverage_gives_same_results():
    cov = coverage(RANKED, SPANS)
    for k in (1, 2, 3, 5, 10):
        assert recall_at_k(RANKED, SPANS, k, cov=cov) == recall_at_k(RANKED, SPANS, k)
        assert hit_at_k(RANKED, SPANS, k, cov=cov) == hit_at_k(RANKED, SPANS, k)
    assert mrr_at_k(RANKED, SPANS, cov=cov) == mrr_at_k(RANKED, SPANS)
    assert ndcg_at_k(RANKED, SPANS, cov=cov) == ndcg_at_k(RANKED, SPANS)
    for budget in (0, 50, 100, 2000):
        assert context_recall_at_chars(RANKED, SPANS, budget, cov=cov) == context_recall_at_chars(
            RANKED, SPANS, budget
        )
    with pytest.raises(ValueError):
        recall_at_k(RANKED, SPANS, 3, cov=cov[:2])


@pytest.mark.parametrize(
    "call",
    [
        lambda: recall_at_k(RANKED, [], 3),
        lambda: hit_at_k(RANKED, [], 3),
        lambda: mrr_at_k(RANKED, []),
        lambda: ndcg_at_k(RANKED, []),
        lambda: context_recall_at_chars(RANKED, [], 2000),
        lambda: citation_precision(["x"], []),
    ],
)
def test_empty_spans_raise(call):
    with pytest.raises(ValueError, match="no evidence spans"):
        call()


def test_bad_k_and_budget_raise():
    with pytest.raises(ValueError):
        recall_at_k(RANKED, SPANS, 0)
    with pytest.raises(ValueError):
        context_recall_at_chars(RANKED, SPANS, -1)


def test_no_passages_scores_zero():
    assert recall_at_k([], SPANS, 5) == 0.0
    assert hit_at_k([], SPANS, 5) == 0.0
    assert mrr_at_k([], SPANS) == 0.0
    assert ndcg_at_k([], SPANS) == 0.0
    assert context_recall_at_chars([], SPANS, 2000) == 0.0


# ---------------------------------------------------------------------------
# context_recall@C
# ---------------------------------------------------------------------------

P1 = "x" * 30  # 30 chars, irrelevant
P2 = "Intro. The capital is Lisbon."  # 29 chars; "capital is Lisbon" is P2[11:28]
SPAN_CAP = "capital is Lisbon"  # "capital is lisbon": 17 chars, need a run >= 10.2 -> 11


def test_context_recall_budget_truncation():
    assert len(P2) == 29 and P2[11:28] == SPAN_CAP
    passages = [P1, P2]
    # budget 30: only P1 fits, the span sits entirely past the cut
    assert context_recall_at_chars(passages, [SPAN_CAP], 30) == 0.0
    # budget 52: P2[:22] = "Intro. The capital is " -> common run "capital is" = 10 < 11
    assert context_recall_at_chars(passages, [SPAN_CAP], 52) == 0.0
    # budget 53: P2[:23] = "Intro. The capital is L" -> common run "capital is l" = 12 >= 11
    assert context_recall_at_chars(passages, [SPAN_CAP], 53) == 1.0
    # budget 58: P2[:28] contains the whole span, just inside the cut
    assert context_recall_at_chars(passages, [SPAN_CAP], 58) == 1.0
    assert context_recall_at_chars(passages, [SPAN_CAP], 2000) == 1.0
    assert context_recall_at_chars(passages, [SPAN_CAP], 0) == 0.0


def test_context_recall_partial_share():
    p0 = "Trams run until midnight."  # 25 chars
    spans = ["trams run until midnight", SPAN_CAP]
    # budget 25 + 30 = 55: p0 whole, P1 whole, P2 cut to 0 chars -> 1 of 2 spans
    assert context_recall_at_chars([p0, P1, P2], spans, 55) == 0.5
    # budget 25 + 30 + 28 = 83: P2[:28] includes the span -> 2 of 2
    assert context_recall_at_chars([p0, P1, P2], spans, 83) == 1.0


def test_context_recall_does_not_join_passages():
    # Concatenated, "...the capital is" + "Lisbon, of course." would contain the span,
    # but each passage alone has a run of at most 10 chars ("capital is") < 11.
    passages = ["We know the capital is", "Lisbon, of course."]
    assert context_recall_at_chars(passages, [SPAN_CAP], 4000) == 0.0
    assert recall_at_k(passages, [SPAN_CAP], 2) == 0.0


# ---------------------------------------------------------------------------
# Answer metrics
# ---------------------------------------------------------------------------


def test_keyword_recall():
    answer = "Take TRAM 28 from Martim Moniz."
    # "tram 28" found (case-insensitive), "martim moniz" found, "elevador" missing -> 2/3
    assert keyword_recall(answer, ["tram 28", "martim moniz", "elevador"]) == pytest.approx(2 / 3)
    assert keyword_recall(answer, ["Tram 28"]) == 1.0
    assert keyword_recall("", ["x"]) == 0.0
    with pytest.raises(ValueError):
        keyword_recall(answer, [])


def test_citation_precision():
    span = "Tram 28 leaves from Martim Moniz every ten minutes and climbs through Alfama to Estrela."
    c_inside = "leaves from Martim Moniz"  # short citation covered BY the span
    c_covering = (
        "Practical info. Tram 28 leaves from Martim Moniz every ten minutes and climbs "
        "through Alfama to Estrela. Buy tickets on board."
    )  # covers the span
    c_unrelated = "Museums close on Mondays."
    assert not covers(c_inside, span) and covers(span, c_inside)
    # 2 of 3 citations relevant -> 2/3
    assert citation_precision([c_inside, c_covering, c_unrelated], [span]) == pytest.approx(2 / 3)
    assert citation_precision([c_unrelated], [span]) == 0.0
    assert citation_precision([c_inside], ["unrelated evidence", span]) == 1.0
    assert citation_precision([], [span]) is None


def test_abstain_metrics():
    # abstained on 3 of 4 unanswerable questions -> 0.75
    assert abstain_accuracy([True, False, True, True]) == 0.75
    # abstained on 1 of 4 answerable questions -> 0.25
    assert false_abstain_rate([False, False, True, False]) == 0.25
    assert abstain_accuracy([]) is None
    assert false_abstain_rate([]) is None


# ---------------------------------------------------------------------------
# Cross-check against ranx
# ---------------------------------------------------------------------------

_SPAN_CHARS = "jkqvxz0123456789"  # spans use these ...
_FILLER_CHARS = "abcdefghilmnoprstuwy"  # ... filler never does, so filler cannot cover a span


def _word(rng: random.Random, chars: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def _filler(rng: random.Random, n_words: int) -> str:
    return " ".join(_word(rng, _FILLER_CHARS, 2, 9) for _ in range(n_words))


def _dress(rng: random.Random, span: str) -> str:
    """Write a span the way a passage might: case, punctuation, a markdown link."""
    words = span.split()
    out = []
    for w in words:
        r = rng.random()
        if r < 0.2:
            w = w.upper()
        elif r < 0.35:
            w = f"[{w}](/guides/{_word(rng, _SPAN_CHARS, 3, 8)})"
        out.append(w + rng.choice(["", ",", ";", " -", "."]))
    return " ".join(out)


def _synthetic_case(rng: random.Random):
    """One query: spans, ranked passages, their doc ids and the intended coverage.

    Span j is covered only by passage "s{j}" (if retrieved); "n{i}" passages
    cover nothing. So span-based metrics equal doc-id-based ones.
    """
    n_spans = rng.randint(1, 4)
    spans = [" ".join(_word(rng, _SPAN_CHARS, 5, 8) for _ in range(rng.randint(3, 6))) for _ in range(n_spans)]
    retrieved = [j for j in range(n_spans) if rng.random() < 0.6]
    docs = [(f"s{j}", f"{_filler(rng, rng.randint(0, 20))} {_dress(rng, spans[j])} {_filler(rng, 5)}") for j in retrieved]
    docs += [(f"n{i}", _filler(rng, rng.randint(3, 40))) for i in range(rng.randint(0 if docs else 1, 16))]
    rng.shuffle(docs)
    return spans, [d for d, _ in docs], [t for _, t in docs]


@pytest.fixture(scope="module")
def ranx_cases():
    ranx = pytest.importorskip("ranx")
    rng = random.Random(20240521)
    cases = {}
    qrels, run = {}, {}
    for q in range(300):
        qid = f"q{q}"
        spans, ids, texts = _synthetic_case(rng)
        cases[qid] = (spans, ids, texts)
        qrels[qid] = {f"s{j}": 1 for j in range(len(spans))}
        run[qid] = {doc: float(len(ids) - rank) for rank, doc in enumerate(ids)}
    ranx_run = ranx.Run(run)
    metrics = ["recall@1", "recall@3", "recall@5", "recall@10", "recall@20"]
    metrics += ["hit_rate@1", "hit_rate@3", "hit_rate@5", "hit_rate@10", "hit_rate@20"]
    metrics += ["mrr@10", "ndcg@10", "ndcg@5"]
    ranx.evaluate(ranx.Qrels(qrels), ranx_run, metrics, return_mean=False)
    return cases, ranx_run.scores


def test_synthetic_cases_have_intended_coverage(ranx_cases):
    cases, _ = ranx_cases
    for spans, ids, texts in cases.values():
        cov = coverage(texts, spans)
        for doc, row in zip(ids, cov):
            expected = [doc == f"s{j}" for j in range(len(spans))]
            assert row == expected, (doc, spans)


def test_matches_ranx(ranx_cases):
    cases, scores = ranx_cases
    for qid, (spans, _ids, texts) in cases.items():
        cov = coverage(texts, spans)
        for k in (1, 3, 5, 10, 20):
            assert recall_at_k(texts, spans, k, cov=cov) == pytest.approx(scores[f"recall@{k}"][qid], abs=1e-9)
            assert hit_at_k(texts, spans, k, cov=cov) == pytest.approx(scores[f"hit_rate@{k}"][qid], abs=1e-9)
        assert mrr_at_k(texts, spans, 10, cov=cov) == pytest.approx(scores["mrr@10"][qid], abs=1e-9)
        assert ndcg_at_k(texts, spans, 10, cov=cov) == pytest.approx(scores["ndcg@10"][qid], abs=1e-9)
        assert ndcg_at_k(texts, spans, 5, cov=cov) == pytest.approx(scores["ndcg@5"][qid], abs=1e-9)
        # and the same without a precomputed matrix
        assert ndcg_at_k(texts, spans) == pytest.approx(scores["ndcg@10"][qid], abs=1e-9)


# ---------------------------------------------------------------------------
# Performance guard
# ---------------------------------------------------------------------------


def test_speed_80_questions_20_passages_3_spans():
    rng = random.Random(3)
    vocab = [_word(rng, "abcdefghijklmnopqrstuvwxyz", 2, 9) for _ in range(3000)]

    def text(n_chars: int) -> str:
        words, size = [], 0
        while size < n_chars:
            w = rng.choice(vocab)
            words.append(w)
            size += len(w) + 1
        return " ".join(words)[:n_chars]

    questions = [([text(5000) for _ in range(20)], [text(300) for _ in range(3)]) for _ in range(80)]
    start = time.perf_counter()
    for passages, spans in questions:
        cov = coverage(passages, spans)
        for k in (1, 3, 5, 10):
            recall_at_k(passages, spans, k, cov=cov)
            hit_at_k(passages, spans, k, cov=cov)
        mrr_at_k(passages, spans, cov=cov)
        ndcg_at_k(passages, spans, cov=cov)
        context_recall_at_chars(passages, spans, 2000, cov=cov)
        context_recall_at_chars(passages, spans, 4000, cov=cov)
    # typically ~0.2 s; the bound is loose to stay robust on slow machines
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------------------
# Answer shape
# ---------------------------------------------------------------------------

SHAPE_SPAN = "Tram 28 leaves from Martim Moniz every ten minutes. It climbs through Alfama to Estrela."


def test_answer_sentences_split_at_markers_and_drop_edition_leads():
    answer = (
        "According to the 2024 guide: Tram 28 leaves from Martim Moniz. [1] It climbs to Estrela [2]\n\n"
        "The 2026 guide adds: Buy tickets on board. Ok. [3][4]"
    )
    assert answer_sentences(answer) == [
        "Tram 28 leaves from Martim Moniz.",
        "It climbs to Estrela",
        "Buy tickets on board.",
    ]  # "Ok." has under 12 normalised characters


def test_answer_precision_and_lead_hit_hand_worked():
    # 3 sentences: the first and last lie inside the span, the middle one does not.
    answer = "Tram 28 leaves from Martim Moniz. [1] Museums close on Mondays. [2] It climbs through Alfama to Estrela. [1]"
    assert answer_precision(answer, [SHAPE_SPAN]) == pytest.approx(2 / 3)
    assert lead_hit(answer, [SHAPE_SPAN]) == 1.0
    assert lead_hit("Museums close on Mondays. [2] Tram 28 leaves from Martim Moniz. [1]", [SHAPE_SPAN]) == 0.0
    assert answer_precision("Ok. [1]", [SHAPE_SPAN]) is None


def test_answer_words_ignores_markers():
    assert answer_words("Tram 28 leaves [1][2] from Martim Moniz. [3]") == 6
    assert answer_words("") == 0
