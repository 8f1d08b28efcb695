//! Every entry of `shared/data/reference/ab_vectors.json` (scipy 1.17,
//! statsmodels 0.15), matched to the six significant digits printed there.
//! Each entry's keys are all accounted for, so a new output in the file
//! fails the test until it is checked.

use std::collections::BTreeSet;

use serde_json::Value;
use tidings_insights::ab::{
    Adjustment, CiMethod, Summary, Variance, adjust_p_values, chi2_contingency, cohens_h, normal_ind_power,
    normal_ind_sample_size, prob_b_beats_a, proportion_ci, sample_ratio_mismatch, sample_size_two_proportions,
    student_ttest, t_ind_sample_size, two_proportion_ztest, welch_ttest,
};

use crate::support::{close, int, json, num};

const DIGITS: i32 = 6;

/// Tracks which keys of an entry were used, and the worst relative error.
struct Entry<'a> {
    value: &'a Value,
    seen: BTreeSet<String>,
    worst: &'a mut f64,
    checks: &'a mut usize,
    label: String,
}

impl<'a> Entry<'a> {
    fn new(value: &'a Value, label: String, worst: &'a mut f64, checks: &'a mut usize) -> Self {
        Entry { value, seen: BTreeSet::new(), worst, checks, label }
    }
    fn input(&mut self, key: &str) -> &'a Value {
        self.seen.insert(key.to_string());
        &self.value[key]
    }
    fn f(&mut self, key: &str) -> f64 {
        self.seen.insert(key.to_string());
        num(self.value, key)
    }
    fn u(&mut self, key: &str) -> u64 {
        self.seen.insert(key.to_string());
        int(self.value, key)
    }
    fn check(&mut self, key: &str, actual: f64) {
        let expected = self.f(key);
        let rel = close(actual, expected, DIGITS, &format!("{} {key}", self.label));
        *self.worst = self.worst.max(rel);
        *self.checks += 1;
    }
    fn check_pair(&mut self, key: &str, low: f64, high: f64) {
        let v = self.input(key).clone();
        let label = format!("{} {key}", self.label);
        for (actual, expected) in [(low, &v[0]), (high, &v[1])] {
            let expected = expected.as_f64().expect("interval bound");
            *self.worst = self.worst.max(close(actual, expected, DIGITS, &label));
            *self.checks += 1;
        }
    }
    fn done(self) {
        let keys: BTreeSet<String> = self.value.as_object().expect("entry is an object").keys().cloned().collect();
        let unchecked: Vec<_> = keys.difference(&self.seen).collect();
        assert!(unchecked.is_empty(), "{}: unchecked keys {unchecked:?}", self.label);
    }
}

fn list<'a>(root: &'a Value, section: &str) -> &'a Vec<Value> {
    root[section].as_array().unwrap_or_else(|| panic!("section {section}"))
}

fn table(v: &Value) -> Vec<Vec<u64>> {
    v.as_array()
        .expect("table")
        .iter()
        .map(|row| row.as_array().expect("row").iter().map(|c| c.as_u64().expect("count")).collect())
        .collect()
}

