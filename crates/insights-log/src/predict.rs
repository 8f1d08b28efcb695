//! Purchase predictions from the log: BG/NBD, Gamma-Gamma, lifetime value
//! and RFM for every buyer, as `spec/insights.md` defines them. Purchases
//! are the conversion event aggregated by UTC calendar day; time is in
//! weeks at day granularity; the calibration end E is the date of `as_of`.
//! A holdout run (fit up to E - horizon, compare with what happened by E)
//! shows how well the model predicts on this data. `tidings predict` prints
//! them; the node's scheduled refresh stores them as traits ([`traits`]).

use serde::Serialize;
use serde_json::{Map, Value};
use tidings_insights::btyd::{BgNbd, BgNbdFit, GammaGamma, GammaGammaFit, Transaction, clv, summarize};
use tidings_insights::rfm::{RfmInput, rfm_scores};
use tidings_model::time::{DAY, format_time};
use tidings_model::{Micros, WorkspaceId};
use tidings_store::Store;

/// Fewer buyers than this and the models are not fitted.
pub const MIN_BUYERS: usize = 10;

/// Why no predictions were made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Store(#[from] tidings_store::StoreError),
    /// The models need more buyers.
    #[error("only {buyers} profiles have a {event:?} by {as_of}; the models need more buyers")]
    TooFewBuyers { buyers: usize, event: String, as_of: String },
    /// A model could not be fitted to the data.
    #[error(
        "fitting {0}: {1}; the models need weeks of history with repeat buyers: import more history, or try again later"
    )]
    Fit(&'static str, tidings_insights::InsightsError),
    /// Summarising, scoring or predicting failed.
    #[error(transparent)]
    Model(#[from] tidings_insights::InsightsError),
    /// The calibration end is outside the calendar.
    #[error("{0} is out of range")]
    OutOfRange(String),
}

/// One buyer's predictions.
#[derive(Debug, Clone, Serialize)]
pub struct ProfilePrediction {
    pub user_id: String,
    pub frequency: u32,
    pub recency: f64,
    #[serde(rename = "T")]
    pub t: f64,
    pub monetary_value: f64,
    pub p_alive: f64,
    pub expected_purchases: f64,
    pub expected_spend: f64,
    pub clv: f64,
    pub rfm: String,
}

/// Calibration: mean predicted vs actual holdout purchases by calibration frequency.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationRow {
    pub frequency: String,
    pub customers: usize,
    pub predicted: f64,
    pub actual: f64,
}

/// What is predicted from: the purchase event, its value property, and the
/// lifetime-value settings.
pub struct Model {
    pub event: String,
    pub value: String,
    pub clv_months: u32,
    pub discount: f64,
}

/// The fitted models and every buyer's predictions, sorted by user id.
pub struct Predictions {
    pub bg: BgNbdFit,
    pub gg: GammaGammaFit,
    pub profiles: Vec<ProfilePrediction>,
    pub calibration: Option<Vec<CalibrationRow>>,
}

/// Fits the models on the purchases up to `as_of` (calibration end: its
/// UTC date) and predicts every buyer `horizon` ahead.
/// `progress` is told the log position read so far.
pub fn predict(
    store: &dyn Store,
    ws: WorkspaceId,
    m: &Model,
    as_of: Micros,
    horizon: Micros,
    progress: &mut dyn FnMut(i64),
) -> Result<Predictions, PredictError> {
    let end_day = i32::try_from(as_of.div_euclid(DAY)).map_err(|_| PredictError::OutOfRange(format_time(as_of)))?;
    // (user id, purchases as (day, value)), purchases up to as_of, from one read of the log.
    let buyers = crate::purchase_histories(store, ws, &m.event, &m.value, as_of, progress)?;
    if buyers.len() < MIN_BUYERS {
        return Err(PredictError::TooFewBuyers {
            buyers: buyers.len(),
            event: m.event.clone(),
            as_of: format_time(as_of),
        });
    }
    let transactions: Vec<Transaction<usize>> = buyers
        .iter()
        .enumerate()
        .flat_map(|(i, (_, ps))| ps.iter().map(move |&(day, value)| Transaction { customer: i, day, value }))
        .collect();
    let weeks = horizon as f64 / (7 * DAY) as f64;

    let summaries = summarize(&transactions, end_day)?;
    let observations: Vec<_> = summaries.iter().map(|s| s.observation()).collect();
    let bg: BgNbdFit = BgNbd::fit(&observations).map_err(|e| PredictError::Fit("BG/NBD", e))?;
    let repeat: Vec<(u32, f64)> =
        summaries.iter().filter(|s| s.frequency > 0).map(|s| (s.frequency, s.monetary_value)).collect();
    let gg: GammaGammaFit = GammaGamma::fit(&repeat).map_err(|e| PredictError::Fit("Gamma-Gamma", e))?;
    let rfm = rfm_scores(
        &summaries
            .iter()
            .map(|s| RfmInput {
                recency: s.t - s.recency,
                frequency: f64::from(s.frequency + 1),
                monetary: s.monetary_value,
            })
            .collect::<Vec<_>>(),
    )?;
    let mut profiles = Vec::with_capacity(summaries.len());
    for (s, score) in summaries.iter().zip(&rfm) {
        let o = s.observation();
        let spend = gg.params.conditional_expected_spend(s.frequency, s.monetary_value)?;
        profiles.push(ProfilePrediction {
            user_id: buyers[s.customer].0.clone(),
            frequency: s.frequency,
            recency: s.recency,
            t: s.t,
            monetary_value: s.monetary_value,
            p_alive: bg.params.p_alive(&o)?,
            expected_purchases: bg.params.conditional_expected_purchases(weeks, &o)?,
            expected_spend: spend,
            clv: clv(&bg.params, &o, spend, m.clv_months, m.discount)?,
            rfm: score.code(),
        });
    }
    profiles.sort_by(|x, y| x.user_id.cmp(&y.user_id));
    let calibration = holdout(&transactions, end_day, horizon, weeks);

    Ok(Predictions { bg, gg, profiles, calibration })
}

