//! RFM: quintile scores of recency, frequency and monetary value (Hughes
//! 1994, *Strategic Database Marketing*; the scoring in Fader, Hardie & Lee
//! 2005, "RFM and CLV").
//!
//! Each metric is scored 1 to 5 across the customers given, 5 best: most
//! recent (smallest time since the last purchase), most frequent, highest
//! value. A customer's score is 1 + ⌊5 · b / n⌋, where n is the number of
//! customers and b the number with a strictly worse value. Ties therefore
//! share one score, that of the lowest-ranked among them: nobody is split
//! from an identical customer, and a heavily tied value (e.g. the many
//! one-time buyers) can leave some quintiles empty rather than assign them
//! arbitrarily. O(n log n).

use serde::{Deserialize, Serialize};

use crate::error::InsightsError;

/// One customer's raw RFM values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RfmInput {
    /// Time since the last purchase (any unit; smaller is better).
    pub recency: f64,
    /// Number of purchases (or purchase days).
    pub frequency: f64,
    /// Monetary value (total or mean spend).
    pub monetary: f64,
}

/// Quintile scores, 1 (worst) to 5 (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmScore {
    /// Recency quintile.
    pub r: u8,
    /// Frequency quintile.
    pub f: u8,
    /// Monetary quintile.
    pub m: u8,
}

impl RfmScore {
    /// The three digits, e.g. `"545"`: the `rfm` trait's value.
    pub fn code(&self) -> String {
        format!("{}{}{}", self.r, self.f, self.m)
    }
}

/// Scores every customer, in input order.
pub fn rfm_scores(customers: &[RfmInput]) -> Result<Vec<RfmScore>, InsightsError> {
    for c in customers {
        for (name, v) in [("recency", c.recency), ("frequency", c.frequency), ("monetary value", c.monetary)] {
            if !v.is_finite() {
                return Err(InsightsError::InvalidParameter { name, value: v, expected: "finite" });
            }
        }
    }
    // Recency is negated so that larger is better for all three.
    let r = quintiles(&customers.iter().map(|c| -c.recency).collect::<Vec<_>>());
    let f = quintiles(&customers.iter().map(|c| c.frequency).collect::<Vec<_>>());
    let m = quintiles(&customers.iter().map(|c| c.monetary).collect::<Vec<_>>());
    Ok((0..customers.len()).map(|i| RfmScore { r: r[i], f: f[i], m: m[i] }).collect())
}

/// 1 + ⌊5 · (number of strictly smaller values) / n⌋ for each value.
fn quintiles(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|s| s < v);
            let q = 1 + 5 * below / n;
            u8::try_from(q.min(5)).unwrap_or(5)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_and_ties() {
        let v: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(quintiles(&v), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintiles(&[1.0, 1.0, 1.0, 2.0]), vec![1, 1, 1, 4]);
        assert!(quintiles(&[]).is_empty());
    }

    #[test]
    fn recency_is_reversed() {
        let s = rfm_scores(&[
            RfmInput { recency: 1.0, frequency: 9.0, monetary: 5.0 },
            RfmInput { recency: 100.0, frequency: 1.0, monetary: 50.0 },
        ])
        .unwrap();
        assert_eq!(s[0].code(), "331");
        assert_eq!(s[1].code(), "113");
        assert!(rfm_scores(&[RfmInput { recency: f64::NAN, frequency: 1.0, monetary: 1.0 }]).is_err());
    }
}
