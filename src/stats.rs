//! The two statistics outdial reports rates with, in one place so that `pool health`, number
//! health, the report and its A/B arms agree to the last digit.

/// z for a two-sided 95% interval.
pub const Z_95: f64 = 1.960;

/// The 95% Wilson score interval of `hits` out of `trials` (`None` for no trials): it stays
/// inside 0–1 and is honest for small samples, unlike the normal approximation.
pub fn wilson(hits: u64, trials: u64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let (n, p) = (trials as f64, hits as f64 / trials as f64);
    let z2 = Z_95 * Z_95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The two-proportion z of rate `a` (hits, trials) being above rate `b`, with the pooled
/// variance; 0 when either has no trials or the pooled rate is 0 or 1 (nothing to tell apart).
pub fn z_above(a: (u64, u64), b: (u64, u64)) -> f64 {
    let (n1, n2) = (a.1 as f64, b.1 as f64);
    if n1 == 0.0 || n2 == 0.0 {
        return 0.0;
    }
    let pooled = (a.0 + b.0) as f64 / (n1 + n2);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if spread == 0.0 {
        return 0.0;
    }
    (a.0 as f64 / n1 - b.0 as f64 / n2) / spread
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known values: 0 of 10 is 0–27.8%, 5 of 10 is 23.7–76.3%; z of 60/100 above 40/100 is
    /// 2.83, and nothing is told apart without trials or variance.
    #[test]
    fn intervals_and_z_match_known_values() {
        let (low, high) = wilson(0, 10).unwrap();
        assert!(low == 0.0 && (high - 0.2775).abs() < 1e-3, "{high}");
        let (low, high) = wilson(5, 10).unwrap();
        assert!((low - 0.2366).abs() < 1e-3 && (high - 0.7634).abs() < 1e-3);
        assert_eq!(wilson(0, 0), None);
        assert!((z_above((60, 100), (40, 100)) - 2.828).abs() < 1e-2);
        assert_eq!(z_above((0, 0), (4, 10)), 0.0);
        assert_eq!(z_above((10, 10), (10, 10)), 0.0);
    }
}
