//! The Hillstrom email test (MineThatData E-Mail Analytics challenge: 64,000
//! customers randomly sent a men's email, a women's email or nothing, with
//! their visits, conversions and spend in the two weeks after) analysed by
//! [`analyze_outcomes`] straight from `shared/data/hillstrom/hillstrom.csv`,
//! against `tests/fixtures/hillstrom_scipy.json`, written by
//! `scripts/hillstrom_scipy.py` with numpy and scipy.
//!
//! Every number of the fixture is compared, and every number of the report
//! must be in the fixture: counts exactly; p-values and interval bounds (keys
//! `p`, `p_holm` and those containing `ci_`) to 1e-8 relative; everything
//! else (rates, means, totals, standard deviations, differences, ratios,
//! incremental counts, z, t, df, chi-square) to 1e-9 relative. A value the
//! fixture has as 0 must be within 1e-12 of it.

use std::collections::BTreeMap;

use serde_json::Value;
use tidings_insights::outcomes::{Outcome, OutcomeOptions, analyze_outcomes};

use crate::support::shared;

const BY: [&str; 6] = ["history_segment", "zip_code", "channel", "mens", "womens", "newbie"];
const TRAITS: [&str; 8] = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"];
const EXACT: [&str; 4] = ["n", "count", "dof", "missing"];
const REL_ESTIMATE: f64 = 1e-9;
const REL_TAIL: f64 = 1e-8;

/// The fields of one CSV line, with RFC 4180 quoting (`"6) $750 - $1,000"`).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            _ => out.last_mut().unwrap().push(c),
        }
    }
    out
}

fn hillstrom() -> Vec<Outcome> {
    let text = std::fs::read_to_string(shared("data/hillstrom/hillstrom.csv")).unwrap();
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (segment, visit, conversion, spend) = (col("segment"), col("visit"), col("conversion"), col("spend"));
    let traits: Vec<(&str, usize)> = TRAITS.iter().map(|t| (*t, col(t))).collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f = fields(line);
            assert_eq!(f.len(), header.len(), "{line}");
            Outcome {
                arm: f[segment].clone(),
                attributes: traits.iter().map(|(t, i)| (t.to_string(), f[*i].clone())).collect::<BTreeMap<_, _>>(),
                visited: f[visit] == "1",
                converted: f[conversion] == "1",
                revenue: f[spend].parse().unwrap(),
            }
        })
        .collect()
}

/// Largest relative errors seen, per class, and numbers compared.
#[derive(Default, Debug)]
struct Checked {
    numbers: usize,
    worst_estimate: (f64, String),
    worst_tail: (f64, String),
}

fn tail_key(key: &str) -> bool {
    key == "p" || key == "p_holm" || key.contains("ci_")
}

fn compare(got: &Value, want: &Value, path: &str, key: &str, checked: &mut Checked) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                if k.starts_with('_') {
                    continue;
                }
                let gv = g.get(k).unwrap_or_else(|| panic!("{path}.{k}: missing from the report"));
                compare(gv, wv, &format!("{path}.{k}"), k, checked);
            }
            for (k, gv) in g {
                // the method texts are Tidings' own; every number must be checked
                if k != "method" && k != "methods" && !w.contains_key(k) {
                    panic!("{path}.{k} = {gv}: not in the fixture");
                }
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: length");
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                compare(gv, wv, &format!("{path}[{i}]"), key, checked);
            }
        }
        (Value::Number(g), Value::Number(w)) => {
            checked.numbers += 1;
            if EXACT.contains(&key) {
                assert_eq!(g.as_u64(), w.as_u64(), "{path}");
                return;
            }
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            if w == 0.0 {
                assert!(g.abs() <= 1e-12, "{path}: got {g}, expected 0");
                return;
            }
            let err = ((g - w) / w).abs();
            let (tol, worst) = if tail_key(key) {
                (REL_TAIL, &mut checked.worst_tail)
            } else {
                (REL_ESTIMATE, &mut checked.worst_estimate)
            };
            assert!(err <= tol, "{path}: got {g}, expected {w} (relative error {err:e} > {tol:e})");
            if err > worst.0 {
                *worst = (err, path.to_string());
            }
        }
        (g, w) => assert_eq!(g, w, "{path}"),
    }
}

#[test]
fn hillstrom_matches_scipy() {
    let outcomes = hillstrom();
    assert_eq!(outcomes.len(), 64_000);
    let report = analyze_outcomes(&outcomes, &OutcomeOptions::new("hillstrom", "No E-Mail").by(&BY)).unwrap();
    let got = serde_json::to_value(&report).unwrap();
    let path = format!("{}/tests/fixtures/hillstrom_scipy.json", env!("CARGO_MANIFEST_DIR"));
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut checked = Checked::default();
    compare(&got, &want, "report", "", &mut checked);
    println!("{checked:?}");
    assert!(checked.numbers > 2_000, "{checked:?}");

    // The published picture: both emails lift visits, conversions and
    // revenue over no email; the men's email most.
    let o = &report.overall;
    assert_eq!(o.arms.iter().map(|a| a.n).collect::<Vec<_>>(), [21_306, 21_307, 21_387]);
    assert!(o.srm.p > 0.5);
    for c in &o.comparisons {
        assert!(c.visit.diff_ci_low > 0.0 && c.visit.p_holm < 1e-40, "{}", c.arm);
        assert!(c.conversion.diff_ci_low > 0.0 && c.revenue.diff_ci_low.unwrap() > 0.0, "{}", c.arm);
    }
    assert!(o.comparisons[0].arm == "Mens E-Mail" && o.comparisons[0].revenue.diff > o.comparisons[1].revenue.diff);
    let groups: Vec<usize> = report.breakdowns.iter().map(|b| b.groups.len()).collect();
    assert_eq!(groups, [7, 3, 3, 2, 2, 2]);

    let text = report.to_string();
    println!("{text}");
    for needle in ["Experiment hillstrom: 64,000 recipients", "lift over No E-Mail", "By history_segment", "By womens"]
    {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}
