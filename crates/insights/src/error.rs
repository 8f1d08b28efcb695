//! The one error type of this crate: what was wrong with the input, or which
//! statistic is undefined for it.

/// Why a statistic or a fit could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InsightsError {
    /// A group that needs observations has none (for example a variation
    /// nobody was exposed to).
    #[error("{what} has no observations")]
    Empty {
        /// What was empty, e.g. `variation "B"` or `sample 1`.
        what: String,
    },
    /// More successes than trials.
    #[error("{what}: count {count} exceeds the number of observations {nobs}")]
    CountExceedsNobs {
        /// Which group.
        what: String,
        /// Successes given.
        count: u64,
        /// Trials given.
        nobs: u64,
    },
    /// A numeric argument is outside its domain (negative, not finite, a
    /// probability outside (0, 1), ...).
    #[error("{name} must be {expected}, got {value}")]
    InvalidParameter {
        /// The argument's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it must be, e.g. `in (0, 1)`.
        expected: &'static str,
    },
    /// Two inputs that must have the same length do not.
    #[error("{what} has {got} entries, expected {expected}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// The named control variation is not among the variations.
    #[error("control variation {0:?} is not among the variations")]
    UnknownControl(String),
    /// Two variations share a name.
    #[error("variation {0:?} appears more than once")]
    DuplicateVariation(String),
    /// A planned split weight was given for some variations but not all.
    #[error("a planned split must give a weight for every variation or for none")]
    PartialSplit,
    /// A profile index is not below the population size.
    #[error("{what}: profile {profile} is not below the population of {population}")]
    ProfileOutOfRange {
        /// Which list, e.g. `signal "vip"`.
        what: String,
        /// The index given.
        profile: u32,
        /// The population size.
        population: u32,
    },
    /// A list of profile indices that must be strictly increasing is not.
    #[error("{what}: profiles must be sorted and unique, but entry {position} is not above the one before")]
    NotSortedUnique {
        /// Which list.
        what: String,
        /// Index in the list of the first offending entry.
        position: usize,
    },
    /// Two signals share a name.
    #[error("signal {0:?} appears more than once")]
    DuplicateSignal(String),
    /// The statistic is undefined for this input (for example a t-test
    /// between two groups with zero variance and different means).
    #[error("{0} is undefined for this input")]
    Undefined(&'static str),
    /// An iterative computation (a series, a quadrature, an optimiser) did not
    /// reach its tolerance.
    #[error("{0} did not converge")]
    NoConvergence(&'static str),
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64, InsightsError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(InsightsError::InvalidParameter { name, value, expected: "finite and > 0" })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<f64, InsightsError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(InsightsError::InvalidParameter { name, value, expected: "finite and >= 0" })
    }
}

/// Checks that `value` is a probability strictly between 0 and 1.
pub(crate) fn open_unit(name: &'static str, value: f64) -> Result<f64, InsightsError> {
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(InsightsError::InvalidParameter { name, value, expected: "in (0, 1)" })
    }
}

/// Checks a count of successes against its number of trials (which must be
/// positive).
pub(crate) fn counts(what: &str, count: u64, nobs: u64) -> Result<(), InsightsError> {
    if nobs == 0 {
        return Err(InsightsError::Empty { what: what.to_string() });
    }
    if count > nobs {
        return Err(InsightsError::CountExceedsNobs { what: what.to_string(), count, nobs });
    }
    Ok(())
}
