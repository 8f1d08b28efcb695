//! The crate's integration tests, linked into one binary: reference vectors
//! from scipy/statsmodels, the CDNOW customer-base fits, the Hillstrom email
//! test against scipy, the experiment report, the A/A simulation of the
//! sequential test, and the signal analysis against statsmodels.

mod aa;
mod ab_vectors;
mod btyd_cdnow;
mod hillstrom;
mod report;
mod sequential;
mod signals;
mod support;
