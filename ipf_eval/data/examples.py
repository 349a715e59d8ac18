"""Real example data mapped to the panel contract.

:func:`michigan_training_grants` returns the Michigan job-training-grant panel of Holzer, Block, Cheatham
and Knott (1993): a real public support scheme for firms, with staggered support (1988 and 1989) and
missing outcomes, small enough for textbook replication.
"""

from __future__ import annotations

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import DataError

__all__ = ["michigan_training_grants"]

# Source column -> contract column.  Scheme-specific outcomes keep Wooldridge's names.
_RENAME = {
    "fcode": "firm_id",
    "year": "year",
    "grant": "grant",
    "grant_1": "grant_lag",
    "d88": "d88",
    "d89": "d89",
    "union": "union",
    "employ": "employment",
    "lemploy": "log_employment",
    "sales": "sales",
    "lsales": "log_sales",
    "avgsal": "avgsal",
    "lavgsal": "log_avgsal",
    "scrap": "scrap",
    "lscrap": "lscrap",
    "rework": "rework",
    "lrework": "lrework",
    "tothrs": "tothrs",
    "totrain": "totrain",
    "hrsemp": "hrsemp",
    "lhrsemp": "lhrsemp",
}


@keyword_options
def michigan_training_grants() -> pd.DataFrame:
    """Michigan job-training grants, 1987-1989: 157 manufacturing firms, mapped to the panel contract.

    Returns
    -------
    pandas.DataFrame
        A fresh copy (471 rows, one per firm and year, sorted by ``firm_id, year``) with columns:

        - ``firm_id`` (int64; the source's ``fcode``), ``year`` (int64; 1987, 1988, 1989);
        - ``first_support_year`` (int64): the year the firm received its training grant, 1988 or 1989, and
          0 for the 91 firms that never received one.  In the source ``grant`` is 1 only in the year of
          receipt and ``grant_1`` is its one-year lag; no firm received two grants, so the first year with
          ``grant == 1`` is the support year (36 firms in 1988, 30 in 1989);
        - ``grant`` and ``grant_lag`` (the source's ``grant`` and ``grant_1``), ``d88``, ``d89`` (year
          dummies) and ``union`` (1 if unionised);
        - outcomes: ``lscrap`` (log scrap rate per 100 items; ``scrap`` in levels), ``lrework``/``rework``
          (rework rate), ``hrsemp`` (training hours per employee trained, the source's ``tothrs/totrain``)
          and ``lhrsemp`` (``log(1 + hrsemp)``), ``tothrs``, ``totrain``, ``employment`` and
          ``log_employment`` (the source's ``employ``, ``lemploy``), ``sales``/``log_sales``,
          ``avgsal``/``log_avgsal`` (average salary).

        Missing outcomes are left as NaN (``lscrap`` is missing for 309 of 471 rows: only firms that
        track scrap rates report them); :func:`ipf_eval.data.validate_panel` drops them with a count.

    Raises
    ------
    DataError
        If the installed linearmodels ships a version of the data without the expected columns.

    Notes
    -----
    Michigan's Business Enterprise Training program gave manufacturing firms grants for training in 1988
    and 1989.  Wooldridge's *Introductory Econometrics* uses these data (file JTRAIN) in Examples 9.8, 13.x
    (first differences, 1987-1988) and 14.1, where firm fixed effects with year dummies give the effect of
    a grant on the log scrap rate: -0.252 (se 0.151) in the year of the grant and -0.422 (se 0.210) a year
    later, from 162 observations on 54 firms.  The package's tests reproduce these numbers from this frame.

    The data are read from ``linearmodels.datasets.jobtraining`` (installed with linearmodels).

    References
    ----------
    Holzer, H. J., Block, R. N., Cheatham, M. and Knott, J. H. (1993). Are training subsidies for firms
    effective? The Michigan experience. *Industrial and Labor Relations Review* 46(4), 625-636.

    Wooldridge, J. M. *Introductory Econometrics: A Modern Approach*, Example 14.1 (data set JTRAIN).

    Examples
    --------
    >>> from ipf_eval.datasets import michigan_training_grants
    >>> df = michigan_training_grants()
    >>> df.groupby("first_support_year")["firm_id"].nunique().to_dict()
    {0: 91, 1988: 36, 1989: 30}
    """
    from linearmodels.datasets import jobtraining

    raw = jobtraining.load()
    missing = sorted(set(_RENAME) - set(raw.columns))
    if missing:
        raise DataError(
            f"michigan_training_grants: linearmodels.datasets.jobtraining lacks columns {missing!r}; "
            "install a linearmodels release that ships the Holzer et al. (1993) data (linearmodels >= 6.1)."
        )
    data = raw[list(_RENAME)].rename(columns=_RENAME).copy()
    data["firm_id"] = data["firm_id"].astype("int64")
    data["year"] = data["year"].astype("int64")
    grant_years = data.loc[data["grant"] == 1].groupby("firm_id")["year"].min()
    data["first_support_year"] = data["firm_id"].map(grant_years).fillna(0).astype("int64")
    cols = ["firm_id", "year", "first_support_year"] + [
        c for c in data.columns if c not in ("firm_id", "year")
    ]
    cols = list(dict.fromkeys(cols))
    return data[cols].sort_values(["firm_id", "year"], ignore_index=True)
