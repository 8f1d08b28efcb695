//! Signal analysis and segment pruning: which segments, events and traits
//! go with conversion, and which segments are too small to test or nearly
//! the same as another.
//!
//! Input: a population of profiles numbered `0..population`, the sorted
//! indices of those who converted (at any time in a window the caller
//! chooses), and candidate [`Signal`]s, each the sorted indices of the
//! profiles that show it. Each signal's profiles are compared with the rest
//! of the population:
//!
//! - coverage (share of the population with the signal) and the conversion
//!   rate with and without it;
//! - the difference of the rates with Newcombe's hybrid score interval
//!   (Newcombe 1998, Statistics in Medicine 17, method 10), the ratio with
//!   / without with the Katz log interval (Katz, Baptista, Azen & Pike 1978,
//!   Biometrics 34), and the pooled two-proportion z-test (Fleiss, Levin &
//!   Paik 2003, 2.5), all as [`incrementality`] with "treated" = has the
//!   signal and "holdout" = does not;
//! - the p-values adjusted across the tested signals with Holm (1979) and
//!   Benjamini & Hochberg (1995), as [`adjust_p_values`];
//! - ranked by the lower bound of the ratio interval (the signals that most
//!   surely go with more conversion first), ties by coverage.
//!
//! For signals of kind [`SignalKind::Segment`]:
//!
//! - `too_small` when the segment has fewer profiles than one arm of a test
//!   needs to detect the minimum relative lift over the population's base
//!   rate (two-sided z-test, Cohen's h, [`plan_two_proportions`]);
//! - `overlaps`: pairs whose Jaccard index |A ∩ B| / |A ∪ B| reaches a
//!   threshold, candidates for a merge. Intersections are counted by
//!   merging the sorted lists; a pair is skipped without counting when
//!   min(|A|, |B|) / max(|A|, |B|), an upper bound of the index, is below
//!   the threshold.
//!
//! A ratio here is an association, not a causal effect: profiles that show
//! a signal differ from the rest in other ways too. Only a randomized
//! holdout ([`incrementality`]) measures what an email adds. Statistics that
//! are undefined are `null`, never NaN: the rate of an empty signal, the
//! comparison of a signal that nobody or everybody shows, a ratio when
//! either side has no conversions.
//!
//! [`incrementality`]: crate::incrementality::incrementality

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::ab::{Adjustment, adjust_p_values, plan_two_proportions};
use crate::error::{InsightsError, open_unit, positive};
use crate::incrementality::{RateComparison, incrementality};

/// What a signal is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// Membership of a segment; the only kind checked for size and overlap.
    Segment,
    /// Did an event within a window.
    Event,
    /// Has a trait value.
    Trait,
}

/// A candidate signal: the profiles that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// Unique name, e.g. `vip` or `opened_email_7d`.
    pub name: String,
    /// What it is derived from.
    pub kind: SignalKind,
    /// Indices of the profiles that show it, strictly increasing, each below
    /// the population.
    pub profiles: Vec<u32>,
}

impl Signal {
    /// A signal of `kind` named `name`.
    pub fn new(name: &str, kind: SignalKind, profiles: Vec<u32>) -> Signal {
        Signal { name: name.to_string(), kind, profiles }
    }
}

/// How to analyse the signals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalOptions {
    /// Confidence level of the intervals, in (0, 1).
    pub confidence: f64,
    /// Relative lift over the base rate the size check must detect, > 0
    /// (0.10 is +10%).
    pub min_relative_lift: f64,
    /// Two-sided significance level of the size check, in (0, 1).
    pub power_alpha: f64,
    /// Power of the size check, in (0, 1).
    pub power: f64,
    /// Jaccard index from which two segments are reported as overlapping,
    /// in (0, 1].
    pub jaccard_threshold: f64,
    /// Signals covering a smaller share of the population are reported but
    /// not compared, tested or ranked; in [0, 1].
    pub min_coverage: f64,
}

impl Default for SignalOptions {
    /// 95% intervals; detect +10% at alpha 0.05 with power 0.8; overlap from
    /// a Jaccard index of 0.9; no minimum coverage.
    fn default() -> SignalOptions {
        SignalOptions {
            confidence: 0.95,
            min_relative_lift: 0.10,
            power_alpha: 0.05,
            power: 0.8,
            jaccard_threshold: 0.9,
            min_coverage: 0.0,
        }
    }
}

