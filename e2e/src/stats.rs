//! Summary figures for the benchmarks.

/// The `q`-quantile (0..=1) of `values` by nearest rank; `None` if empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Median and 95th percentile of a sample, with its size and range, as
/// the benchmarks print them.
pub fn summary(values: &[f64]) -> serde_json::Value {
    serde_json::json!({
        "n": values.len(),
        "p50": quantile(values, 0.5),
        "p95": quantile(values, 0.95),
        "min": quantile(values, 0.0),
        "max": quantile(values, 1.0),
    })
}

/// A [`summary`] on one line of a table.
pub fn fmt_summary(v: &serde_json::Value) -> String {
    let f = |k: &str| v[k].as_f64().map_or("-".to_string(), |x| format!("{x:.1}"));
    format!("p50 {:>8}  p95 {:>8}  (n={})", f("p50"), f("p95"), v["n"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(10.0));
        assert_eq!(quantile(&v, 0.95), Some(19.0));
        assert_eq!(quantile(&v, 1.0), Some(20.0));
        assert_eq!(quantile(&[3.0], 0.5), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
