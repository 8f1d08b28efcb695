#!/usr/bin/env python3
"""Reference numbers for crates/insights/tests/integration/signals.rs.

Builds the same profiles, conversions and signals as the test and prints,
per signal, the pooled two-proportion z-test, the Newcombe interval of the
difference and the Katz log interval of the ratio (statsmodels), the Holm
and Benjamini-Hochberg adjusted p-values, the per-arm size NormalIndPower
needs for +10% over the base rate, and a Jaccard index.

    python3 -m pip install scipy statsmodels
    python3 scripts/signals_reference.py
"""

import math

from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest


def required(base):
    h = proportion_effectsize(base * 1.1, base)
    return NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)


N = 2000
conv = set(range(0, 60)) | set(range(300, 470))
signals = {
    "vip": set(range(0, 300)),
    "opened_7d": set(range(200, 700)),
    "country_fr": set(range(1000, 1400)),
    "vip_lookalike": set(range(10, 300)) | {1999},
    "recent_buyers": set(range(40, 1040)),
}
ps = []
for name, s in signals.items():
    c1, n1 = len(s & conv), len(s)
    c2, n2 = len(conv) - c1, N - n1
    z, p = proportions_ztest([c1, c2], [n1, n2])  # pooled, two-sided
    lo, hi = confint_proportions_2indep(c1, n1, c2, n2, method="newcomb", compare="diff", alpha=0.05)
    print(f"{name}: with {c1}/{n1}, without {c2}/{n2}")
    print(f"  z {float(z)!r}, p {float(p)!r}, diff ci ({float(lo)!r}, {float(hi)!r})")
    if c1 > 0 and c2 > 0:
        lo, hi = confint_proportions_2indep(c1, n1, c2, n2, method="log", compare="ratio", alpha=0.05)
        print(f"  ratio {(c1 / n1) / (c2 / n2)!r}, ratio ci ({float(lo)!r}, {float(hi)!r})")
    ps.append(float(p))
holm = multipletests(ps, method="holm")[1]
bh = multipletests(ps, method="fdr_bh")[1]
for name, h, b in zip(signals, holm, bh):
    print(f"{name}: holm {float(h)!r}, bh {float(b)!r}")
n = required(len(conv) / N)
print(f"base {len(conv) / N!r}: required {n!r}, rounded up {math.ceil(n)}")
a, b = signals["vip"], signals["vip_lookalike"]
print(f"jaccard(vip, vip_lookalike) {len(a & b) / len(a | b)!r}, intersection {len(a & b)}")

# Second case: 30000 profiles, every 8th converted (base 0.125).
n = required(0.125)
print(f"base 0.125: required {n!r}, rounded up {math.ceil(n)}")
