//! Integration tests of the shop simulator, in one test binary.

mod determinism;
mod personas;
mod reactions;
mod validity;

use serde_json::Value;
use std::collections::HashMap;
use tidings_testkit::{DAY, DEFAULT_START, SimConfig, SimMessage, Simulation};

/// A whole simulation run without email.
pub fn run(seed: u64, profiles: u32, days: u32) -> (Simulation, Vec<SimMessage>) {
    let mut sim = Simulation::new(SimConfig::new(seed, profiles, DEFAULT_START, days));
    let msgs = sim.advance_to(DEFAULT_START + i64::from(days) * DAY);
    (sim, msgs)
}

pub fn json(msgs: &[SimMessage]) -> Vec<Value> {
    msgs.iter().map(SimMessage::to_json).collect()
}

/// (local weekday Monday = 0, local hour) of a message, in its own time zone.
pub fn local(v: &Value) -> (i8, i8) {
    let tz = jiff::tz::TimeZone::get(v["context"]["timezone"].as_str().unwrap()).unwrap();
    let ts: jiff::Timestamp = v["timestamp"].as_str().unwrap().parse().unwrap();
    let z = ts.to_zoned_datetime(tz);
    (z.weekday().to_monday_zero_offset(), z.hour())
}

pub fn micros(v: &Value) -> i64 {
    let ts: jiff::Timestamp = v["timestamp"].as_str().unwrap().parse().unwrap();
    ts.as_microsecond()
}

/// Who is behind each anonymous id.
pub fn owners(sim: &Simulation) -> HashMap<String, String> {
    sim.people().filter_map(|p| Some((p.anonymous_id?, p.user_id))).collect()
}

/// The user id of a message, or of the person behind its anonymous id.
pub fn who(v: &Value, owners: &HashMap<String, String>) -> String {
    match v["userId"].as_str() {
        Some(u) => u.to_string(),
        None => owners[v["anonymousId"].as_str().unwrap()].clone(),
    }
}
