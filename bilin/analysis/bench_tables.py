"""featvis-bench's tables from its per-image rows: per-method means, paired differences against a
baseline method, and how well a proxy ranks the methods.

The classes of one model are not independent samples (they share its weights and its training
run), so nothing here treats the seeds x classes images as independent draws:
- a method's interval is over models (sizes x seeds), each model's classes averaged first;
- a method is compared with the baseline on the same (model, class) pairs: the mean paired
  difference, its t interval over the pairs and a Wilcoxon signed-rank p (both describe these
  models; the pairs still share models), and how many models' own mean differences have its sign;
- a Spearman correlation between rankings of a handful of methods gets an exact permutation p
  (every ordering enumerated) and a note saying when it cannot be read.
Rows are plain dicts (a score missing or "" is not applicable); pure: no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bilin.analysis.stats import mean_t_band

CONFIDENCE = 0.9
MIN_RANKED = 4  # fewer methods than this: no ranking correlation can reach p < 0.05
EXACT_UP_TO = 8  # methods; 8! = 40320 orderings


def _values(members: list[dict], score: str) -> list[float]:
    return [float(m[score]) for m in members if m.get(score, "") != ""]


def _by(rows: Sequence[dict], *keys: str) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def method_means(rows: Sequence[dict], scores: Sequence[str]) -> list[dict]:
    """Per model kind, dataset, method and score: the mean over every image, and a 90% t interval
    over the models' means (one per size x seed)."""
    summary = []
    for (model, data, method), members in _by(rows, "model", "dataset", "method").items():
        for score in scores:
            per_model = [v for group in _by(members, "d_hidden", "seed").values() if (v := _values(group, score))]
            if not per_model:
                continue
            means = torch.tensor([sum(v) / len(v) for v in per_model], dtype=torch.float64)
            _, low, high = mean_t_band(means, confidence=CONFIDENCE)
            everything = [x for v in per_model for x in v]
            one = len(per_model) < 2  # one model: no spread between models to estimate, so no interval
            summary.append(
                {"model": model, "dataset": data, "method": method, "score": score,
                 "mean": sum(everything) / len(everything), "low": "" if one else float(low),
                 "high": "" if one else float(high), "models": len(per_model), "images": len(everything),
                 "confidence": CONFIDENCE, "interval": "none: one model" if one else
                 f"{CONFIDENCE:.0%} Student t over {len(per_model)} model means (classes averaged first)"}
            )  # fmt: skip
    return summary


def paired_against(rows: Sequence[dict], baseline: str, scores: Sequence[str]) -> list[dict]:
    """Each method minus `baseline` on the same (model, class): mean difference, a 90% t interval
    and a two-sided Wilcoxon signed-rank p over the pairs, and the models whose mean difference has
    the overall sign."""
    from scipy.stats import wilcoxon

    out = []
    for (model, data), members in _by(rows, "model", "dataset").items():
        cells = {(r["method"], r["d_hidden"], r["seed"], r["class"]): r for r in members}
        for method in dict.fromkeys(r["method"] for r in members):
            if method == baseline:
                continue
            for score in scores:
                pairs: dict[tuple, list[float]] = {}
                for (m, d, seed, c), row in cells.items():
                    base = cells.get((baseline, d, seed, c))
                    if m == method and base is not None and row.get(score, "") != "" and base.get(score, "") != "":
                        pairs.setdefault((d, seed), []).append(float(row[score]) - float(base[score]))
                diffs = [x for v in pairs.values() for x in v]
                if not diffs:
                    continue
                mean, low, high = mean_t_band(torch.tensor(diffs, dtype=torch.float64), confidence=CONFIDENCE)
                p = float(wilcoxon(diffs).pvalue) if len(diffs) > 1 and any(diffs) else float("nan")
                sign = math.copysign(1.0, float(mean)) if float(mean) != 0 else 0.0
                agree = sum(1 for v in pairs.values() if math.copysign(1.0, sum(v)) == sign and sum(v) != 0)
                out.append(
                    {"model": model, "dataset": data, "method": method, "baseline": baseline, "score": score,
                     "mean_difference": float(mean), "low": float(low), "high": float(high), "pairs": len(diffs),
                     "confidence": CONFIDENCE, "wilcoxon_p": p, "models_same_sign": f"{agree}/{len(pairs)}"}
                )  # fmt: skip
    return out


