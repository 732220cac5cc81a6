//! Reading a Prometheus text exposition the way the tests and the bench need it.

/// The value of one sample line, e.g. `irsa_token_reloads_total{token="irsa"}`: the
/// series must match up to the space before the value.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

/// Every sample line as (series with labels, value), comments skipped.
pub fn samples(metrics: &str) -> Vec<(&str, f64)> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series, value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_by_exact_series() {
        let text = "# HELP a x\n# TYPE a gauge\na 1\na{t=\"irsa\"} 2.5\nab 3\nbad value\n";
        assert_eq!(sample(text, "a"), Some(1.0));
        assert_eq!(sample(text, "a{t=\"irsa\"}"), Some(2.5));
        assert_eq!(sample(text, "ab"), Some(3.0));
        assert_eq!(sample(text, "b"), None);
        assert_eq!(sample(text, "bad"), None);
        assert_eq!(
            samples(text),
            vec![("a", 1.0), ("a{t=\"irsa\"}", 2.5), ("ab", 3.0)]
        );
    }
}
