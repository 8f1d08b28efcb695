//! Continuous monitoring of A/A tests: the mSPRT keeps its promise, the
//! naive repeated z-test does not.

use tidings_insights::ab::tau2_for_lift;

use crate::aa::{AaConfig, simulate};

#[test]
fn msprt_controls_false_positives_under_daily_peeking() {
    let config = AaConfig {
        seed: 20_240_601,
        experiments: 2000,
        days: 30,
        daily_per_arm: 500,
        rate: 0.05,
        tau2: tau2_for_lift(0.05, 0.1).unwrap(),
        alpha: 0.05,
    };
    let result = simulate(&config);
    println!("{config:?}: {result:?}");
    assert!(result.msprt <= config.alpha, "{result:?}");
    assert!(result.naive >= 2.0 * config.alpha, "{result:?}");
}
