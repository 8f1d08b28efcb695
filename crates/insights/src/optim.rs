//! Derivative-free minimisation for the maximum likelihood fits: Nelder &
//! Mead (1965), "A simplex method for function minimization", The Computer
//! Journal 7, 308-313, with the usual coefficients (reflection 1, expansion
//! 2, contraction 1/2, shrink 1/2), restarted from the best point with a
//! fresh simplex until a restart no longer improves (which guards against the
//! simplex collapsing early; see Press et al., Numerical Recipes, 10.5).
//!
//! The fits optimise over log-parameters, so the search is unconstrained;
//! a non-finite objective is treated as +infinity.

/// Result of a minimisation.
#[derive(Debug, Clone)]
pub(crate) struct Minimum {
    /// The minimising point.
    pub x: Vec<f64>,
    /// The objective there.
    pub f: f64,
    /// Whether the tolerances were met before the evaluation budget ran out.
    pub converged: bool,
}

const MAX_EVALUATIONS: usize = 10_000;
const MAX_RESTARTS: usize = 12;

/// Minimises `f` from `x0` with initial simplex steps of `step`.
pub(crate) fn minimize(mut f: impl FnMut(&[f64]) -> f64, x0: &[f64], step: f64) -> Minimum {
    let mut eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut best_x = x0.to_vec();
    let mut best_f = eval(&best_x);
    let mut evaluations = 1;
    let mut converged = false;
    for restart in 0..MAX_RESTARTS {
        let step = if restart == 0 { step } else { step * 0.1 };
        let (x, fx, used, ok) = simplex(&mut eval, &best_x, step, MAX_EVALUATIONS);
        evaluations += used;
        let improvement = best_f - fx;
        if fx <= best_f {
            best_x = x;
            best_f = fx;
        }
        if ok && restart > 0 && improvement <= 1e-11 * (1.0 + best_f.abs()) {
            converged = true;
            break;
        }
        if evaluations > 4 * MAX_EVALUATIONS {
            break;
        }
    }
    Minimum { x: best_x, f: best_f, converged }
}

/// One Nelder-Mead run. Returns the best vertex, its value, the evaluations
/// used and whether the tolerances were met.
fn simplex(f: &mut impl FnMut(&[f64]) -> f64, x0: &[f64], step: f64, budget: usize) -> (Vec<f64>, f64, usize, bool) {
    let n = x0.len();
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    pts.push(x0.to_vec());
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += step;
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    let mut used = n + 1;
    let mut ok = false;
    while used < budget {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| vals[i].total_cmp(&vals[j]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();

        let f_spread = vals[n] - vals[0];
        let x_spread =
            pts[1..].iter().flat_map(|p| p.iter().zip(&pts[0]).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max);
        if f_spread <= 1e-13 * (1.0 + vals[0].abs()) && x_spread <= 1e-10 {
            ok = true;
            break;
        }

        let centroid: Vec<f64> = (0..n).map(|j| pts[..n].iter().map(|p| p[j]).sum::<f64>() / n as f64).collect();
        let along = |t: f64| -> Vec<f64> { centroid.iter().zip(&pts[n]).map(|(c, w)| c + t * (w - c)).collect() };
        let xr = along(-1.0);
        let fr = f(&xr);
        used += 1;
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            used += 1;
            if fe < fr {
                pts[n] = xe;
                vals[n] = fe;
            } else {
                pts[n] = xr;
                vals[n] = fr;
            }
        } else if fr < vals[n - 1] {
            pts[n] = xr;
            vals[n] = fr;
        } else {
            let xc = if fr < vals[n] { along(-0.5) } else { along(0.5) };
            let fc = f(&xc);
            used += 1;
            if fc < vals[n].min(fr) {
                pts[n] = xc;
                vals[n] = fc;
            } else {
                for i in 1..=n {
                    let shrunk: Vec<f64> = pts[i].iter().zip(&pts[0]).map(|(p, b)| b + 0.5 * (p - b)).collect();
                    vals[i] = f(&shrunk);
                    pts[i] = shrunk;
                }
                used += n;
            }
        }
    }
    let best = (0..=n).min_by(|&i, &j| vals[i].total_cmp(&vals[j])).unwrap_or(0);
    (pts[best].clone(), vals[best], used, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let m = minimize(|x| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2), &[-1.2, 1.0], 0.5);
        assert!(m.converged);
        assert!((m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6, "{m:?}");
    }

    #[test]
    fn treats_non_finite_values_as_infinite() {
        let m = minimize(
            |x| {
                if x[0] < 0.0 { f64::NAN } else { (x[0] - 2.0).powi(2) }
            },
            &[1.0],
            0.5,
        );
        assert!((m.x[0] - 2.0).abs() < 1e-6);
    }
}
