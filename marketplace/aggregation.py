"""Aggregated answers for categorical fields: majority vote and Dawid–Skene.

Pure functions over plain data (no models, no database), so exports, the review table
and benchmarks call them the same way and tests check them against worked examples.

Input: ``labels`` is an iterable of ``(task_key, worker_key, answer)`` triples for one
field; answers are strings (categorical). Output: one ``Aggregate`` per task with the
chosen answer and a confidence in [0, 1].

- **Majority vote**: the most frequent answer; confidence = its share of the votes. A
  tie is reported as such (``tied=True``) and resolved by the answer that sorts first,
  so the result never depends on input order.
- **Dawid–Skene** (Dawid & Skene 1979, "Maximum likelihood estimation of observer
  error-rates using the EM algorithm"): each worker has a confusion matrix (how often
  they answer *l* when the truth is *k*) and the classes have priors; EM alternates
  estimating the truth per task (E-step) and the workers' matrices (M-step), starting
  from the majority vote. Confidence = the posterior probability of the chosen answer.
  Additive smoothing (``smoothing``) keeps a worker seen once from getting a matrix of
  zeros and ones, which would make one answer overrule everyone else.

Floats are fine here: these are statistics about answers, never money.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Aggregate:
    answer: str
    confidence: float
    votes: int
    tied: bool = False


Label = tuple[Hashable, Hashable, str]


def majority_vote(labels: Iterable[Label]) -> dict[Hashable, Aggregate]:
    by_task: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for task, _worker, answer in labels:
        by_task[task][answer] += 1
    result: dict[Hashable, Aggregate] = {}
    for task, counts in by_task.items():
        total = sum(counts.values())
        top = max(counts.values())
        winners = sorted(a for a, n in counts.items() if n == top)
        result[task] = Aggregate(
            answer=winners[0], confidence=top / total, votes=total, tied=len(winners) > 1
        )
    return result


def dawid_skene(
    labels: Iterable[Label],
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
    smoothing: float = 0.01,
) -> dict[Hashable, Aggregate]:
    triples = list(labels)
    if not triples:
        return {}
    classes = sorted({answer for _t, _w, answer in triples})
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    by_task: dict[Hashable, list[tuple[Hashable, int]]] = defaultdict(list)
    for task, worker, answer in triples:
        by_task[task].append((worker, index[answer]))
    workers = {w for _t, w, _a in triples}

    # Start from the (soft) majority vote.
    posterior: dict[Hashable, list[float]] = {}
    for task, votes in by_task.items():
        row = [0.0] * k
        for _w, a in votes:
            row[a] += 1.0
        total = sum(row)
        posterior[task] = [x / total for x in row]

    previous_ll = -math.inf
    for _ in range(max_iterations):
        # M-step: class priors and each worker's confusion matrix.
        priors = [smoothing] * k
        for row in posterior.values():
            for c in range(k):
                priors[c] += row[c]
        prior_total = sum(priors)
        log_priors = [math.log(p / prior_total) for p in priors]
        counts = {w: [[smoothing] * k for _ in range(k)] for w in workers}
        for task, votes in by_task.items():
            row = posterior[task]
            for worker, a in votes:
                matrix = counts[worker]
                for c in range(k):
                    matrix[c][a] += row[c]
        log_confusion = {}
        for worker, matrix in counts.items():
            log_rows = []
            for c in range(k):
                total = sum(matrix[c])
                log_rows.append([math.log(x / total) for x in matrix[c]])
            log_confusion[worker] = log_rows

        # E-step: the truth per task given the matrices; log-sum-exp for stability.
        log_likelihood = 0.0
        for task, votes in by_task.items():
            scores = list(log_priors)
            for worker, a in votes:
                rows = log_confusion[worker]
                for c in range(k):
                    scores[c] += rows[c][a]
            top = max(scores)
            exp = [math.exp(s - top) for s in scores]
            total = sum(exp)
            posterior[task] = [e / total for e in exp]
            log_likelihood += top + math.log(total)
        if abs(log_likelihood - previous_ll) < tolerance:
            break
        previous_ll = log_likelihood

    result: dict[Hashable, Aggregate] = {}
    for task, row in posterior.items():
        best = max(row)
        # Ties (symmetric data) go to the class that sorts first, as in majority_vote.
        winners = [classes[c] for c in range(k) if math.isclose(row[c], best, rel_tol=1e-9)]
        result[task] = Aggregate(
            answer=winners[0],
            confidence=best,
            votes=len(by_task[task]),
            tied=len(winners) > 1,
        )
    return result
