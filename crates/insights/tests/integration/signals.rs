//! Signal analysis against statsmodels: two fixed examples whose profiles,
//! conversions and signals are built the same way here and in
//! `scripts/signals_reference.py`. The constants below were printed by
//!
//! ```text
//! python3 -m pip install scipy statsmodels   # scipy 1.17.1, statsmodels 0.15.0
//! python3 scripts/signals_reference.py
//! ```
//!
//! with `proportions_ztest` (pooled), `confint_proportions_2indep`
//! (`method="newcomb"` for the difference, `method="log"` for the ratio),
//! `multipletests` (`holm`, `fdr_bh`) and `NormalIndPower.solve_power` on
//! `proportion_effectsize`.

use tidings_insights::signals::{Signal, SignalKind, SignalOptions, SignalReport, SignalStats, analyze_signals};

use crate::support::rel_close;

const REL: f64 = 1e-9;

fn range(a: u32, b: u32) -> Vec<u32> {
    (a..b).collect()
}

fn find<'a>(r: &'a SignalReport, name: &str) -> &'a SignalStats {
    r.signals.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no signal {name}"))
}

/// name, (with, count), (without, rest), z, p, diff ci, ratio and its ci, p holm, p bh
type Expected = (&'static str, (u32, u32), (u32, u32), f64, f64, (f64, f64), Option<(f64, f64, f64)>, f64, f64);

const EXPECTED: [Expected; 5] = [
    (
        "vip",
        (60, 300),
        (170, 1700),
        5.005523846280392,
        5.571031520429411e-07,
        (0.05595980233405993, 0.15072311866408328),
        Some((2.0, 1.5305797003408887, 2.613388900368354)),
        1.1142063040858822e-06,
        6.963789400536763e-07,
    ),
    (
        "opened_7d",
        (170, 500),
        (60, 1500),
        18.21026782037827,
        4.2784882316052674e-74,
        (0.25832018039038296, 0.34350002694612447),
        Some((8.5, 6.44756047663813, 11.205788648557572)),
        2.1392441158026336e-73,
        2.1392441158026336e-73,
    ),
    (
        "country_fr",
        (0, 400),
        (230, 1600),
        -8.06050565488477,
        7.597949783238914e-16,
        (-0.16179451641628428, -0.12484463532881566),
        None,
        2.2793849349716742e-15,
        1.2663249638731524e-15,
    ),
    (
        "vip_lookalike",
        (50, 291),
        (180, 1709),
        3.2868593150578653,
        0.0010131143358512171,
        (0.024553487286197974, 0.11597086848152068),
        Some((1.6313478426880488, 1.2235938951679792, 2.1749828879929143)),
        0.0010131143358512171,
        0.0010131143358512171,
    ),
    (
        "recent_buyers",
        (190, 1000),
        (40, 1000),
        10.513703028110571,
        7.470151501639082e-26,
        (0.12297453115003533, 0.17755756305031017),
        Some((4.75, 3.4165877905590225, 6.603810990118982)),
        2.988060600655633e-25,
        1.8675378754097704e-25,
    ),
];

#[test]
fn five_signals_match_statsmodels() {
    let converters = [range(0, 60), range(300, 470)].concat();
    let signals = [
        Signal::new("vip", SignalKind::Segment, range(0, 300)),
        Signal::new("opened_7d", SignalKind::Event, range(200, 700)),
        Signal::new("country_fr", SignalKind::Trait, range(1000, 1400)),
        Signal::new("vip_lookalike", SignalKind::Segment, [range(10, 300), vec![1999]].concat()),
        Signal::new("recent_buyers", SignalKind::Segment, range(40, 1040)),
    ];
    let r = analyze_signals(2000, &converters, &signals, &SignalOptions::default()).unwrap();
    assert_eq!((r.conversions, r.base_rate), (230, 0.115));
    for (name, (with, count), (without, rest), z, p, (dlo, dhi), ratio, holm, bh) in EXPECTED {
        let s = find(&r, name);
        assert_eq!((s.conversions_with, s.count, s.conversions_without, 2000 - s.count), (with, count, without, rest));
        assert_eq!(s.coverage, f64::from(count) / 2000.0);
        let c = s.comparison.unwrap();
        rel_close(c.z, z, REL, &format!("{name} z"));
        rel_close(c.p, p, REL, &format!("{name} p"));
        rel_close(c.diff_ci_low, dlo, REL, &format!("{name} diff ci low"));
        rel_close(c.diff_ci_high, dhi, REL, &format!("{name} diff ci high"));
        match ratio {
            Some((ratio, lo, hi)) => {
                rel_close(c.ratio.unwrap(), ratio, REL, &format!("{name} ratio"));
                rel_close(c.ratio_ci_low.unwrap(), lo, REL, &format!("{name} ratio ci low"));
                rel_close(c.ratio_ci_high.unwrap(), hi, REL, &format!("{name} ratio ci high"));
            }
            None => assert!(c.ratio.is_none() && c.ratio_ci_low.is_none() && c.ratio_ci_high.is_none()),
        }
        rel_close(c.p_holm, holm, REL, &format!("{name} holm"));
        rel_close(c.p_bh, bh, REL, &format!("{name} bh"));
    }
    // ranked by the ratio interval's lower bound; country_fr has none
    let order: Vec<&str> = r.signals.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["opened_7d", "recent_buyers", "vip", "vip_lookalike", "country_fr"]);
    // NormalIndPower: 12595.399..., rounded up; every segment is smaller
    assert_eq!(r.required_segment_size, Some(12596));
    for s in &r.signals {
        assert_eq!(s.too_small, (s.kind == SignalKind::Segment).then_some(true), "{}", s.name);
    }
    assert_eq!(r.overlaps.len(), 1);
    let o = &r.overlaps[0];
    assert_eq!((o.a.as_str(), o.b.as_str(), o.intersection), ("vip", "vip_lookalike", 290));
    rel_close(o.jaccard, 0.9634551495016611, 1e-15, "jaccard");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["signals"][0]["kind"], "event");
    assert_eq!(json["signals"][4]["comparison"]["ratio"], serde_json::Value::Null);
}

#[test]
fn segment_at_the_required_size_is_not_too_small() {
    // 30,000 profiles, every 8th converted (base rate 0.125): NormalIndPower
    // needs 11449.42... per arm for +10%, so 11,450.
    let converters: Vec<u32> = (0..30_000).step_by(8).collect();
    let signals = [
        Signal::new("enough", SignalKind::Segment, range(0, 11_450)),
        Signal::new("one_short", SignalKind::Segment, range(0, 11_449)),
    ];
    let r = analyze_signals(30_000, &converters, &signals, &SignalOptions::default()).unwrap();
    assert_eq!((r.base_rate, r.required_segment_size), (0.125, Some(11_450)));
    assert_eq!(r.signals.iter().find(|s| s.name == "enough").unwrap().too_small, Some(false));
    assert_eq!(r.signals.iter().find(|s| s.name == "one_short").unwrap().too_small, Some(true));
    // J = 11449 / 11450 reaches the default threshold of 0.9
    assert_eq!(r.overlaps.len(), 1);
    assert_eq!(r.overlaps[0].intersection, 11_449);
}
