//! `tidings`: one binary for the whole product.

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod check;
mod config;
mod demo;
mod experiments;
mod history;
mod import;
mod init;
mod keys;
mod mail;
mod open;
mod predict;
mod profile;
mod render;
mod report;
mod segments;
mod serve;
mod workspace;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Tidings: behavioural email, self-hosted. Takes in what people do, keeps
/// segments exact at every moment, and sends each person the message that fits.
#[derive(Parser, Debug)]
#[command(name = "tidings", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the product on a simulated shop (a SIMULATION, deterministic by --seed).
    Demo(demo::DemoArgs),
    /// Run the server: ingest API, admin API, health and metrics, on one port.
    Serve(serve::ServeArgs),
    /// Import Segment messages from NDJSON files (plain or .gz) into a data folder.
    Import(import::ImportArgs),
    /// Manage workspaces and their keys.
    Keys(keys::KeysArgs),
    /// Create a workspace folder with the starter playbook (segments, stages, journeys).
    Init(init::InitArgs),
    /// Check definition files (segments and stages) and report located errors.
    Check(check::CheckArgs),
    /// Experiments measured from stored events.
    Experiments(experiments::ExperimentsArgs),
    /// Look at one profile: what it did, and what was sent to it and why (not).
    Profile(profile::ProfileArgs),
    /// Segments from stored events: evaluate as of any time, explain, list members.
    Segments(segments::SegmentsArgs),
    /// Predict purchases and lifetime value per buyer (BG/NBD, Gamma-Gamma, RFM).
    Predict(predict::PredictArgs),
    /// What email did: sends, opens, clicks, conversions and revenue per journey and per segment.
    Report(report::ReportArgs),
    /// Render a template for one person and print it (the whole message, or one part).
    Render(render::RenderArgs),
    /// Render a template and send it to one address (SMTP, or an .eml file).
    SendTest(render::SendTestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDINGS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,tidings=info,tidings_server=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Import(a) => import::run(a),
        Command::Keys(a) => keys::run(a),
        Command::Init(a) => init::run(a),
        Command::Check(a) => check::run(a),
        Command::Experiments(a) => experiments::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Profile(a) => profile::run(a),
        Command::Segments(a) => segments::run(a),
        Command::Report(a) => report::run(a),
        Command::Render(a) => render::render(a),
        Command::SendTest(a) => render::send_test(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
