#!/usr/bin/env python3
"""The Hillstrom email test analysed with numpy and scipy, independently of Tidings.

usage: hillstrom_scipy.py [CSV] [OUT_JSON]

Reads the MineThatData E-Mail Analytics challenge data (64,000 customers
randomly assigned to "Mens E-Mail", "Womens E-Mail" or "No E-Mail", with their
visit, conversion and spend in the two weeks after) and writes the numbers
`tidings_insights::outcomes` reports, in the same JSON shape (without the
method texts), to crates/insights/tests/fixtures/hillstrom_scipy.json. The
integration test `hillstrom` checks every number against it.

Needs `pip install numpy scipy`. Each statistic comes from scipy where scipy
has it; the rest are written out from their published definitions:

- rates: the Wilson interval from `scipy.stats.binomtest(...).proportion_ci`;
  the pooled two-proportion z-test as the square root of
  `scipy.stats.chi2_contingency(..., correction=False)` (chi-square = z^2 on a
  2x2 table), signed by the difference; Newcombe's hybrid score interval of the
  difference (Newcombe 1998, method 10) from those Wilson intervals; the Katz
  log interval of the ratio (Katz et al. 1978).
- revenue per recipient: mean and `std(ddof=1)` from numpy; its t interval
  from `scipy.stats.ttest_1samp(...).confidence_interval`; Welch's t, df,
  p-value and the interval of the difference from
  `scipy.stats.ttest_ind(..., equal_var=False)`; the ratio's delta-method log
  interval exp(ln r +- z sqrt(s_t^2/(n_t m_t^2) + s_c^2/(n_c m_c^2))).
- the sample-ratio check: `scipy.stats.chisquare` of the arm sizes (equal
  split); the omnibus test: `scipy.stats.chi2_contingency` of arms x (did,
  did not), no correction.
- Holm's step-down adjustment across the treatment arms, per metric and
  population (Holm 1979).
"""
import csv
import json
import math
import os
import sys

import numpy as np
import scipy
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shared_data import shared  # noqa: E402
CSV = sys.argv[1] if len(sys.argv) > 1 else shared("data", "hillstrom", "hillstrom.csv")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "crates", "insights", "tests", "fixtures", "hillstrom_scipy.json")

CONTROL = "No E-Mail"
BY = ["history_segment", "zip_code", "channel", "mens", "womens", "newbie"]
CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
Z = stats.norm.ppf(1.0 - ALPHA / 2.0)


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    cols["visit"] = cols["visit"].astype(int) == 1
    cols["conversion"] = cols["conversion"].astype(int) == 1
    cols["spend"] = cols["spend"].astype(float)
    return cols


def wilson(k, n):
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def rate_estimate(flags):
    k, n = int(flags.sum()), len(flags)
    low, high = wilson(k, n)
    return {"count": k, "rate": k / n, "ci_low": low, "ci_high": high}


def mean_estimate(x):
    n = len(x)
    out = {"total": float(x.sum()), "mean": float(x.mean()), "sd": None, "ci_low": None, "ci_high": None}
    if n > 1:
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(CONFIDENCE)
        out.update(sd=float(x.std(ddof=1)), ci_low=float(ci.low), ci_high=float(ci.high))
    return out


def chi2_table(table):
    try:
        res = stats.chi2_contingency(np.array(table), correction=False)
    except ValueError:  # a zero row or column
        return None
    return {"chi2": float(res.statistic), "dof": int(res.dof), "p": float(res.pvalue)}


def compare_rates(ft, fc):
    ct, nt = int(ft.sum()), len(ft)
    cc, nc = int(fc.sum()), len(fc)
    pt, pc = ct / nt, cc / nc
    diff = pt - pc
    lt, ut = wilson(ct, nt)
    lc, uc = wilson(cc, nc)
    low = diff - math.sqrt((pt - lt) ** 2 + (uc - pc) ** 2)
    high = diff + math.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)
    ratio = ratio_low = ratio_high = None
    if ct > 0 and cc > 0:
        ratio = pt / pc
        se = math.sqrt(max(1 / ct - 1 / nt + 1 / cc - 1 / nc, 0.0))
        ratio_low, ratio_high = math.exp(math.log(ratio) - Z * se), math.exp(math.log(ratio) + Z * se)
    test = chi2_table([[ct, nt - ct], [cc, nc - cc]])
    if test is None:
        z, p = 0.0, 1.0
    else:
        z, p = math.copysign(math.sqrt(test["chi2"]), diff), test["p"]
    return {
        "diff": diff,
        "diff_ci_low": max(low, -1.0),
        "diff_ci_high": min(high, 1.0),
        "ratio": ratio,
        "ratio_ci_low": ratio_low,
        "ratio_ci_high": ratio_high,
        "z": z,
        "p": p,
        "p_holm": None,
        "incremental": diff * nt,
    }