#[test]
fn every_ab_reference_vector_matches() {
    let root = json("data/reference/ab_vectors.json");
    let mut worst = 0.0_f64;
    let mut checks = 0_usize;
    let mut entries = 0_usize;
    let sections: BTreeSet<&str> = root.as_object().expect("root object").keys().map(String::as_str).collect();
    let handled: BTreeSet<&str> = [
        "versions",
        "two_prop_ztest",
        "chi2_contingency",
        "srm_chisquare_gof",
        "welch_ttest",
        "power",
        "proportion_ci_95",
        "bayes_beta_binomial_p_b_beats_a",
        "multipletests_adjusted",
    ]
    .into_iter()
    .collect();
    assert_eq!(sections, handled, "sections of ab_vectors.json changed");

    for (i, v) in list(&root, "two_prop_ztest").iter().enumerate() {
        let mut e = Entry::new(v, format!("two_prop_ztest[{i}]"), &mut worst, &mut checks);
        let (c1, n1, c2, n2) = (e.u("c1"), e.u("n1"), e.u("c2"), e.u("n2"));
        let pooled = two_proportion_ztest(c1, n1, c2, n2, Variance::Pooled).unwrap();
        let unpooled = two_proportion_ztest(c1, n1, c2, n2, Variance::Unpooled).unwrap();
        e.check("z_pooled", pooled.z);
        e.check("p_two_sided", pooled.p);
        e.check("p_one_sided_smaller", pooled.p_smaller);
        e.check("z_unpooled", unpooled.z);
        e.check("p_unpooled", unpooled.p);
        e.done();
        entries += 1;
    }

    for (i, v) in list(&root, "chi2_contingency").iter().enumerate() {
        let mut e = Entry::new(v, format!("chi2_contingency[{i}]"), &mut worst, &mut checks);
        let t = table(e.input("table"));
        let plain = chi2_contingency(&t, false).unwrap();
        let yates = chi2_contingency(&t, true).unwrap();
        assert_eq!(u64::from(plain.dof), e.u("dof"));
        if v.get("chi2").is_some() {
            // scipy's default (correction=True) is a no-op past 1 dof
            e.check("chi2", yates.chi2);
            e.check("p", yates.p);
        }
        if v.get("chi2_yates").is_some() {
            e.check("chi2_yates", yates.chi2);
            e.check("p_yates", yates.p);
            e.check("chi2_no_correction", plain.chi2);
            e.check("p_no_correction", plain.p);
        }
        e.done();
        entries += 1;
    }

    for (i, v) in list(&root, "srm_chisquare_gof").iter().enumerate() {
        let mut e = Entry::new(v, format!("srm_chisquare_gof[{i}]"), &mut worst, &mut checks);
        let observed: Vec<u64> = e.input("observed").as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        let planned: Vec<f64> =
            e.input("expected_ratio").as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let srm = sample_ratio_mismatch(&observed, &planned).unwrap();
        e.check("chi2", srm.chi2);
        e.check("p", srm.p);
        e.done();
        entries += 1;
    }

    for (i, v) in list(&root, "welch_ttest").iter().enumerate() {
        let mut e = Entry::new(v, format!("welch_ttest[{i}]"), &mut worst, &mut checks);
        let (a, b) = if v.get("sample1").is_some() {
            let sample = |e: &mut Entry, k: &str| -> Vec<f64> {
                e.input(k).as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
            };
            let (s1, s2) = (sample(&mut e, "sample1"), sample(&mut e, "sample2"));
            let (a, b) = (Summary::from_values(&s1).unwrap(), Summary::from_values(&s2).unwrap());
            e.check("mean1", a.mean);
            e.check("sd1", a.var.sqrt());
            e.check("mean2", b.mean);
            e.check("sd2", b.var.sqrt());
            (a, b)
        } else {
            let a = Summary::new(e.f("n1"), e.f("mean1"), e.f("sd1").powi(2)).unwrap();
            let b = Summary::new(e.f("n2"), e.f("mean2"), e.f("sd2").powi(2)).unwrap();
            (a, b)
        };
        let welch = welch_ttest(&a, &b).unwrap();
        e.check("t_welch", welch.t);
        e.check("p_welch", welch.p);
        if v.get("df_welch").is_some() {
            e.check("df_welch", welch.df);
        }
        if v.get("t_student").is_some() {
            let student = student_ttest(&a, &b).unwrap();
            e.check("t_student", student.t);
            e.check("p_student", student.p);
        }
        e.done();
        entries += 1;
    }

    for (i, v) in list(&root, "power").iter().enumerate() {
        let mut e = Entry::new(v, format!("power[{i}]"), &mut worst, &mut checks);
        if v.get("p1").is_some() {
            let (p1, p2) = (e.f("p1"), e.f("p2"));
            let h = cohens_h(p1, p2);
            e.check("cohens_h", h);
            e.check("n_per_arm_power80_NormalIndPower", normal_ind_sample_size(h, 0.05, 0.8, 1.0).unwrap());
            e.check("n_per_arm_power90_zt_ind", normal_ind_sample_size(h, 0.05, 0.9, 1.0).unwrap());
            e.check("power_at_n5000_per_arm", normal_ind_power(h, 5000.0, 0.05, 1.0).unwrap());
            e.check(
                "n_per_arm_power80_pooled_unpooled_formula",
                sample_size_two_proportions(p1, p2, 0.05, 0.8, 1.0).unwrap(),
            );
        } else {
            let note = e.input("note").as_str().unwrap().to_string();
            if note.starts_with("TTestIndPower d=0.2 alpha=.05 power=.8") {
                e.check("n_per_arm", t_ind_sample_size(0.2, 0.05, 0.8, 1.0).unwrap());
            } else if note.starts_with("NormalIndPower d=0.2 alpha=.05 power=.8 ratio=2") {
                e.check("nobs1", normal_ind_sample_size(0.2, 0.05, 0.8, 2.0).unwrap());
            } else {
                panic!("unknown power vector {note}");
            }
        }
        e.done();
        entries += 1;
    }

    let methods = [
        ("wilson", CiMethod::Wilson),
        ("agresti_coull", CiMethod::AgrestiCoull),
        ("beta", CiMethod::ClopperPearson),
        ("jeffreys", CiMethod::Jeffreys),
        ("normal", CiMethod::Normal),
    ];
    for (i, v) in list(&root, "proportion_ci_95").iter().enumerate() {
        let mut e = Entry::new(v, format!("proportion_ci_95[{i}]"), &mut worst, &mut checks);
        let (count, nobs) = (e.u("count"), e.u("nobs"));
        for (key, method) in methods {
            let ci = proportion_ci(count, nobs, 0.05, method).unwrap();
            e.check_pair(key, ci.low, ci.high);
        }
        e.done();
        entries += 1;
    }

    for (i, v) in list(&root, "bayes_beta_binomial_p_b_beats_a").iter().enumerate() {
        let mut e = Entry::new(v, format!("bayes[{i}]"), &mut worst, &mut checks);
        // A is group 1, B is group 2
        let p = prob_b_beats_a(e.u("c1"), e.u("n1"), e.u("c2"), e.u("n2")).unwrap();
        e.check("p_B_gt_A_exact", p);
        e.check("p_B_gt_A_quad", p);
        e.done();
        entries += 1;
    }

    let mt = &root["multipletests_adjusted"];
    let handled = handled.clone();
    let mut e = Entry::new(mt, "multipletests_adjusted".into(), &mut worst, &mut checks);
    let pvals: Vec<f64> = e.input("pvals").as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    for (key, method) in
        [("bonferroni", Adjustment::Bonferroni), ("holm", Adjustment::Holm), ("fdr_bh", Adjustment::BenjaminiHochberg)]
    {
        let adjusted = adjust_p_values(&pvals, method).unwrap();
        let expected = e.input(key).clone();
        let expected = expected.as_array().unwrap();
        assert_eq!(adjusted.len(), expected.len());
        for (j, (a, x)) in adjusted.iter().zip(expected).enumerate() {
            let rel = close(*a, x.as_f64().unwrap(), DIGITS, &format!("{key}[{j}]"));
            *e.worst = e.worst.max(rel);
            *e.checks += 1;
        }
    }
    e.done();
    entries += 1;

    println!("ab_vectors: {entries} entries, {checks} values, worst relative error {worst:e}");
    let listed: usize = handled.iter().filter_map(|s| root[*s].as_array()).map(Vec::len).sum::<usize>() + 1;
    assert_eq!(entries, listed, "every entry is checked");
}
