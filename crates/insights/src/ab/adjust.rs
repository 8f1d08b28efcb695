//! Multiple-comparison adjustments of p-values, as `statsmodels`'
//! `multipletests`: Bonferroni; Holm (1979), "A simple sequentially
//! rejective multiple test procedure", Scandinavian Journal of Statistics 6
//! (family-wise error); Benjamini & Hochberg (1995), "Controlling the false
//! discovery rate", JRSS B 57 (false discovery rate). Adjusted values are
//! capped at 1 and returned in the input order.

use serde::{Deserialize, Serialize};

use crate::error::InsightsError;

/// Which adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adjustment {
    /// p · m.
    Bonferroni,
    /// Step-down: the i-th smallest times (m - i + 1), made monotone.
    Holm,
    /// Step-up: the i-th smallest times m / i, made monotone.
    BenjaminiHochberg,
}

/// Adjusts `p_values` for `method`. Each must be in [0, 1].
pub fn adjust_p_values(p_values: &[f64], method: Adjustment) -> Result<Vec<f64>, InsightsError> {
    if let Some(&bad) = p_values.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(InsightsError::InvalidParameter { name: "p-value", value: bad, expected: "in [0, 1]" });
    }
    let m = p_values.len();
    let mf = m as f64;
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut out = vec![0.0; m];
    match method {
        Adjustment::Bonferroni => {
            for (o, p) in out.iter_mut().zip(p_values) {
                *o = (p * mf).min(1.0);
            }
        }
        Adjustment::Holm => {
            let mut running = 0.0_f64;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max(p_values[i] * (mf - rank as f64));
                out[i] = running.min(1.0);
            }
        }
        Adjustment::BenjaminiHochberg => {
            let mut running = 1.0_f64;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min(p_values[i] * mf / (rank as f64 + 1.0));
                out[i] = running.min(1.0);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_invalid() {
        assert!(adjust_p_values(&[], Adjustment::Holm).unwrap().is_empty());
        assert!(adjust_p_values(&[1.5], Adjustment::Holm).is_err());
        assert!(adjust_p_values(&[f64::NAN], Adjustment::Holm).is_err());
    }
}
