//! A/B test statistics: pure functions over counts and summaries, each
//! matching a reference implementation (scipy, statsmodels) that the tests
//! check against `shared/data/reference/ab_vectors.json`.
//!
//! | function | computes | reference |
//! | --- | --- | --- |
//! | [`two_proportion_ztest`] | z and p for two rates, pooled or not | Fleiss et al. 2003; statsmodels |
//! | [`chi2_contingency`] | Pearson chi-square of an r x c table, Yates optional | Pearson 1900; Yates 1934; scipy |
//! | [`sample_ratio_mismatch`] | chi-square goodness of fit against a planned split | Fabijan et al. 2019; scipy |
//! | [`welch_ttest`], [`student_ttest`] | t, df, p for two means | Welch 1947; scipy |
//! | [`proportion_ci`] | Wilson, Wald, Agresti-Coull, Clopper-Pearson, Jeffreys intervals | Brown, Cai & DasGupta 2001; statsmodels |
//! | [`normal_ind_power`], [`t_ind_power`] and their `_sample_size` | power and sample size | Cohen 1988; statsmodels |
//! | [`prob_b_beats_a`] | P(B > A) with Beta(1, 1) priors, exact | Miller 2015; Cook 2005 |
//! | [`adjust_p_values`] | Bonferroni, Holm, Benjamini-Hochberg | Holm 1979; Benjamini & Hochberg 1995 |
//! | [`msprt_p_values`] | always-valid sequential p-value | Johari et al. 2022 |

mod adjust;
mod bayes;
mod interval;
mod power;
mod sequential;
mod ttest;
mod ztest;

pub use adjust::{Adjustment, adjust_p_values};
pub use bayes::prob_b_beats_a;
pub use interval::{CiMethod, Interval, proportion_ci, wilson_95};
pub use power::{
    SampleSizePlan, cohens_h, normal_ind_power, normal_ind_sample_size, plan_two_proportions, power_two_proportions,
    sample_size_two_proportions, t_ind_power, t_ind_sample_size,
};
pub use sequential::{Look, Msprt, msprt_log_likelihood_ratio, msprt_p_value, msprt_p_values, tau2_for_lift};
pub use ttest::{Summary, TTest, student_ttest, welch_ttest};
pub use ztest::{ChiSquare, Variance, ZTest, chi2_contingency, sample_ratio_mismatch, two_proportion_ztest};
