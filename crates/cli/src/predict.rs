//! `tidings predict`: BG/NBD, Gamma-Gamma, lifetime value and RFM for every
//! buyer, from stored purchases, as `spec/insights.md` defines them.
//! Purchases are the conversion event aggregated by UTC calendar day; time
//! is in weeks at day granularity; the calibration end E is the date of
//! `--as-of`. A holdout run (fit up to E − horizon, compare with what
//! happened by E) shows how well the model predicts on this data.

use crate::config::Config;
use crate::history::{log_bar, parse_duration};
use crate::open::{open_store, workspace};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;
use tidings_insights::btyd::{BgNbd, BgNbdFit, GammaGamma, GammaGammaFit, Transaction, clv, summarize};
use tidings_insights::rfm::{RfmInput, rfm_scores};
use tidings_model::time::{DAY, format_time, parse_time};
use tidings_model::{Clock, Message, Micros, WallClock};
use tidings_store::AppendBatch;
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// The workspace [default: the configured default workspace].
    #[arg(long)]
    pub workspace: Option<String>,
    /// Fit on purchases up to this time (RFC 3339); its UTC date is the calibration end [default: now].
    #[arg(long)]
    pub as_of: Option<String>,
    /// How far ahead to predict purchases (e.g. 90d, 39w).
    #[arg(long, default_value = "90d")]
    pub horizon: String,
    /// The purchase event.
    #[arg(long, default_value = "Order Completed")]
    pub event: String,
    /// The purchase's value property.
    #[arg(long, default_value = "revenue")]
    pub value: String,
    /// Months of lifetime value.
    #[arg(long, default_value_t = 12)]
    pub clv_months: u32,
    /// Monthly discount rate of lifetime value.
    #[arg(long, default_value_t = 0.01)]
    pub discount: f64,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Write the predictions to the profiles as traits (predicted_clv, p_alive,
    /// expected_orders_<horizon>, rfm), so rules can use them. Needs the data folder to itself.
    #[arg(long)]
    pub write_traits: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Serialize)]
pub struct ProfilePrediction {
    user_id: String,
    frequency: u32,
    recency: f64,
    #[serde(rename = "T")]
    t: f64,
    monetary_value: f64,
    p_alive: f64,
    expected_purchases: f64,
    expected_spend: f64,
    clv: f64,
    rfm: String,
}

/// Calibration: mean predicted vs actual holdout purchases by calibration frequency.
#[derive(Serialize)]
pub struct CalibrationRow {
    frequency: String,
    customers: usize,
    predicted: f64,
    actual: f64,
}

