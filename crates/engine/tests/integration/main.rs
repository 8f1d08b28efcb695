//! The engine's integration tests, linked into one binary.

mod differential;
mod engine_api;
mod forms;
mod spec_example;
mod support;
