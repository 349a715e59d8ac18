r"""Named statistical disclosure control profiles: the rules a table must satisfy before it is published.

Two profiles ship with the package:

``statistical_office``
    At least 3 firms per cell and the (1, 85) dominance rule: the largest contributor must not exceed 85 %
    of the cell total.  This is the common practice of national statistical offices for business
    statistics.
``research_data_centre``
    At least 10 firms per cell, the (2, 90) dominance rule (the two largest contributors together must not
    exceed 90 % of the cell total), the p % rule with p = 10, and at least 10 residual degrees of freedom for
    model output.  This follows the output-checking guidelines of research data centres for business
    microdata.

For non-negative contributions the p % rule with p = 10 is implied by the (2, 90) dominance rule
(:math:`T - x_1 - x_2 < 0.1 x_1 \le 0.1 T` gives :math:`x_1 + x_2 > 0.9 T`); it is kept explicit in the
research data centre profile because agencies adjust the two rules separately.

A profile is a frozen value; :meth:`DisclosureProfile.replace` returns a modified copy for an agency whose
rules differ.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ipf_eval._defaults import check_options, keyword_options
from ipf_eval.errors import SpecificationError

__all__ = ["PROFILES", "DisclosureProfile", "get_profile", "list_profiles"]


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class DisclosureProfile:
    """The rules of one disclosure control regime.

    Parameters
    ----------
    name
        Name used in audit logs and reports.
    min_firms
        Threshold rule: a cell with between 1 and ``min_firms - 1`` contributing firms is suppressed.
    dominance_n, dominance_k
        The (n, k) dominance rule: a magnitude cell is suppressed when its ``dominance_n`` largest
        contributors account for more than ``dominance_k`` percent of the cell total.  ``None`` disables it.
    p_percent
        The p % rule: a magnitude cell is suppressed when the second largest contributor could estimate the
        largest to within ``p_percent`` percent, i.e. when :math:`T - x_1 - x_2 < (p/100) x_1`.  ``None``
        disables it.
    min_residual_df
        Minimum residual degrees of freedom of a model whose output is published; ``None`` disables it.
    description
        One line describing the regime.

    Notes
    -----
    Contributions are measured per firm (all rows of one firm in a cell are summed first).  The dominance
    and p % rules are defined for non-negative contributions, so a magnitude with negative values is
    refused under a profile that applies them (:func:`~ipf_eval.disclosure.cells.check_magnitudes`).

    References
    ----------
    Hundepool, A., Domingo-Ferrer, J., Franconi, L., Giessing, S., Schulte Nordholt, E., Spicer, K. and
    de Wolf, P.-P. (2012). *Statistical Disclosure Control*. Wiley, chapter 4 (sensitivity rules).
    """

    name: str
    min_firms: int
    dominance_n: int | None = None
    dominance_k: float | None = None
    p_percent: float | None = None
    min_residual_df: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.min_firms, int) or isinstance(self.min_firms, bool) or self.min_firms < 1:
            raise SpecificationError(
                f"min_firms must be a positive integer; got {self.min_firms!r}. "
                "Use 1 to disable the threshold rule."
            )
        if (self.dominance_n is None) != (self.dominance_k is None):
            raise SpecificationError(
                f"dominance_n and dominance_k must both be set or both be None; got "
                f"dominance_n={self.dominance_n!r}, dominance_k={self.dominance_k!r}."
            )
        if self.dominance_n is not None and (not isinstance(self.dominance_n, int)
                                             or isinstance(self.dominance_n, bool) or self.dominance_n < 1):
            raise SpecificationError(f"dominance_n must be a positive integer; got {self.dominance_n!r}.")
        if self.dominance_k is not None and not (_is_real(self.dominance_k) and 0 < self.dominance_k <= 100):
            raise SpecificationError(
                f"dominance_k is a percentage and must lie in (0, 100]; got {self.dominance_k!r}."
            )
        if self.p_percent is not None and not (_is_real(self.p_percent) and 0 < self.p_percent <= 100):
            raise SpecificationError(f"p_percent must lie in (0, 100]; got {self.p_percent!r}.")
        if not isinstance(self.name, str) or not self.name:
            raise SpecificationError(f"name must be a non-empty string; got {self.name!r}.")
        if self.min_residual_df is not None and (
            not isinstance(self.min_residual_df, int) or self.min_residual_df < 0
        ):
            raise SpecificationError(
                f"min_residual_df must be a non-negative integer or None; got {self.min_residual_df!r}."
            )

    def replace(self, **changes: Any) -> DisclosureProfile:
        """Return a copy with some rules changed (the profile itself is immutable).

        Raises
        ------
        SpecificationError
            If a name is not a field of the profile, or a new value is invalid.
        """
        check_options(changes, [f.name for f in dataclasses.fields(self)],
                      function="DisclosureProfile.replace")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """Return the rules in one line of plain language."""
        parts = [f"at least {self.min_firms} firms per cell"]
        if self.dominance_n is not None:
            parts.append(f"({self.dominance_n}, {self.dominance_k:g}) dominance")
        if self.p_percent is not None:
            parts.append(f"p% rule with p = {self.p_percent:g}")
        if self.min_residual_df is not None:
            parts.append(f"at least {self.min_residual_df} residual degrees of freedom for models")
        return f"{self.name}: " + ", ".join(parts)


#: The profiles that ship with the package, by name.
PROFILES: dict[str, DisclosureProfile] = {
    "statistical_office": DisclosureProfile(
        name="statistical_office",
        min_firms=3,
        dominance_n=1,
        dominance_k=85.0,
        description="National statistical office practice: threshold 3, (1, 85) dominance.",
    ),
    "research_data_centre": DisclosureProfile(
        name="research_data_centre",
        min_firms=10,
        dominance_n=2,
        dominance_k=90.0,
        p_percent=10.0,
        min_residual_df=10,
        description="Research data centre output checking: threshold 10, (2, 90) dominance, p% = 10, "
        "residual df >= 10.",
    ),
}


@keyword_options
def list_profiles() -> tuple[str, ...]:
    """Return the names of the profiles that ship with the package."""
    return tuple(sorted(PROFILES))


@keyword_options
def get_profile(profile: str | DisclosureProfile) -> DisclosureProfile:
    """Return a disclosure profile by name (a :class:`DisclosureProfile` is passed through).

    Parameters
    ----------
    profile
        ``"statistical_office"``, ``"research_data_centre"`` or a :class:`DisclosureProfile`.

    Returns
    -------
    DisclosureProfile
        The profile.

    Raises
    ------
    SpecificationError
        If the name is unknown; the message lists the known profiles.
    """
    if isinstance(profile, DisclosureProfile):
        return profile
    if isinstance(profile, str) and profile in PROFILES:
        return PROFILES[profile]
    raise SpecificationError(
        f"profile must be one of {list(list_profiles())!r} or a DisclosureProfile; got {profile!r}. "
        "Build a custom regime with DisclosureProfile(name=..., min_firms=...) or "
        "get_profile('statistical_office').replace(...)."
    )
