r"""The pre-analysis plan of a randomised trial: a frozen, fingerprinted record an agency registers.

:class:`PreAnalysisPlan` holds what Olken (2015) asks a plan to fix before the outcomes are seen: the
hypotheses, the primary and secondary outcomes, the randomisation (strata, clusters, seed, rule), the
estimator with its covariates and standard errors, the level, the power and the minimum detectable effect.
It never holds a firm identifier: the assignment stays with the agency, and the plan carries only its
SHA-256 (:func:`~ipf_eval.experiments.trial_design.assignment_sha256`).

References
----------
Olken, B. A. (2015). Promises and pitfalls of pre-analysis plans. *Journal of Economic Perspectives*
29(3), 61-80.

Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate balance in experiments.
*Annals of Statistics* 40(2), 1263-1282.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
from dataclasses import dataclass, field
from typing import Any

from ipf_eval._version import __version__
from ipf_eval.results import json_safe

__all__ = ["PreAnalysisPlan"]


@dataclass(frozen=True)
class PreAnalysisPlan:
    r"""A registered pre-analysis plan (publishable: it holds no firm identifier).

    Attributes
    ----------
    title, hypotheses
        The plan's title and its hypotheses in words.
    primary_outcome, secondary_outcomes
        The registered outcomes (``primary_outcome`` may be ``None``: then no outcome is registered).
    arms, shares, n_by_arm
        Arm labels (control first), target shares and firms assigned to each arm.
    strata, n_strata, cluster, n_clusters, n_firms
        The randomisation's strata columns and count, cluster column and count, firms.
    covariates
        Adjustment covariates of the planned analysis (the baseline outcome first, when given).
    estimator, vce, n_permutations
        ``"rct"`` (:func:`~ipf_eval.experiments.rct`); ``"hc2"``, or ``"cr1"`` with clusters; the number
        of permutations of the randomisation inference.
    alpha, power, mde, mde_units
        Level, target power and one minimum detectable ITT effect per treatment arm against control.
    outcome_sd, icc, icc_source, r2
        Inputs of the MDE (``outcome_sd`` is ``None`` when the MDE is in standard deviations).
    rerandomise, max_smd, draws_used, balance_met, max_abs_smd
        The re-randomisation rule and how it went (``balance_met`` is ``None`` without a rule).
    seed, numpy_version, ipf_eval_version
        What reproduces the assignment (numpy ``Generator`` streams are only guaranteed within a version).
    assignment_sha256
        SHA-256 of the canonical CSV of the assignment.
    sha256
        SHA-256 of the plan itself, computed on construction (so a modified copy made with
        :func:`dataclasses.replace` gets its own): of the canonical JSON of :meth:`to_dict` without the
        ``sha256`` key, i.e. ``json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
        allow_nan=False)`` encoded as UTF-8.
    """

    title: str
    hypotheses: tuple[str, ...]
    primary_outcome: str | None
    secondary_outcomes: tuple[str, ...]
    arms: tuple[str, ...]
    shares: tuple[float, ...]
    n_by_arm: tuple[int, ...]
    strata: tuple[str, ...]
    n_strata: int
    cluster: str | None
    n_clusters: int | None
    n_firms: int
    covariates: tuple[str, ...]
    estimator: str
    vce: str
    n_permutations: int
    alpha: float
    power: float
    mde: tuple[float, ...]
    mde_units: str
    outcome_sd: float | None
    icc: float | None
    icc_source: str | None
    r2: float
    rerandomise: int
    max_smd: float
    draws_used: int
    balance_met: bool | None
    max_abs_smd: float | None
    seed: int
    numpy_version: str
    assignment_sha256: str
    ipf_eval_version: str = __version__
    sha256: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest())

    def _content(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sha256"}

    def canonical_json(self) -> str:
        """Return the canonical JSON text whose SHA-256 is :attr:`sha256` (every field but ``sha256``)."""
        return json.dumps(json_safe(self._content()), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary of every field, ``sha256`` included."""
        return {**json_safe(self._content()), "sha256": self.sha256}

    # ------------------------------------------------------------------------------------------ rendering
    def _randomisation_text(self) -> list[str]:
        units = f"clusters of {self.cluster!r} (whole clusters)" if self.cluster else "firms"
        blocks = (f"within {self.n_strata} strata formed by {', '.join(self.strata)}" if self.strata
                  else "in one block (no strata)")
        shares = ", ".join(f"{a} {s:.4g}" for a, s in zip(self.arms, self.shares, strict=True))
        out = [
            f"Stratified (blocked) randomisation of {units} {blocks}; target shares {shares}.",
            "In each stratum every arm receives the whole part of its quota (share x stratum size); the "
            "leftover units' arms are drawn by systematic sampling with probabilities equal to the "
            "fractional quotas, so every unit has probability equal to its arm's share of each arm.",
            f"Units are sorted by identifier, then drawn with a numpy Generator (PCG64) seeded {self.seed} "
            f"(numpy {self.numpy_version}, ipf_eval {self.ipf_eval_version}).",
        ]
        if self.rerandomise > 0:
            met = ("met" if self.balance_met
                   else "not met: the best-balanced draw was kept, and the analysis re-applies that rule too")
            out.append(
                f"Re-randomisation (Morgan & Rubin 2012): up to {self.rerandomise} redraws until the largest "
                f"absolute standardized mean difference of {', '.join(self.covariates)} (each arm against "
                f"{self.arms[0]}) is at most {self.max_smd:g}; {self.draws_used} draw(s) used, rule {met}. "
                "Inference must respect this rule: randomisation inference redraws assignments with the same "
                "rule, so that the reference distribution is that of the design."
            )
        else:
            out.append("No re-randomisation: the first draw is the assignment.")
        counts = ", ".join(f"{a} {n}" for a, n in zip(self.arms, self.n_by_arm, strict=True))
        out.append(f"Firms assigned: {counts} ({self.n_firms} firms"
                   + (f", {self.n_clusters} clusters)." if self.cluster else ")."))
        return out

    def _power_text(self) -> list[str]:
        out = [f"Minimum detectable ITT effect of {a} against {self.arms[0]} (Bloom 1995; two-sided alpha = "
               f"{self.alpha:g}, power = {self.power:g}): {m:.4g} {self.mde_units}."
               for a, m in zip(self.arms[1:], self.mde, strict=True)]
        if self.outcome_sd is None:
            out.append("No baseline outcome was available: the MDE is expressed in standard deviations of "
                       "the outcome (outcome_sd = 1).")
        else:
            out.append(f"Outcome standard deviation {self.outcome_sd:.4g}, from the baseline outcome.")
        if self.cluster:
            out.append(f"Intra-cluster correlation {self.icc:.4g} ({self.icc_source}); design effect "
                       "1 + (m - 1) ICC with m the mean cluster size.")
        out.append(f"R-squared of covariates assumed {self.r2:g}: the precision gained by the covariate "
                   "adjustment is not counted, so the MDE is conservative.")
        return out

    def _analysis_text(self) -> list[str]:
        se = (f"cluster-robust (CR1) standard errors by {self.cluster}" if self.cluster
              else "HC2 (Neyman) standard errors")
        fe = ("stratum fixed effects (the stratum-size-weighted average of within-stratum differences)"
              if self.n_strata > 1 else "no stratum effects (one block)")
        cov = (f"Lin (2013) fully interacted adjustment for {', '.join(self.covariates)}" if self.covariates
               else "no covariate adjustment (difference in means)")
        out = [
            "Primary estimand: the intention-to-treat effect on "
            f"{self.primary_outcome or '(not registered)'} of assignment to each treatment arm against "
            f"{self.arms[0]}, whatever support was received; "
            f"estimated by ipf_eval.experiments.rct on the firms of the two arms with {fe}, {cov} and {se}.",
            f"Two-sided tests at alpha = {self.alpha:g}; randomisation inference with {self.n_permutations} "
            "permutations that redraw the assignment by this plan's procedure"
            + (" and re-randomisation rule." if self.rerandomise > 0 else "."),
        ]
        if len(self.arms) > 2:
            out.append("Each treatment arm is compared with the control arm separately; p-values are also "
                       "reported with Holm's adjustment over the comparisons.")
        out.append("When take-up is recorded, the effect on firms that used the support (Wald/IV) is a "
                   "secondary estimand.")
        out.append("Every departure from this plan (another outcome, other covariates, another alpha or "
                   "number of permutations, firms missing or added, arms changed) is listed with the "
                   "results.")
        return out

    def _sections(self) -> list[tuple[str, list[str]]]:
        outcomes = [f"Primary: {self.primary_outcome or '(not registered)'}.",
                    f"Secondary: {', '.join(self.secondary_outcomes) or 'none'}."]
        keep = [
            "The assignment (firm identifiers with arms) is confidential: the agency keeps it locally and "
            "registers only its SHA-256.",
            "Canonical form of the assignment for the hash: UTF-8 CSV with '\\n' line ends, a header "
            "'<id column>,arm', one line per firm sorted by identifier, minimal quoting.",
            f"Assignment SHA-256: {self.assignment_sha256}.",
            f"Plan SHA-256: {self.sha256} (canonical JSON of the plan without this field).",
        ]
        return [("Hypotheses", list(self.hypotheses)), ("Outcomes", outcomes),
                ("Randomisation", self._randomisation_text()), ("Power", self._power_text()),
                ("Analysis", self._analysis_text()), ("Registration", keep)]

    def as_markdown(self) -> str:
        """Render the plan as Markdown (no firm identifiers)."""
        lines = [f"# {self.title}", ""]
        for head, items in self._sections():
            lines += [f"## {head}", "", *[f"- {t}" for t in items], ""]
        return "\n".join(lines)

    def as_html(self) -> str:
        """Render the plan as an HTML fragment, every text escaped (no firm identifiers)."""
        esc = html.escape
        parts = [f"<div class='ipf-eval-plan'><h3>{esc(self.title)}</h3>"]
        for head, items in self._sections():
            parts.append(f"<h4>{esc(head)}</h4><ul>" + "".join(f"<li>{esc(t)}</li>" for t in items) + "</ul>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.as_html()
