//! The `tidings` binary as a user runs it. The tests that need a service
//! (PostgreSQL, a real SMTP server, Chromium) are in `tests/services`.

mod definitions;
mod demo;
mod hardening;
mod import;
mod live;
mod predictions;
mod segments;
mod serve;
mod workspaces;

#[path = "../common/mod.rs"]
mod common;
pub use common::*;

use std::process::Command;

pub fn tidings(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").output().expect("run tidings")
}