/// The analysis of all signals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalReport {
    /// Profiles analysed.
    pub population: u32,
    /// Of whom converted.
    pub conversions: u32,
    /// conversions / population.
    pub base_rate: f64,
    /// The options used.
    pub options: SignalOptions,
    /// Per-arm size a test needs to detect the minimum relative lift over
    /// the base rate; null when the base rate is 0 or the lifted rate
    /// would reach 1.
    pub required_segment_size: Option<u64>,
    /// Per signal, ranked (see `method`).
    pub signals: Vec<SignalStats>,
    /// Segment pairs with a Jaccard index at or above the threshold, highest
    /// first.
    pub overlaps: Vec<Overlap>,
    /// The methods and the ranking rule, in words.
    pub method: String,
}

/// One signal's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalStats {
    /// Position in the ranking, from 1.
    pub rank: usize,
    /// The signal's name.
    pub name: String,
    /// Its kind.
    pub kind: SignalKind,
    /// Profiles that show it.
    pub count: u32,
    /// count / population.
    pub coverage: f64,
    /// Of them, how many converted.
    pub conversions_with: u32,
    /// Of the others, how many converted.
    pub conversions_without: u32,
    /// conversions_with / count; null when nobody shows the signal.
    pub rate_with: Option<f64>,
    /// conversions_without / (population - count); null when everybody
    /// shows it.
    pub rate_without: Option<f64>,
    /// Coverage is below the option's minimum, so no comparison is made.
    pub below_min_coverage: bool,
    /// With against without; null when either side is empty or coverage is
    /// below the minimum.
    pub comparison: Option<RateComparison>,
    /// For segments: fewer profiles than `required_segment_size`; null for
    /// other kinds and when the required size is undefined.
    pub too_small: Option<bool>,
}

/// Two segments that nearly coincide.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    /// The segment given first.
    pub a: String,
    /// The segment given later.
    pub b: String,
    /// |A ∩ B| / |A ∪ B|.
    pub jaccard: f64,
    /// |A ∩ B|.
    pub intersection: u32,
}

/// Analyses `signals` against the profiles in `converters` among
/// `population` profiles (see the module documentation). Errors when the
/// population is 0, an index list is not strictly increasing or names a
/// profile not below the population, two signals share a name, or an
/// option is out of its domain.
pub fn analyze_signals(
    population: u32,
    converters: &[u32],
    signals: &[Signal],
    options: &SignalOptions,
) -> Result<SignalReport, InsightsError> {
    check_options(options)?;
    if population == 0 {
        return Err(InsightsError::Empty { what: "population".to_string() });
    }
    check_profiles("converting profiles", converters, population)?;
    for (i, s) in signals.iter().enumerate() {
        check_profiles(&format!("signal {:?}", s.name), &s.profiles, population)?;
        if signals[..i].iter().any(|t| t.name == s.name) {
            return Err(InsightsError::DuplicateSignal(s.name.clone()));
        }
    }
    let alpha = 1.0 - options.confidence;
    let n = population as f64;
    let conversions = converters.len() as u32;
    let base_rate = f64::from(conversions) / n;
    let required = required_segment_size(base_rate, options)?;
    let converted = Bitset::new(converters);

    let mut stats = Vec::with_capacity(signals.len());
    for s in signals {
        let count = s.profiles.len() as u32;
        let rest = population - count;
        let with = s.profiles.iter().filter(|&&p| converted.contains(p)).count() as u32;
        let without = conversions - with;
        let coverage = f64::from(count) / n;
        let below_min_coverage = coverage < options.min_coverage;
        let comparison = if count > 0 && rest > 0 && !below_min_coverage {
            Some(
                incrementality(u64::from(with), u64::from(count), u64::from(without), u64::from(rest), alpha)?
                    .for_signals(),
            )
        } else {
            None
        };
        stats.push(SignalStats {
            rank: 0,
            name: s.name.clone(),
            kind: s.kind,
            count,
            coverage,
            conversions_with: with,
            conversions_without: without,
            rate_with: (count > 0).then(|| f64::from(with) / f64::from(count)),
            rate_without: (rest > 0).then(|| f64::from(without) / f64::from(rest)),
            below_min_coverage,
            comparison,
            too_small: match (s.kind, required) {
                (SignalKind::Segment, Some(r)) => Some(u64::from(count) < r),
                _ => None,
            },
        });
    }

    let tested: Vec<usize> = (0..stats.len()).filter(|&i| stats[i].comparison.is_some()).collect();
    let p: Vec<f64> = tested.iter().filter_map(|&i| stats[i].comparison.map(|c| c.p)).collect();
    let holm = adjust_p_values(&p, Adjustment::Holm)?;
    let bh = adjust_p_values(&p, Adjustment::BenjaminiHochberg)?;
    for (k, &i) in tested.iter().enumerate() {
        if let Some(c) = stats[i].comparison.as_mut() {
            c.p_holm = holm[k];
            c.p_bh = bh[k];
        }
    }

    // sort_by is stable: equal keys keep the input order
    stats.sort_by(rank_order);
    for (i, s) in stats.iter_mut().enumerate() {
        s.rank = i + 1;
    }

    let overlaps = segment_overlaps(signals, options.jaccard_threshold);
    let method = method_text(options, tested.len(), required);
    Ok(SignalReport {
        population,
        conversions,
        base_rate,
        options: *options,
        required_segment_size: required,
        signals: stats,
        overlaps,
        method,
    })
}