def compare_means(xt, xc):
    mt, mc = float(xt.mean()), float(xc.mean())
    nt, nc = len(xt), len(xc)
    diff = mt - mc
    out = {
        "diff": diff,
        "diff_ci_low": None,
        "diff_ci_high": None,
        "ratio": mt / mc if mc > 0 else None,
        "ratio_ci_low": None,
        "ratio_ci_high": None,
        "t": None,
        "df": None,
        "p": None,
        "p_holm": None,
        "incremental": diff * nt,
    }
    if nt > 1 and nc > 1:
        res = stats.ttest_ind(xt, xc, equal_var=False)
        ci = res.confidence_interval(CONFIDENCE)
        out.update(
            t=float(res.statistic), df=float(res.df), p=float(res.pvalue), diff_ci_low=float(ci.low), diff_ci_high=float(ci.high)
        )
        if mt > 0 and mc > 0:
            vt, vc = xt.var(ddof=1), xc.var(ddof=1)
            se = math.sqrt(vt / (nt * mt * mt) + vc / (nc * mc * mc))
            r = math.log(mt / mc)
            out.update(ratio_ci_low=math.exp(r - Z * se), ratio_ci_high=math.exp(r + Z * se))
    return out


def holm(ps):
    """Holm's step-down adjustment of the defined p-values (None stays None)."""
    idx = [i for i, p in enumerate(ps) if p is not None]
    m = len(idx)
    out = [None] * len(ps)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: ps[i])):
        running = max(running, ps[i] * (m - rank))
        out[i] = min(running, 1.0)
    return out


def population(cols, mask, arms):
    seg = cols["segment"][mask]
    visit, conv, spend = cols["visit"][mask], cols["conversion"][mask], cols["spend"][mask]
    sel = {a: seg == a for a in arms}
    sizes = [int(sel[a].sum()) for a in arms]
    if min(sizes) == 0:
        return None
    srm = stats.chisquare(sizes)
    out = {
        "n": int(mask.sum()),
        "srm": {"chi2": float(srm.statistic), "dof": len(arms) - 1, "p": float(srm.pvalue)},
        "arms": [
            {
                "arm": a,
                "n": int(sel[a].sum()),
                "visit": rate_estimate(visit[sel[a]]),
                "conversion": rate_estimate(conv[sel[a]]),
                "revenue": mean_estimate(spend[sel[a]]),
            }
            for a in arms
        ],
        "omnibus": {
            "visit": chi2_table([[int(visit[sel[a]].sum()), int((~visit[sel[a]]).sum())] for a in arms]),
            "conversion": chi2_table([[int(conv[sel[a]].sum()), int((~conv[sel[a]]).sum())] for a in arms]),
        },
        "comparisons": [],
    }
    c = sel[arms[0]]
    for a in arms[1:]:
        t = sel[a]
        out["comparisons"].append(
            {
                "arm": a,
                "visit": compare_rates(visit[t], visit[c]),
                "conversion": compare_rates(conv[t], conv[c]),
                "revenue": compare_means(spend[t], spend[c]),
            }
        )
    for metric in ("visit", "conversion", "revenue"):
        adjusted = holm([cmp[metric]["p"] for cmp in out["comparisons"]])
        for cmp, p in zip(out["comparisons"], adjusted):
            cmp[metric]["p_holm"] = p
    return out


def value_order(values):
    def num(v):
        try:
            x = float(v)
        except ValueError:
            return None
        return x if math.isfinite(x) else None

    values = sorted(values)
    if all(num(v) is not None for v in values):
        values.sort(key=num)  # stable: ties keep the lexicographic order
    return values


def main():
    cols = load(CSV)
    arms = [CONTROL] + sorted(set(cols["segment"].tolist()) - {CONTROL})
    everyone = np.ones(len(cols["segment"]), dtype=bool)
    report = {
        "_generated": {
            "by": "scripts/hillstrom_scipy.py",
            "data": "shared/data/hillstrom/hillstrom.csv",
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "experiment": "hillstrom",
        "control": CONTROL,
        "confidence": CONFIDENCE,
        "overall": population(cols, everyone, arms),
        "breakdowns": [],
    }
    for attribute in BY:
        groups = []
        for value in value_order(set(cols[attribute].tolist())):
            pop = population(cols, cols[attribute] == value, arms)
            assert pop is not None, (attribute, value)
            groups.append({"value": value, **pop})
        report["breakdowns"].append({"attribute": attribute, "missing": 0, "groups": groups})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(report, f, indent=1, allow_nan=False)
        f.write("\n")
    o = report["overall"]
    for a in o["arms"]:
        print(f'{a["arm"]:14} n={a["n"]:6} visit={a["visit"]["rate"]:.4f} conversion={a["conversion"]["rate"]:.5f} '
              f'revenue/recipient={a["revenue"]["mean"]:.4f}')
    for c in o["comparisons"]:
        print(f'{c["arm"]:14} visit diff={c["visit"]["diff"]:+.4f} p={c["visit"]["p"]:.3g}  '
              f'revenue diff={c["revenue"]["diff"]:+.4f} p={c["revenue"]["p"]:.3g}')
    print("wrote", os.path.relpath(OUT))


if __name__ == "__main__":
    main()
