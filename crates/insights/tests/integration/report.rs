//! The experiment report's JSON contract (`spec/insights.md`) and its
//! numbers, cross-checked against the reference vectors and the `ab`
//! functions.

use serde_json::Value;
use tidings_insights::InsightsError;
use tidings_insights::ab::{Summary, prob_b_beats_a};
use tidings_insights::incrementality::incrementality;
use tidings_insights::report::{ReportOptions, VariationInput, analyze_experiment, experiment_report};

use crate::support::{close, json, num};

fn variation(name: &str, exposed: u64, conversions: u64) -> VariationInput {
    VariationInput { name: name.to_string(), exposed, conversions, value: None, planned_weight: None }
}

const CONTRACT: [&str; 12] = [
    "name",
    "exposed",
    "conversions",
    "rate",
    "ci_low",
    "ci_high",
    "lift_abs",
    "lift_rel",
    "z",
    "p",
    "p_holm",
    "p_beat_control",
];
const VALUE_FIELDS: [&str; 4] = ["value_mean", "welch_t", "welch_df", "welch_p"];

#[test]
fn report_has_the_contract_shape_and_reference_numbers() {
    let variations = [variation("A", 10_000, 200), variation("B", 10_000, 250), variation("C", 10_000, 230)];
    let report = experiment_report("exp-1", "A", &variations, &ReportOptions::default()).unwrap();
    let v: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(v["experiment"], "exp-1");
    assert_eq!(v["control"], "A");
    assert!(v.get("breakdown").is_none());
    assert_eq!(num(&v["srm"], "chi2"), 0.0);
    assert_eq!(num(&v["srm"], "p"), 1.0);
    let rows = v["variations"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        for key in CONTRACT {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
        for key in VALUE_FIELDS {
            assert!(row.get(key).is_none(), "{key} present without a value metric");
        }
    }
    // the control compares with nothing
    for key in ["lift_abs", "lift_rel", "z", "p", "p_holm", "p_beat_control"] {
        assert!(rows[0][key].is_null(), "control {key}");
    }

    // B against A is two_prop_ztest[0] (with the groups swapped) and bayes[0]
    let ab = json("data/reference/ab_vectors.json");
    let z_ref = &ab["two_prop_ztest"][0];
    let b = &rows[1];
    close(num(b, "z"), -num(z_ref, "z_pooled"), 6, "z");
    close(num(b, "p"), num(z_ref, "p_two_sided"), 6, "p");
    close(num(b, "p_beat_control"), num(&ab["bayes_beta_binomial_p_b_beats_a"][0], "p_B_gt_A_exact"), 6, "P(beat)");
    close(num(b, "rate"), 0.025, 12, "rate");
    close(num(b, "lift_abs"), 0.005, 12, "lift_abs");
    close(num(b, "lift_rel"), 0.25, 12, "lift_rel");
    let wilson = &ab["proportion_ci_95"][5]["wilson"];
    close(num(&rows[0], "ci_low"), wilson[0].as_f64().unwrap(), 6, "control ci_low");
    close(num(&rows[0], "ci_high"), wilson[1].as_f64().unwrap(), 6, "control ci_high");

    // Holm over the two treatment p-values
    let (pb, pc) = (num(&rows[1], "p"), num(&rows[2], "p"));
    let (lo, hi) = (pb.min(pc), pb.max(pc));
    let holm_lo = (2.0 * lo).min(1.0);
    let holm_hi = hi.max(holm_lo);
    let got = [num(&rows[1], "p_holm"), num(&rows[2], "p_holm")];
    assert!(got.contains(&holm_lo) && got.contains(&holm_hi), "{got:?}");
    assert!(num(&rows[1], "p_sequential") > num(&rows[1], "p"));
}

#[test]
fn value_metrics_srm_and_planned_split() {
    let mut a = variation("control", 9_000, 90);
    let mut b = variation("treat", 1_100, 15);
    a.planned_weight = Some(9.0);
    b.planned_weight = Some(1.0);
    a.value = Some(Summary::new(9_000.0, 0.5, 30.0).unwrap());
    b.value = Some(Summary::new(1_100.0, 0.7, 45.0).unwrap());
    let analysis = analyze_experiment("control", &[a.clone(), b.clone()], &ReportOptions::default()).unwrap();
    let v: Value = serde_json::to_value(&analysis).unwrap();
    // srm_chisquare_gof[4]: 9000 / 1100 against 9 : 1
    let srm_ref = &json("data/reference/ab_vectors.json")["srm_chisquare_gof"][4];
    close(num(&v["srm"], "chi2"), num(srm_ref, "chi2"), 6, "srm chi2");
    close(num(&v["srm"], "p"), num(srm_ref, "p"), 6, "srm p");
    let rows = v["variations"].as_array().unwrap();
    for key in VALUE_FIELDS {
        assert!(rows[1][key].as_f64().is_some(), "treat {key}");
    }
    assert_eq!(num(&rows[0], "value_mean"), 0.5);
    assert!(rows[0]["welch_t"].is_null());
    assert!(num(&rows[1], "welch_t") > 0.0);

    let mut partial = b.clone();
    partial.planned_weight = None;
    assert_eq!(
        analyze_experiment("control", &[a.clone(), partial], &ReportOptions::default()),
        Err(InsightsError::PartialSplit)
    );
}

#[test]
fn invalid_reports_are_errors() {
    let ok = [variation("A", 100, 5), variation("B", 100, 7)];
    let o = ReportOptions::default();
    assert!(matches!(analyze_experiment("Z", &ok, &o), Err(InsightsError::UnknownControl(_))));
    let dup = [variation("A", 100, 5), variation("A", 100, 7)];
    assert!(matches!(analyze_experiment("A", &dup, &o), Err(InsightsError::DuplicateVariation(_))));
    let empty = [variation("A", 100, 5), variation("B", 0, 0)];
    let err = analyze_experiment("A", &empty, &o).unwrap_err();
    assert_eq!(err.to_string(), "variation \"B\" has no observations");
    let too_many = [variation("A", 100, 5), variation("B", 10, 11)];
    assert!(matches!(analyze_experiment("A", &too_many, &o), Err(InsightsError::CountExceedsNobs { .. })));
    assert!(analyze_experiment("A", &ok[..1], &o).is_err());
    let bad_tau = ReportOptions { tau2: Some(-1.0) };
    assert!(analyze_experiment("A", &ok, &bad_tau).is_err());
    // no conversions anywhere: defined, uninformative numbers
    let none = [variation("A", 100, 0), variation("B", 100, 0)];
    let r = analyze_experiment("A", &none, &o).unwrap();
    let b = &r.variations[1];
    assert_eq!((b.z, b.p, b.lift_rel, b.p_sequential), (Some(0.0), Some(1.0), None, Some(1.0)));
    assert_eq!(b.p_beat_control, Some(prob_b_beats_a(0, 100, 0, 100).unwrap()));
}

#[test]
fn incrementality_is_consistent_with_the_z_test() {
    let r = incrementality(250, 10_000, 200, 10_000, 0.05).unwrap();
    let z_ref = &json("data/reference/ab_vectors.json")["two_prop_ztest"][0];
    close(r.p, num(z_ref, "p_two_sided"), 6, "incrementality p");
    assert!(r.diff_ci_low > 0.0 && r.diff_ci_high > r.diff);
    assert!(r.ratio_ci_low.unwrap() > 1.0);
    close(r.incremental_conversions, 50.0, 12, "incremental conversions");
    let json = serde_json::to_value(r).unwrap();
    assert!(json["ratio"].as_f64().is_some());
}