/// Number of profiles in both sorted, duplicate-free lists, by merging them.
pub fn intersection_len(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Jaccard index |A ∩ B| / |A ∪ B| of two sorted, duplicate-free lists;
/// `None` when both are empty.
pub fn jaccard(a: &[u32], b: &[u32]) -> Option<f64> {
    let inter = intersection_len(a, b);
    let union = a.len() + b.len() - inter;
    (union > 0).then(|| inter as f64 / union as f64)
}

/// Higher ratio lower bound first, signals without one last; then larger
/// coverage.
fn rank_order(x: &SignalStats, y: &SignalStats) -> Ordering {
    let low = |s: &SignalStats| s.comparison.and_then(|c| c.ratio_ci_low);
    match (low(x), low(y)) {
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then(y.count.cmp(&x.count))
}

fn segment_overlaps(signals: &[Signal], threshold: f64) -> Vec<Overlap> {
    let segments: Vec<&Signal> = signals.iter().filter(|s| s.kind == SignalKind::Segment).collect();
    let mut out = Vec::new();
    for (i, a) in segments.iter().enumerate() {
        for b in &segments[i + 1..] {
            let (la, lb) = (a.profiles.len(), b.profiles.len());
            let (small, large) = (la.min(lb), la.max(lb));
            // J <= small / large, and both divisions round the same way, so
            // the skip never drops a pair that would pass
            if small == 0 || (small as f64 / large as f64) < threshold {
                continue;
            }
            let inter = intersection_len(&a.profiles, &b.profiles);
            let j = inter as f64 / (la + lb - inter) as f64;
            if j >= threshold {
                out.push(Overlap { a: a.name.clone(), b: b.name.clone(), jaccard: j, intersection: inter as u32 });
            }
        }
    }
    out.sort_by(|x, y| y.jaccard.total_cmp(&x.jaccard));
    out
}

fn required_segment_size(base_rate: f64, o: &SignalOptions) -> Result<Option<u64>, InsightsError> {
    let target = base_rate * (1.0 + o.min_relative_lift);
    if base_rate > 0.0 && target < 1.0 {
        Ok(Some(plan_two_proportions(base_rate, target, o.power_alpha, o.power, 1.0)?.n_control))
    } else {
        Ok(None)
    }
}

fn check_options(o: &SignalOptions) -> Result<(), InsightsError> {
    open_unit("confidence", o.confidence)?;
    positive("min_relative_lift", o.min_relative_lift)?;
    open_unit("power_alpha", o.power_alpha)?;
    open_unit("power", o.power)?;
    if !(o.jaccard_threshold > 0.0 && o.jaccard_threshold <= 1.0) {
        return Err(InsightsError::InvalidParameter {
            name: "jaccard_threshold",
            value: o.jaccard_threshold,
            expected: "in (0, 1]",
        });
    }
    if !(0.0..=1.0).contains(&o.min_coverage) {
        return Err(InsightsError::InvalidParameter {
            name: "min_coverage",
            value: o.min_coverage,
            expected: "in [0, 1]",
        });
    }
    Ok(())
}

fn check_profiles(what: &str, profiles: &[u32], population: u32) -> Result<(), InsightsError> {
    if let Some(i) = profiles.windows(2).position(|w| w[0] >= w[1]) {
        return Err(InsightsError::NotSortedUnique { what: what.to_string(), position: i + 1 });
    }
    match profiles.last() {
        Some(&last) if last >= population => {
            Err(InsightsError::ProfileOutOfRange { what: what.to_string(), profile: last, population })
        }
        _ => Ok(()),
    }
}

/// Membership of the converting profiles, one bit each, sized to the
/// largest index.
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(sorted: &[u32]) -> Bitset {
        let words = sorted.last().map_or(0, |&m| m as usize / 64 + 1);
        let mut bits = vec![0u64; words];
        for &p in sorted {
            bits[p as usize / 64] |= 1 << (p % 64);
        }
        Bitset(bits)
    }

    fn contains(&self, p: u32) -> bool {
        self.0.get(p as usize / 64).is_some_and(|w| w & (1 << (p % 64)) != 0)
    }
}

fn method_text(o: &SignalOptions, tested: usize, required: Option<u64>) -> String {
    let size = match required {
        Some(n) => format!("{n} profiles"),
        None => "undefined here (base rate 0, or the lifted rate would reach 1), so no segment is flagged".to_string(),
    };
    format!(
        "Conversion means the profile converted at any time in the window the caller analysed. Each signal's \
         profiles are compared with the rest of the population: difference of conversion rates with the Newcombe \
         hybrid score interval (Newcombe 1998, method 10); ratio of the rates, with / without, with the Katz log \
         interval (Katz et al. 1978), null when either side has no conversions; pooled two-proportion z-test, \
         two-sided. Intervals are {conf}%. P-values are adjusted across the {tested} compared signals with Holm \
         (1979) and Benjamini-Hochberg (1995); signals nobody or everybody shows, or below the minimum coverage of \
         {cov}, are not compared. Ranking: by the lower bound of the ratio interval, highest first (signals without \
         one last), then by coverage, larger first, then input order. Segments are too small when below the per-arm \
         size a two-sided z-test needs to detect a {lift}% relative lift over the base rate at alpha {a} with power \
         {p} (Cohen's h): {size}; segment pairs with a Jaccard index of at least {j} are listed as candidates to \
         merge. A ratio above 1 is an association, not causation: profiles with a signal differ from the rest in \
         other ways too. Only a randomized holdout measures what an email adds (incrementality).",
        conf = trim(o.confidence * 100.0),
        cov = trim(o.min_coverage),
        lift = trim(o.min_relative_lift * 100.0),
        a = trim(o.power_alpha),
        p = trim(o.power),
        j = trim(o.jaccard_threshold),
    )
}

/// `x` with up to 4 decimals and no trailing zeros.
fn trim(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(name: &str, profiles: &[u32]) -> Signal {
        Signal::new(name, SignalKind::Segment, profiles.to_vec())
    }

    fn find<'a>(r: &'a SignalReport, name: &str) -> &'a SignalStats {
        r.signals.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn hand_counted_rates_coverage_and_overlap() {
        // 10 profiles, 0-3 converted (base rate 0.4).
        let signals = [
            seg("a", &[0, 1, 2, 5]),                               // 3 of 4 convert; without: 1 of 6
            seg("b", &[0, 1, 2, 5, 6]),                            // J(a, b) = 4 / 5
            seg("c", &[1, 2, 5, 6]),                               // J(b, c) = 4 / 5, J(a, c) = 3 / 5
            Signal::new("e", SignalKind::Event, vec![0, 1, 2, 5]), // same as a, not a segment
        ];
        let options = SignalOptions { jaccard_threshold: 0.8, ..SignalOptions::default() };
        let r = analyze_signals(10, &[0, 1, 2, 3], &signals, &options).unwrap();
        assert_eq!((r.conversions, r.base_rate), (4, 0.4));
        let a = find(&r, "a");
        assert_eq!((a.count, a.conversions_with, a.conversions_without), (4, 3, 1));
        assert_eq!((a.coverage, a.rate_with, a.rate_without), (0.4, Some(0.75), Some(1.0 / 6.0)));
        let c = a.comparison.unwrap();
        assert!((c.diff - (0.75 - 1.0 / 6.0)).abs() < 1e-15);
        assert!((c.ratio.unwrap() - 4.5).abs() < 1e-12);
        assert!(c.diff_ci_low < c.diff && c.diff < c.diff_ci_high);
        let cc = find(&r, "c");
        assert_eq!((cc.conversions_with, cc.rate_with, cc.rate_without), (2, Some(0.5), Some(2.0 / 6.0)));
        // required size at base 0.4 → 0.44 is in the thousands: every segment is too small
        assert!(r.required_segment_size.unwrap() > 1000);
        assert_eq!(a.too_small, Some(true));
        assert_eq!(find(&r, "e").too_small, None);
        // a-e coincide but e is an event; a-c (0.6) is below the threshold
        let pairs: Vec<(&str, &str, f64, u32)> =
            r.overlaps.iter().map(|o| (o.a.as_str(), o.b.as_str(), o.jaccard, o.intersection)).collect();
        assert_eq!(pairs, [("a", "b", 0.8, 4), ("b", "c", 0.8, 4)]);
        assert_eq!(jaccard(&[0, 1, 2, 5], &[1, 2, 5, 6]), Some(0.6));
        assert_eq!(jaccard(&[], &[]), None);
        assert_eq!(intersection_len(&[1, 3, 5, 7], &[0, 3, 4, 7, 9]), 2);
        assert!(r.method.contains("association, not causation") && r.method.contains("95%"));
    }

    #[test]
    fn size_ratio_skip_keeps_exact_threshold() {
        // |a| = 9, |b| = 10, b ⊃ a: J = 0.9 = min / max exactly.
        let a: Vec<u32> = (0..9).collect();
        let b: Vec<u32> = (0..10).collect();
        let r = analyze_signals(20, &[], &[seg("a", &a), seg("b", &b)], &SignalOptions::default()).unwrap();
        assert_eq!(r.overlaps.len(), 1);
        assert_eq!((r.overlaps[0].jaccard, r.overlaps[0].intersection), (0.9, 9));
        let b: Vec<u32> = (0..11).collect();
        let r = analyze_signals(20, &[], &[seg("a", &a), seg("b", &b)], &SignalOptions::default()).unwrap();
        assert!(r.overlaps.is_empty());
    }

    fn all_finite(r: &SignalReport) -> bool {
        fn walk(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
                serde_json::Value::Array(a) => a.iter().all(walk),
                serde_json::Value::Object(o) => o.values().all(walk),
                _ => true,
            }
        }
        // serde_json writes NaN and infinities as null, so check the structs too
        let numbers_finite = r.signals.iter().all(|s| {
            s.coverage.is_finite()
                && s.rate_with.is_none_or(f64::is_finite)
                && s.rate_without.is_none_or(f64::is_finite)
                && s.comparison.is_none_or(|c| {
                    [c.diff, c.diff_ci_low, c.diff_ci_high, c.z, c.p, c.p_holm, c.p_bh].iter().all(|x| x.is_finite())
                        && [c.ratio, c.ratio_ci_low, c.ratio_ci_high].iter().all(|x| x.is_none_or(f64::is_finite))
                })
        });
        numbers_finite && r.base_rate.is_finite() && walk(&serde_json::to_value(r).unwrap())
    }

    #[test]
    fn empty_and_universal_signals_have_no_comparison() {
        let everyone: Vec<u32> = (0..10).collect();
        let signals = [seg("empty", &[]), seg("everyone", &everyone), seg("half", &[0, 1, 2, 3, 4])];
        let r = analyze_signals(10, &[0, 5], &signals, &SignalOptions::default()).unwrap();
        let e = find(&r, "empty");
        assert_eq!((e.count, e.coverage, e.rate_with, e.rate_without), (0, 0.0, None, Some(0.2)));
        assert!(e.comparison.is_none() && e.too_small == Some(true));
        let all = find(&r, "everyone");
        assert_eq!((all.coverage, all.rate_with, all.rate_without), (1.0, Some(0.2), None));
        assert!(all.comparison.is_none());
        // only "half" is compared, so the adjustments leave its p alone
        let c = find(&r, "half").comparison.unwrap();
        assert_eq!((c.p_holm, c.p_bh), (c.p, c.p));
        assert_eq!(r.signals[0].name, "half");
        assert!(r.method.contains("across the 1 compared"));
        assert!(all_finite(&r));
    }

    #[test]
    fn no_conversions_or_all_conversions_give_no_nan() {
        let signals = [seg("a", &[0, 1, 2]), Signal::new("t", SignalKind::Trait, vec![3, 4, 5, 6])];
        let r = analyze_signals(8, &[], &signals, &SignalOptions::default()).unwrap();
        assert_eq!((r.base_rate, r.required_segment_size), (0.0, None));
        let a = find(&r, "a");
        assert_eq!((a.rate_with, a.rate_without, a.too_small), (Some(0.0), Some(0.0), None));
        let c = a.comparison.unwrap();
        assert_eq!((c.diff, c.ratio, c.z, c.p, c.p_holm, c.p_bh), (0.0, None, 0.0, 1.0, 1.0, 1.0));
        assert!(c.diff_ci_low < 0.0 && c.diff_ci_high > 0.0);
        assert!(all_finite(&r));
        assert!(r.method.contains("undefined here"));

        let everyone: Vec<u32> = (0..8).collect();
        let r = analyze_signals(8, &everyone, &signals, &SignalOptions::default()).unwrap();
        assert_eq!((r.base_rate, r.required_segment_size), (1.0, None));
        let c = find(&r, "a").comparison.unwrap();
        assert_eq!((c.ratio, c.ratio_ci_low, c.ratio_ci_high, c.p), (Some(1.0), Some(1.0), Some(1.0), 1.0));
        assert!(all_finite(&r));
        assert!(analyze_signals(8, &[], &[], &SignalOptions::default()).unwrap().signals.is_empty());
    }

    #[test]
    fn invalid_input_is_an_error() {
        let o = SignalOptions::default();
        assert_eq!(
            analyze_signals(5, &[1, 5], &[], &o),
            Err(InsightsError::ProfileOutOfRange { what: "converting profiles".into(), profile: 5, population: 5 })
        );
        assert_eq!(
            analyze_signals(5, &[0], &[seg("x", &[0, 2, 2])], &o),
            Err(InsightsError::NotSortedUnique { what: "signal \"x\"".into(), position: 2 })
        );
        assert_eq!(
            analyze_signals(5, &[3, 1], &[], &o),
            Err(InsightsError::NotSortedUnique { what: "converting profiles".into(), position: 1 })
        );
        assert!(matches!(
            analyze_signals(5, &[], &[seg("x", &[4, 9])], &o),
            Err(InsightsError::ProfileOutOfRange { profile: 9, .. })
        ));
        assert_eq!(
            analyze_signals(5, &[], &[seg("x", &[1]), seg("x", &[2])], &o),
            Err(InsightsError::DuplicateSignal("x".into()))
        );
        assert!(matches!(analyze_signals(0, &[], &[], &o), Err(InsightsError::Empty { .. })));
        for bad in [
            SignalOptions { confidence: 1.0, ..o },
            SignalOptions { confidence: f64::NAN, ..o },
            SignalOptions { min_relative_lift: 0.0, ..o },
            SignalOptions { power: 1.0, ..o },
            SignalOptions { power_alpha: 0.0, ..o },
            SignalOptions { jaccard_threshold: 0.0, ..o },
            SignalOptions { jaccard_threshold: 1.5, ..o },
            SignalOptions { min_coverage: -0.1, ..o },
            SignalOptions { min_coverage: f64::NAN, ..o },
        ] {
            assert!(
                matches!(analyze_signals(5, &[], &[], &bad), Err(InsightsError::InvalidParameter { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ranking_by_ratio_lower_bound_then_coverage() {
        // 100 profiles, 0-19 converted (base rate 0.2).
        let range = |a: u32, b: u32| (a..b).collect::<Vec<u32>>();
        let signals = [
            seg("none_small", &range(40, 50)),                      // 0 of 10: no ratio
            seg("weak", &[range(0, 10), range(50, 90)].concat()),   // 10 of 50 vs 10 of 50: ratio 1
            Signal::new("strong", SignalKind::Event, range(0, 10)), // 10 of 10 vs 10 of 90: ratio 9
            seg("none_large", &range(30, 90)),                      // 0 of 60: no ratio
            Signal::new("good", SignalKind::Trait, range(5, 45)),   // 15 of 40 vs 5 of 60: ratio 4.5
            seg("tiny", &[range(0, 1), range(95, 99)].concat()),    // below min coverage
        ];
        let options = SignalOptions { min_coverage: 0.06, ..SignalOptions::default() };
        let r = analyze_signals(100, &range(0, 20), &signals, &options).unwrap();
        let order: Vec<&str> = r.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order, ["strong", "good", "weak", "none_large", "none_small", "tiny"]);
        assert_eq!(r.signals.iter().map(|s| s.rank).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
        let low = |i: usize| r.signals[i].comparison.unwrap().ratio_ci_low.unwrap();
        assert!(low(0) > low(1) && low(1) > low(2));
        assert!((r.signals[1].comparison.unwrap().ratio.unwrap() - 4.5).abs() < 1e-12);
        let tiny = find(&r, "tiny");
        assert!(tiny.below_min_coverage && tiny.comparison.is_none() && tiny.rate_with == Some(0.2));
        // five compared signals: Holm multiplies the smallest p by 5
        let strong = r.signals[0].comparison.unwrap();
        assert!((strong.p_holm - (strong.p * 5.0).min(1.0)).abs() < 1e-15);
        assert!(r.method.contains("across the 5 compared"));
    }
}
