//! Insights: the statistics behind every figure Tidings shows about
//! experiments and customers, as pure functions over counts and summaries.
//! The meaning of each number is the contract in `spec/insights.md`; each
//! function names its method and reference here and in its module, and the
//! tests check them against independent implementations (scipy,
//! statsmodels, `lifetimes`) and published results.
//!
//! Architecture invariant: this crate does no I/O and reads no clock.
//! Callers aggregate events into counts, sums and transactions; dates are
//! plain day numbers. The collectors that read the event log take its
//! entries one at a time through [`feed::Feed`] (the email accumulator, the
//! signal log, an experiment's exposures, purchase histories); the loop that
//! pages through the store is `tidings-insights-log`'s, so one read of the
//! log can feed several of them.
//!
//! # Experiments ([`ab`], [`report`], [`incrementality`], [`outcomes`])
//!
//! | function | computes | reference |
//! | --- | --- | --- |
//! | [`ab::two_proportion_ztest`] | z and p-values for two rates, pooled or unpooled | Fleiss, Levin & Paik 2003 |
//! | [`ab::chi2_contingency`] | Pearson chi-square of an r x c table, Yates for 1 dof | Pearson 1900; Yates 1934 |
//! | [`ab::sample_ratio_mismatch`] | chi-square of group sizes against the planned split | Fabijan et al. 2019 |
//! | [`ab::welch_ttest`], [`ab::student_ttest`] | t, df, p for two means | Welch 1947 |
//! | [`ab::proportion_ci`] | Wilson, Wald, Agresti-Coull, Clopper-Pearson, Jeffreys | Brown, Cai & DasGupta 2001 |
//! | [`ab::normal_ind_power`], [`ab::normal_ind_sample_size`] | z-test power / size, Cohen's h | Cohen 1988; statsmodels `NormalIndPower` |
//! | [`ab::t_ind_power`], [`ab::t_ind_sample_size`] | t-test power / size via the noncentral t | Lenth 1989 (AS 243); statsmodels `TTestIndPower` |
//! | [`ab::sample_size_two_proportions`] | pooled/unpooled normal formula | Fleiss, Levin & Paik 2003 |
//! | [`ab::plan_two_proportions`], [`ab::power_two_proportions`] | the calculator: per-arm sizes, power | as above |
//! | [`ab::prob_b_beats_a`] | P(B > A), Beta(1, 1) priors, exact sum | Miller 2015; Cook 2005 |
//! | [`ab::adjust_p_values`] | Bonferroni, Holm, Benjamini-Hochberg | Holm 1979; Benjamini & Hochberg 1995 |
//! | [`ab::msprt_p_values`], [`ab::Msprt`] | always-valid sequential p-value | Johari, Koomen, Pekelis & Walsh 2022 |
//! | [`report::experiment_report`] | the `experiments report` JSON | `spec/insights.md` |
//! | [`incrementality::incrementality`], [`incrementality::RateComparison`] | treated vs holdout: difference and ratio with CIs (the one comparison of two rates, in outcomes and signals too) | Newcombe 1998; Katz et al. 1978 |
//! | [`exposure::Exposures`], [`exposure::ExperimentLog`] | first exposure per profile, mixed profiles, conversions within the window after (the report's and the runner's count) | `spec/insights.md` |
//! | [`outcomes::analyze_outcomes`], [`outcomes::OutcomeTally`] | per-recipient outcomes of a test: rates, revenue per recipient, lifts over the holdout, by attribute | Welch 1947; Holm 1979; and the above |
//!
//! # Signals ([`signals`], [`signal_log`])
//!
//! | function | computes | reference |
//! | --- | --- | --- |
//! | [`signals::analyze_signals`] | per segment, event or trait: coverage, conversion with vs without, difference and ratio with CIs, z-test, Holm and BH p-values, ranked by the ratio's lower bound; association, not causation | Newcombe 1998; Katz et al. 1978; Holm 1979; Benjamini & Hochberg 1995 |
//! | [`signals::SignalStats::too_small`] | segments smaller than one arm of a test that detects the minimum lift | Cohen 1988 |
//! | [`signals::SignalReport::overlaps`], [`signals::jaccard`] | segment pairs with Jaccard index at or above a threshold, by merging sorted lists | Jaccard 1912 |
//! | [`signal_log::SignalLog`] | from the event log: behaviour, segments and stages before a cut-off; conversion in a horizon after it | `spec/insights.md` |
//!
//! # Predictions ([`btyd`], [`rfm`])
//!
//! | function | computes | reference |
//! | --- | --- | --- |
//! | [`btyd::PurchaseLog`] | each buyer's purchases from the log, by UTC day | `spec/insights.md` |
//! | [`btyd::summarize`] | (x, t_x, T, monetary) from transactions, by calendar day | Fader, Hardie & Lee 2005; `spec/insights.md` |
//! | [`btyd::calibration_and_holdout`] | calibration summary plus holdout purchases | `lifetimes` |
//! | [`btyd::BgNbd::fit`] | BG/NBD maximum likelihood | Fader, Hardie & Lee 2005, Marketing Science |
//! | [`btyd::BgNbd::p_alive`], [`btyd::BgNbd::conditional_expected_purchases`] | P(alive), E[Y(t) \| x, t_x, T] | ibid., eq. 10 |
//! | [`btyd::BgNbd::expected_purchases`], [`btyd::BgNbd::probability_of_purchases`] | E[X(t)], P(X(t) = n) | ibid., eqs. 8-9 |
//! | [`btyd::ParetoNbd::fit`] and predictions | Pareto/NBD | Schmittlein et al. 1987; Fader & Hardie 2005 note |
//! | [`btyd::GammaGamma::fit`], [`btyd::GammaGamma::conditional_expected_spend`] | spend per transaction | Fader, Hardie & Lee 2005, JMR |
//! | [`btyd::clv`] | expected purchases × spend, discounted monthly | `lifetimes` `customer_lifetime_value` |
//! | [`rfm::rfm_scores`] | recency, frequency, monetary quintiles | Hughes 1994 |
//!
//! Errors are one typed enum, [`InsightsError`]; invalid input is an error,
//! never a panic, and results are never NaN.

pub mod ab;
pub mod btyd;
pub mod email;
mod error;
pub mod exposure;
pub mod feed;
pub mod incrementality;
mod optim;
pub mod outcomes;
pub mod report;
pub mod rfm;
pub mod signal_log;
pub mod signals;
mod special;

pub use error::InsightsError;
