//! Simulates many A/A tests watched every day and prints the false-positive
//! rates of the naive repeated z-test and of the mSPRT always-valid p-value.
//!
//! ```text
//! cargo run --release -p tidings-insights --example aa_simulation [EXPERIMENTS] [DAYS] [DAILY_PER_ARM]
//! ```

#[path = "../tests/integration/aa.rs"]
mod aa;

use tidings_insights::ab::tau2_for_lift;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("arguments are whole numbers")).collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let rate = 0.05;
    let alpha = 0.05;
    let experiments = usize::try_from(arg(0, 20_000)).expect("experiments fit in usize");
    let days = usize::try_from(arg(1, 60)).expect("days fit in usize");
    let daily_per_arm = arg(2, 1000);
    for lift in [0.05, 0.1, 0.2] {
        let config = aa::AaConfig {
            seed: 7,
            experiments,
            days,
            daily_per_arm,
            rate,
            tau2: tau2_for_lift(rate, lift).expect("positive"),
            alpha,
        };
        let r = aa::simulate(&config);
        println!(
            "{experiments} A/A tests, {days} daily looks, {daily_per_arm} per arm per day, rate {rate}, \
             tau = {lift} x rate: naive z-test FPR {:.4}, mSPRT FPR {:.4} (alpha {alpha})",
            r.naive, r.msprt
        );
    }
}