pub fn run(a: PredictArgs) -> Result<()> {
    let horizon = parse_duration(&a.horizon)
        .with_context(|| format!("--horizon {:?}: give a number and a unit, like 90d or 39w", a.horizon))?;
    let as_of = match &a.as_of {
        Some(t) => parse_time(t).with_context(|| format!("--as-of {t:?} is not an RFC 3339 time"))?,
        None => WallClock.now(),
    };
    let config = Config::load(&a.data)?;
    let mode = if a.write_traits { Mode::ReadWrite } else { Mode::ReadOnly };
    let store = open_store(&a.data, &config, mode)?;
    let ws = workspace(store.as_ref(), a.workspace.as_deref().unwrap_or(config.workspace_name()))?;
    let model =
        Model { event: a.event.clone(), value: a.value.clone(), clv_months: a.clv_months, discount: a.discount };
    let Predictions { bg, gg, profiles, calibration } = predict(&store, ws, &model, as_of, horizon, a.quiet)?;
    if a.write_traits {
        let messages = trait_messages(&profiles, &a.horizon, as_of, WallClock.now())?;
        for chunk in messages.chunks(5_000) {
            store.append(&[AppendBatch { workspace: ws, messages: chunk.to_vec() }])?;
        }
        eprintln!("wrote predicted_clv, p_alive, expected_orders_{} and rfm to {} profiles", a.horizon, profiles.len());
    }

    match a.format.as_str() {
        "json" => {
            let out = json!({
                "as_of": format_time(as_of),
                "horizon": a.horizon,
                "bg_nbd": bg,
                "gamma_gamma": gg,
                "calibration": calibration,
                "profiles": profiles,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        _ => print!("{}", text(&a, as_of, &bg, &gg, &profiles, calibration.as_deref())),
    }
    Ok(())
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
pub fn predict(
    store: &std::sync::Arc<dyn tidings_store::Store>,
    ws: tidings_model::WorkspaceId,
    m: &Model,
    as_of: Micros,
    horizon: Micros,
    quiet: bool,
) -> Result<Predictions> {
    let end_day = i32::try_from(as_of.div_euclid(DAY)).context("--as-of is out of range")?;

    // (user id, purchases as (day, value)), purchases up to as_of, from one read of the log.
    let bar = log_bar(store.as_ref(), ws, quiet)?;
    let buyers: Vec<(String, Vec<(i32, f64)>)> =
        tidings_insights_log::purchase_histories(store.as_ref(), ws, &m.event, &m.value, as_of, &mut |seq| {
            bar.set_position(seq.max(0) as u64)
        })?;
    bar.finish_and_clear();
    if buyers.len() < 10 {
        bail!(
            "only {} profiles have a {:?} by {}; the models need more buyers",
            buyers.len(),
            m.event,
            format_time(as_of)
        );
    }
    let transactions: Vec<Transaction<usize>> = buyers
        .iter()
        .enumerate()
        .flat_map(|(i, (_, ps))| ps.iter().map(move |&(day, value)| Transaction { customer: i, day, value }))
        .collect();
    let weeks = horizon as f64 / (7 * DAY) as f64;

    let summaries = summarize(&transactions, end_day)?;
    let observations: Vec<_> = summaries.iter().map(|s| s.observation()).collect();
    let bg: BgNbdFit = BgNbd::fit(&observations).context("fitting BG/NBD")?;
    let repeat: Vec<(u32, f64)> =
        summaries.iter().filter(|s| s.frequency > 0).map(|s| (s.frequency, s.monetary_value)).collect();
    let gg: GammaGammaFit = GammaGamma::fit(&repeat).context("fitting Gamma-Gamma (needs repeat buyers with spend)")?;
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

/// Identify messages carrying the predictions as traits, one per buyer;
/// their ids are stable per buyer and calibration date, so storing them
/// twice stores them once.
pub fn trait_messages(
    profiles: &[ProfilePrediction],
    horizon: &str,
    as_of: Micros,
    received_at: Micros,
) -> Result<Vec<Message>> {
    let key = format!("expected_orders_{horizon}");
    profiles.iter().map(|p| trait_message(p, &key, as_of, received_at)).collect()
}

/// An identify carrying the predictions, stable per profile and calibration date.
fn trait_message(p: &ProfilePrediction, key: &str, as_of: Micros, received_at: Micros) -> Result<Message> {
    let round = |x: f64| (x * 1e4).round() / 1e4;
    let text = json!({
        "type": "identify",
        "userId": p.user_id,
        "messageId": format!("predict-{}-{}", as_of.div_euclid(DAY), p.user_id),
        "timestamp": format_time(as_of),
        "traits": {"predicted_clv": round(p.clv), "p_alive": round(p.p_alive), key: round(p.expected_purchases), "rfm": p.rfm},
        "context": {"library": {"name": "tidings-predict"}},
    })
    .to_string();
    let env = tidings_model::message::Envelope { received_at, sent_at: None, default_type: None };
    Ok(tidings_model::message::parse_message(&text, &env, &mut tidings_model::message::new_message_id)?)
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

fn text(
    a: &PredictArgs,
    as_of: Micros,
    bg: &BgNbdFit,
    gg: &GammaGammaFit,
    profiles: &[ProfilePrediction],
    calibration: Option<&[CalibrationRow]>,
) -> String {
    let mut out = String::new();
    let b = bg.params;
    let _ = writeln!(out, "Purchases: {:?} (value {:?}) up to {}, by UTC day", a.event, a.value, format_time(as_of));
    let _ = writeln!(
        out,
        "{} buyers, {} with repeat purchases",
        profiles.len(),
        profiles.iter().filter(|p| p.frequency > 0).count()
    );
    let _ = writeln!(
        out,
        "BG/NBD (maximum likelihood): r {:.4}, alpha {:.4}, a {:.4}, b {:.4}; log-likelihood {:.2}",
        b.r, b.alpha, b.a, b.b, bg.log_likelihood
    );
    let g = gg.params;
    let _ = writeln!(
        out,
        "Gamma-Gamma (repeat buyers): p {:.4}, q {:.4}, gamma {:.4}; log-likelihood {:.2}",
        g.p, g.q, g.gamma, gg.log_likelihood
    );
    if calibration.is_none() {
        let _ = writeln!(
            out,
            "\nHoldout check skipped: it needs at least {} of purchases before the last {}",
            a.horizon, a.horizon
        );
    }
    if let Some(rows) = calibration {
        let _ = writeln!(
            out,
            "\nHoldout check: fitted up to {} before, predicted vs actual purchases in the last {}",
            a.horizon, a.horizon
        );
        let _ = writeln!(out, "{:>10} {:>10} {:>10} {:>10}", "repeat x", "buyers", "predicted", "actual");
        for r in rows {
            let _ = writeln!(out, "{:>10} {:>10} {:>10.3} {:>10.3}", r.frequency, r.customers, r.predicted, r.actual);
        }
    }
    let mut top: Vec<&ProfilePrediction> = profiles.iter().collect();
    top.sort_by(|x, y| y.clv.total_cmp(&x.clv));
    let _ = writeln!(
        out,
        "\nHighest predicted lifetime value ({} months, {}% monthly discount):",
        a.clv_months,
        a.discount * 100.0
    );
    let _ = writeln!(
        out,
        "{:<16} {:>4} {:>8} {:>8} {:>8} {:>12} {:>10} {:>5}",
        "user",
        "x",
        "t_x",
        "T",
        "P(alive)",
        &format!("orders {}", a.horizon),
        "CLV",
        "RFM"
    );
    for p in top.iter().take(15) {
        let _ = writeln!(
            out,
            "{:<16} {:>4} {:>8.2} {:>8.2} {:>8.3} {:>12.3} {:>10.2} {:>5}",
            p.user_id, p.frequency, p.recency, p.t, p.p_alive, p.expected_purchases, p.clv, p.rfm
        );
    }
    let _ = writeln!(out, "\n(--format json lists every buyer; --write-traits stores the predictions as traits)");
    out
}

/// The store record of the last scheduled refresh (its time is what counts).
const REFRESHED: &str = "predictions-refreshed";

/// While the server runs: refits the models every `every` of the clock and
/// stores each buyer's predictions as traits through the ingest queue (so
/// the live engine and rules see them at once). A run with too few buyers
/// is skipped and logged (and tried again the next period); ids are stable
/// per buyer and day, so nothing is stored twice.
pub fn spawn_refresh(
    store: std::sync::Arc<dyn tidings_store::Store>,
    ws: tidings_model::WorkspaceId,
    ingest: tidings_node::IngestQueue,
    clock: std::sync::Arc<dyn Clock>,
    every: Micros,
    horizon: (Micros, String),
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    use std::sync::atomic::Ordering;
    std::thread::Builder::new().name("predictions".into()).spawn(move || {
        let model = Model { event: "Order Completed".into(), value: "revenue".into(), clv_months: 12, discount: 0.01 };
        // The last refresh survives restarts, so a restart does not refit everything again.
        let mut last: Option<Micros> = store.load_snapshot(ws, REFRESHED).ok().flatten().map(|s| s.taken_at);
        while !stop.load(Ordering::Relaxed) {
            let now = clock.now();
            if last.is_none_or(|l| now >= l.saturating_add(every)) {
                last = Some(now);
                let started = std::time::Instant::now();
                let stored = predict(&store, ws, &model, now, horizon.0, true)
                    .and_then(|p| trait_messages(&p.profiles, &horizon.1, now, now))
                    .and_then(|messages| {
                        for chunk in messages.chunks(5_000) {
                            ingest.append_blocking(ws, chunk.to_vec()).map_err(|e| anyhow::anyhow!(e))?;
                        }
                        Ok(messages.len())
                    });
                match stored {
                    Ok(n) => {
                        let mark = tidings_store::Snapshot { seq: 0, taken_at: now, data: b"{}".to_vec() };
                        if let Err(e) = store.save_snapshot(ws, REFRESHED, &mark) {
                            tracing::warn!(error = %e, "could not note the prediction refresh");
                        }
                        tracing::info!(
                            buyers = n,
                            took_ms = started.elapsed().as_millis() as u64,
                            "prediction traits refreshed (predicted_clv, p_alive, expected_orders, rfm)"
                        )
                    }
                    Err(e) => tracing::info!(reason = %e, "prediction traits not refreshed"),
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    })
}
