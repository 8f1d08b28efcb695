//! `tidings predict`: BG/NBD, Gamma-Gamma, lifetime value and RFM for every
//! buyer, from stored purchases, as `spec/insights.md` defines them
//! (computed by `tidings_insights_log::predict`; printed here).

use crate::config::Config;
use crate::history::{log_bar, parse_duration};
use crate::open::{open_store, workspace};
use anyhow::{Context, Result};
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;
use tidings_insights::btyd::{BgNbdFit, GammaGammaFit};
use tidings_insights_log::predict::{CalibrationRow, Model, Predictions, ProfilePrediction, predict, trait_messages};
use tidings_model::time::{format_time, parse_time};
use tidings_model::{Clock, Micros, WallClock};
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
    let bar = log_bar(store.as_ref(), ws, a.quiet)?;
    let Predictions { bg, gg, profiles, calibration } =
        predict(store.as_ref(), ws, &model, as_of, horizon, &mut |seq| bar.set_position(seq.max(0) as u64))?;
    bar.finish_and_clear();
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
