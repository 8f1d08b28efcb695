//! Helpers shared by the integration tests.

use serde_json::Value;

/// A file under the shared data folder: `$TIDINGS_SHARED` if set, else
/// `shared/` beside the repository (found from this crate, so a clone
/// anywhere works). Panics naming where it looked when neither is there.
pub fn shared(path: &str) -> String {
    let root = match std::env::var("TIDINGS_SHARED") {
        Ok(dir) => dir,
        Err(_) => {
            let beside = format!("{}/../../../shared", env!("CARGO_MANIFEST_DIR"));
            if !std::path::Path::new(&beside).is_dir() {
                panic!(
                    "no shared data folder: $TIDINGS_SHARED is not set and {beside} is not a folder; \
                     set TIDINGS_SHARED to the folder that holds data/ and spec/"
                );
            }
            beside
        }
    };
    format!("{root}/{path}")
}

/// Reads and parses a JSON file under `shared/`.
pub fn json(path: &str) -> Value {
    let text = std::fs::read_to_string(shared(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The f64 at `key`.
pub fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no number at {key} in {v}"))
}

/// The u64 at `key`.
pub fn int(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no integer at {key} in {v}"))
}

/// Half a unit in the `digits`-th significant digit of `expected`: the
/// largest error that still rounds to the printed value. Exact zeros must be
/// zero to 1e-12.
pub fn tolerance(expected: f64, digits: i32) -> f64 {
    if expected == 0.0 {
        return 1e-12;
    }
    let exponent = expected.abs().log10().floor() as i32;
    0.5 * 10f64.powi(exponent - digits + 1) * (1.0 + 1e-9)
}

/// Asserts `actual` rounds to `expected` at `digits` significant digits and
/// returns the relative error.
pub fn close(actual: f64, expected: f64, digits: i32, what: &str) -> f64 {
    let tol = tolerance(expected, digits);
    assert!((actual - expected).abs() <= tol, "{what}: got {actual}, expected {expected} (±{tol:e})");
    if expected == 0.0 { actual.abs() } else { ((actual - expected) / expected).abs() }
}

/// Asserts |actual - expected| <= rel · |expected| and returns the relative
/// error.
pub fn rel_close(actual: f64, expected: f64, rel: f64, what: &str) -> f64 {
    let err = ((actual - expected) / expected).abs();
    assert!(err <= rel, "{what}: got {actual}, expected {expected} (relative error {err:e} > {rel:e})");
    err
}