/// The traits a buyer's predictions set: `predicted_clv`, `p_alive`,
/// `expected_orders_<horizon>` and `rfm`, rounded to 4 decimals.
pub fn traits(p: &ProfilePrediction, horizon: &str) -> Map<String, Value> {
    let round = |x: f64| (x * 1e4).round() / 1e4;
    let mut t = Map::new();
    t.insert("predicted_clv".into(), Value::from(round(p.clv)));
    t.insert("p_alive".into(), Value::from(round(p.p_alive)));
    t.insert(format!("expected_orders_{horizon}"), Value::from(round(p.expected_purchases)));
    t.insert("rfm".into(), Value::from(p.rfm.clone()));
    t
}

/// Identify messages carrying the predictions as traits, one per buyer,
/// as of `as_of` (stable ids: see [`message_id`]).
pub fn trait_messages(
    profiles: &[ProfilePrediction],
    horizon: &str,
    as_of: Micros,
    received_at: Micros,
) -> Result<Vec<tidings_model::Message>, tidings_model::MessageError> {
    profiles
        .iter()
        .map(|p| {
            let who = tidings_model::Subject { user_id: Some(&p.user_id), anonymous_id: None };
            tidings_model::Internal::Traits(traits(p, horizon)).into_message(
                who,
                message_id(&p.user_id, as_of),
                as_of,
                received_at,
                "tidings-predict",
            )
        })
        .collect()
}

/// The message id of a buyer's prediction traits: stable per buyer and
/// calibration date, so storing them twice stores them once.
pub fn message_id(user_id: &str, as_of: Micros) -> String {
    format!("predict-{}-{user_id}", as_of.div_euclid(DAY))
}

fn holdout(
    transactions: &[Transaction<usize>],
    end_day: i32,
    horizon: Micros,
    weeks: f64,
) -> Option<Vec<CalibrationRow>> {
    let horizon_days = i32::try_from(horizon / DAY).ok()?;
    let cal_end = end_day - horizon_days;
    let first = transactions.iter().map(|t| t.day).min()?;
    // A check needs a calibration period at least as long as what it predicts.
    if cal_end - first < horizon_days {
        return None;
    }
    let before: Vec<Transaction<usize>> = transactions.iter().filter(|t| t.day <= cal_end).cloned().collect();
    let summaries = summarize(&before, cal_end).ok()?;
    if summaries.len() < 10 {
        return None;
    }
    let obs: Vec<_> = summaries.iter().map(|s| s.observation()).collect();
    let fit = BgNbd::fit(&obs).ok()?;
    let mut actual = std::collections::HashMap::<usize, std::collections::BTreeSet<i32>>::new();
    for t in transactions.iter().filter(|t| t.day > cal_end && t.day <= end_day) {
        actual.entry(t.customer).or_default().insert(t.day);
    }
    let mut rows: Vec<(usize, f64, f64)> = vec![(0, 0.0, 0.0); 8];
    for (s, o) in summaries.iter().zip(&obs) {
        let bucket = (s.frequency as usize).min(7);
        let predicted = fit.params.conditional_expected_purchases(weeks, o).ok()?;
        let got = actual.get(&s.customer).map_or(0, |d| d.len()) as f64;
        rows[bucket].0 += 1;
        rows[bucket].1 += predicted;
        rows[bucket].2 += got;
    }
    Some(
        rows.into_iter()
            .enumerate()
            .filter(|(_, r)| r.0 > 0)
            .map(|(x, (n, p, g))| CalibrationRow {
                frequency: if x == 7 { "7+".into() } else { x.to_string() },
                customers: n,
                predicted: p / n as f64,
                actual: g / n as f64,
            })
            .collect(),
    )
}