def permutation_spearman(truth: Sequence[float], proxy: Sequence[float]) -> dict:
    """Spearman's rho of two scores over the same methods, its exact two-sided permutation p (every
    ordering of the proxy's ranks), and whether it can be read: `readable` is False with a `note`
    for fewer than MIN_RANKED methods, ties in either score, or p > 0.05."""
    from scipy.stats import rankdata

    n = len(truth)
    rho, p, note = float("nan"), float("nan"), ""
    if n < MIN_RANKED:
        note = f"{n} methods: too few to rank (at least {MIN_RANKED})"
    elif n > EXACT_UP_TO:
        note = f"{n} methods: more than {EXACT_UP_TO}, no exact permutation test"
    else:
        a, b = rankdata(truth), rankdata(proxy)
        rho = _pearson(a, b)
        rhos = [_pearson(a, [b[i] for i in order]) for order in itertools.permutations(range(n))]
        p = sum(1 for r in rhos if abs(r) >= abs(rho) - 1e-12) / len(rhos)
        if len(set(truth)) < n or len(set(proxy)) < n:
            note = "ties in a ranking"
        elif p > 0.05:
            note = f"p = {p:.2f} > 0.05: not told apart from a random ranking of {n} methods"
    return {"spearman": rho, "p_permutation": p, "methods": n, "readable": not note, "note": note}


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = torch.tensor(list(a), dtype=torch.float64), torch.tensor(list(b), dtype=torch.float64)
    x, y = x - x.mean(), y - y.mean()
    scale = float(x.norm() * y.norm())
    return float((x * y).sum()) / scale if scale > 0 else float("nan")


@dataclass
class BenchSummary:
    """featvis-bench's tables: the per-image rows, the methods' means, their paired differences against the
    baseline and how the proxy ranks the methods against each ground truth."""

    rows: list[dict]
    means: list[dict]
    versus: list[dict]
    ranking: list[dict]
    baseline: str

    def tables(self) -> dict[str, list[dict]]:
        return {
            "bench.csv": self.rows,
            "bench_summary.csv": self.means,
            f"bench_vs_{self.baseline}.csv": self.versus,
            "ranking.csv": self.ranking,
        }

    def headline(self) -> dict[str, float]:
        """The bilinear models' mean fraction and box share per dataset and method."""
        return {
            f"{r['score']}.{r['dataset']}.{r['method']}": r["mean"]
            for r in self.means
            if r["model"] == "bilinear" and r["score"] in ("fraction", "box_share")
        }


def bench_summary(
    rows: list[dict], scores: Sequence[str], baseline: str, datasets: Sequence[str], reference: str
) -> BenchSummary:
    """reference: the method left out of the ranking (the sphere: a different problem)."""
    means = method_means(rows, scores)
    return BenchSummary(
        rows, means, paired_against(rows, baseline, scores), proxy_ranking(means, datasets, reference), baseline
    )


def proxy_ranking(means: Sequence[dict], datasets: Sequence[str], reference: str) -> list[dict]:
    """How the in-box methods rank by the proxy against each ground truth (the `reference` method is left
    out), with an exact permutation p and when it cannot be read."""
    mean = {(r["model"], r["dataset"], r["method"], r["score"]): r["mean"] for r in means}
    ranking = []
    for data in datasets:
        for truth in ("fraction", "box_share"):
            for kind in ("bilinear", "relu"):
                methods = [
                    m
                    for (model, ds, m, score) in mean
                    if (model, ds, score) == ("bilinear", data, truth)
                    and m != reference
                    and (kind, data, m, "proxy_confidence") in mean
                ]
                if kind == "relu" and not methods:
                    continue
                ranking.append(
                    {"dataset": data, "compared": f"{kind} proxy vs bilinear {truth}", "truth": truth,
                     **permutation_spearman([mean[("bilinear", data, m, truth)] for m in methods],
                                            [mean[(kind, data, m, "proxy_confidence")] for m in methods]),
                     "ranked": " ".join(methods)}
                )  # fmt: skip
    return ranking
