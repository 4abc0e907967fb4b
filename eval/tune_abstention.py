"""Fit the decline model on labelled questions, cross-validated: `rag tune abstention`.

Every standalone question of the dev, train and seen sets on corpus/ (eval/sets.toml;
holdouts are never read) is retrieved as the service would. The explainable rules of
rag.answer.answerability decide first, exactly as served (with `near`); the model
(rag.answer.abstention) is fitted on the signals of all questions, and its
threshold is the lowest that keeps the false-abstain rate of rules and model
together within the budget on the training folds. Stratified k-fold
cross-validation reports abstain accuracy and false-abstain rate against the rules
alone; the model fitted on all questions is written to abstention.json.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from eval.suite import WORK_DIR, questions_of
from eval.tune_queries import held_out_retriever
from rag.answer.abstention import DEFAULT_MODEL, FEATURES, AbstentionModel, abstention_features
from rag.answer.answerability import abstain_reason
from rag.service import QAService
from rag.settings import Settings

FIT_ROLES = ("dev", "train", "seen")
FALSE_ABSTAIN_BUDGET = 0.05


@dataclass
class Labelled:
    features: np.ndarray  # one row per question, FEATURES order
    unanswerable: np.ndarray  # bool per question
    by_rule: np.ndarray  # bool: the served rules already decline it


def collect(service: QAService, work_dir: Path = WORK_DIR) -> Labelled:
    """Every standalone question of the fitting sets, asked of its own index (a set on other
    guides of an index of corpus/ and those guides, built in `work_dir`)."""
    asked_of = [(name, svc, q) for name, svc, q in questions_of(service, FIT_ROLES, work_dir) if not q.history]
    rows, labels, rules = [], [], []
    for set_name, svc, q in asked_of:
        pipeline = svc.engine.pipeline
        passages = held_out_retriever(svc, set_name, work_dir).retrieve(q.question, k=10)
        rows.append(abstention_features(q.question, passages)[0])
        labels.append(not q.answerable)
        rules.append(abstain_reason(q.question, passages, pipeline.abstain_threshold, pipeline.mentions, pipeline.near)
                     is not None)
    return Labelled(np.array(rows), np.array(labels), np.array(rules))


def fit(data: Labelled, budget: float = FALSE_ABSTAIN_BUDGET) -> AbstentionModel:
    """Logistic weights on all rows; the threshold is the lowest keeping false abstention within budget."""
    lr = LogisticRegression(max_iter=1000, class_weight="balanced").fit(data.features, data.unanswerable)
    model = AbstentionModel(lr.coef_[0], float(lr.intercept_[0]), 1.0)
    p = np.array([model.probability(r) for r in data.features])
    answerable = ~data.unanswerable
    threshold = 1.0
    for t in sorted(set(p), reverse=True):
        if ((p >= t) | data.by_rule)[answerable].mean() > budget:
            break
        threshold = float(t)
    return AbstentionModel(model.weights, model.intercept, threshold)


def cross_validate(data: Labelled, folds: int = 5, seeds: int = 3) -> dict[str, dict[str, float]]:
    """Abstain accuracy and false-abstain rate of the rules alone and of rules + model, out of fold."""
    def rates(declined: np.ndarray) -> dict[str, float]:
        return {"abstain_accuracy": round(float(declined[data.unanswerable].mean()), 3),
                "false_abstain_rate": round(float(declined[~data.unanswerable].mean()), 3)}

    runs = []
    for seed in range(seeds):
        declined = data.by_rule.copy()
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(data.features, data.unanswerable):
            model = fit(Labelled(data.features[train], data.unanswerable[train], data.by_rule[train]))
            declined[test] |= np.array([model.probability(r) >= model.threshold for r in data.features[test]])
        runs.append(rates(declined))
    mean = {k: round(float(np.mean([r[k] for r in runs])), 3) for k in runs[0]}
    return {"rules": rates(data.by_rule), "rules + model": mean}


def run(service: QAService, out: Path) -> dict:
    """Collect, cross-validate, fit on everything, write `out`; the report."""
    data = collect(service)
    report = cross_validate(data)
    model = fit(data)
    out.write_text(json.dumps(model.to_json(), indent=2) + "\n", encoding="utf-8")
    weights = dict(zip(FEATURES, np.round(model.weights, 3).tolist(), strict=True))
    return {"questions": len(data.unanswerable), "unanswerable": int(data.unanswerable.sum()),
            "cross_validation": report, "weights": weights, "threshold": round(model.threshold, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="where to write abstention.json")
    args = parser.parse_args()
    service = QAService(Settings(), fitted=False)
    service.ensure_index()
    print(json.dumps(run(service, args.out), indent=2))


if __name__ == "__main__":
    main()
