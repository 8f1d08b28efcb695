//! From transactions to the per-customer summary the models take, as the
//! spec (`spec/insights.md`, Predictions) defines it and as Fader, Hardie &
//! Lee (2005) and the `lifetimes` package (`summary_data_from_transaction_data`
//! with `freq="D"`, `freq_multiplier=7`) compute it.
//!
//! Purchases are aggregated by calendar day. For a customer with purchase
//! days d0 < d1 < ... up to the calibration end E (inclusive):
//! frequency x = number of purchase days after d0; recency t_x =
//! (last purchase day - d0) / 7; age T = (E - d0) / 7 (weeks); monetary
//! value = mean daily total of the repeat purchase days (d0 excluded; 0 when
//! x = 0). Customers whose first purchase is after E are left out.
//!
//! Days are plain day numbers (days since 1970-01-01, see [`day_number`]) so
//! that this module needs no calendar or time zone: the caller has already
//! decided which calendar day a purchase belongs to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::InsightsError;

use super::Observation;

/// One purchase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction<K> {
    /// Who bought.
    pub customer: K,
    /// The calendar day, as days since 1970-01-01.
    pub day: i32,
    /// What it was worth.
    pub value: f64,
}

/// A customer's repeat-purchase summary at the calibration end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary<K> {
    /// The customer.
    pub customer: K,
    /// x: purchase days after the first.
    pub frequency: u32,
    /// t_x: weeks from the first to the last purchase day.
    pub recency: f64,
    /// T: weeks from the first purchase day to the calibration end.
    #[serde(rename = "T")]
    pub t: f64,
    /// Mean daily value of the repeat purchase days (0 without repeats).
    pub monetary_value: f64,
}

impl<K> CustomerSummary<K> {
    /// The (x, t_x, T) the purchase models take.
    pub fn observation(&self) -> Observation {
        Observation { frequency: self.frequency, recency: self.recency, t: self.t }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. `None` for an
/// invalid month or day, or a year outside -9999 to 9999.
pub fn day_number(year: i32, month: u32, day: u32) -> Option<i32> {
    let date =
        jiff::civil::Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()?;
    date.since(jiff::civil::Date::constant(1970, 1, 1)).ok().map(|span| span.get_days())
}

/// Daily totals per customer up to and including `end`.
fn daily_totals<K: Ord + Clone>(
    transactions: &[Transaction<K>],
    end: i32,
) -> Result<BTreeMap<K, BTreeMap<i32, f64>>, InsightsError> {
    let mut days: BTreeMap<K, BTreeMap<i32, f64>> = BTreeMap::new();
    for t in transactions {
        if !t.value.is_finite() {
            return Err(InsightsError::InvalidParameter {
                name: "transaction value",
                value: t.value,
                expected: "finite",
            });
        }
        if t.day <= end {
            *days.entry(t.customer.clone()).or_default().entry(t.day).or_insert(0.0) += t.value;
        }
    }
    Ok(days)
}

/// Summarises `transactions` at calibration end `end` (a day number),
/// sorted by customer.
pub fn summarize<K: Ord + Clone>(
    transactions: &[Transaction<K>],
    end: i32,
) -> Result<Vec<CustomerSummary<K>>, InsightsError> {
    let days = daily_totals(transactions, end)?;
    Ok(days
        .into_iter()
        .filter_map(|(customer, by_day)| {
            let (&first, _) = by_day.first_key_value()?;
            let (&last, _) = by_day.last_key_value()?;
            let repeats: Vec<f64> = by_day.values().skip(1).copied().collect();
            let frequency = u32::try_from(repeats.len()).unwrap_or(u32::MAX);
            let monetary_value =
                if repeats.is_empty() { 0.0 } else { repeats.iter().sum::<f64>() / repeats.len() as f64 };
            Some(CustomerSummary {
                customer,
                frequency,
                recency: f64::from(last - first) / 7.0,
                t: f64::from(end - first) / 7.0,
                monetary_value,
            })
        })
        .collect())
}

/// A customer's calibration summary and what they did in the holdout period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRow<K> {
    /// The summary at the calibration end.
    pub calibration: CustomerSummary<K>,
    /// Purchase days in (calibration end, holdout end].
    pub holdout_purchases: u32,
    /// Length of the holdout period in weeks.
    pub holdout_weeks: f64,
}

/// Splits `transactions` at `calibration_end` and counts each calibrated
/// customer's purchase days in `(calibration_end, holdout_end]`, for the
/// predicted-vs-actual check shown with every prediction run (as
/// `lifetimes`' `calibration_and_holdout_data`).
pub fn calibration_and_holdout<K: Ord + Clone>(
    transactions: &[Transaction<K>],
    calibration_end: i32,
    holdout_end: i32,
) -> Result<Vec<HoldoutRow<K>>, InsightsError> {
    if holdout_end <= calibration_end {
        return Err(InsightsError::InvalidParameter {
            name: "holdout end",
            value: f64::from(holdout_end),
            expected: "after the calibration end",
        });
    }
    let calibration = summarize(transactions, calibration_end)?;
    let all = daily_totals(transactions, holdout_end)?;
    let holdout_weeks = f64::from(holdout_end - calibration_end) / 7.0;
    Ok(calibration
        .into_iter()
        .map(|c| {
            let n = all.get(&c.customer).map_or(0, |d| d.range(calibration_end + 1..).count());
            HoldoutRow { calibration: c, holdout_purchases: u32::try_from(n).unwrap_or(u32::MAX), holdout_weeks }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers() {
        assert_eq!(day_number(1970, 1, 1), Some(0));
        assert_eq!(day_number(2000, 3, 1), Some(11_017));
        assert_eq!(day_number(1969, 12, 31), Some(-1));
        assert_eq!(day_number(1997, 9, 30).zip(day_number(1997, 1, 1)).map(|(a, b)| a - b), Some(272));
        assert_eq!(day_number(1997, 2, 29), None);
        assert_eq!(day_number(2000, 13, 1), None);
    }

    #[test]
    fn aggregates_by_day_and_excludes_the_first() {
        let t = |c: &str, day, value| Transaction { customer: c.to_string(), day, value };
        let tx = [
            t("a", 0, 10.0),
            t("a", 0, 5.0),
            t("a", 7, 3.0),
            t("a", 7, 1.0),
            t("a", 14, 8.0),
            t("a", 30, 100.0),
            t("b", 21, 2.0),
            t("c", 29, 1.0),
        ];
        let s = summarize(&tx, 28).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].frequency, s[0].recency, s[0].t), (2, 2.0, 4.0));
        assert_eq!(s[0].monetary_value, 6.0);
        assert_eq!((s[1].frequency, s[1].recency, s[1].t), (0, 0.0, 1.0));
        assert_eq!(s[1].monetary_value, 0.0);
        let h = calibration_and_holdout(&tx, 28, 35).unwrap();
        assert_eq!(h[0].holdout_purchases, 1);
        assert_eq!(h[1].holdout_purchases, 0);
        assert_eq!(h[0].holdout_weeks, 1.0);
    }
}
