//! Counters and the lag histogram of a running sync, and their Prometheus text form.

use super::state::SyncStats;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds (seconds) of the lag histogram's buckets.
pub const LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// Lags kept for the percentiles (the most recent).
const WINDOW: usize = 20_000;

/// Lag samples: a cumulative histogram (for Prometheus) and a window of recent samples (for
/// the percentiles of the status line).
#[derive(Debug, Clone, Default)]
pub struct LagRecorder {
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
    max: f64,
    recent: VecDeque<f64>,
}

impl LagRecorder {
    /// Record one lag.
    pub fn record(&mut self, lag: Duration) {
        let s = lag.as_secs_f64();
        if self.buckets.is_empty() {
            self.buckets = vec![0; LAG_BUCKETS.len()];
        }
        for (b, le) in self.buckets.iter_mut().zip(LAG_BUCKETS) {
            if s <= *le {
                *b += 1;
            }
        }
        self.count += 1;
        self.sum += s;
        self.max = self.max.max(s);
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(s);
    }

    /// Percentile `p` (0..=100) of the recent lags, in seconds (0 with no sample).
    pub fn percentile(&self, p: f64) -> f64 {
        if self.recent.is_empty() {
            return 0.0;
        }
        let mut v: Vec<f64> = self.recent.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[i.min(v.len() - 1)]
    }

    /// The largest lag recorded, in seconds.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Put the percentiles into `stats`.
    pub fn fill(&self, stats: &mut SyncStats) {
        stats.lag_p50_ms = self.percentile(50.0) * 1000.0;
        stats.lag_p99_ms = self.percentile(99.0) * 1000.0;
        stats.lag_max_ms = self.max * 1000.0;
    }
}

/// The Prometheus text exposition of a sync's counters and lag histogram.
pub fn render_prometheus(name: &str, stats: &SyncStats, lag: &LagRecorder) -> String {
    let mut o = String::new();
    let label = format!("sync=\"{}\"", name.replace(['\\', '"'], "_"));
    let counters: [(&str, &str, u64); 6] = [
        (
            "skiff_sync_applied_total",
            "Objects applied to the target.",
            stats.applied,
        ),
        (
            "skiff_sync_deleted_total",
            "Objects deleted on the target.",
            stats.deleted,
        ),
        ("skiff_sync_skipped_total", "Events skipped.", stats.skipped),
        (
            "skiff_sync_errors_total",
            "Failed applies or deletes.",
            stats.errors,
        ),
        (
            "skiff_sync_drift_total",
            "Drift found on the target.",
            stats.drift,
        ),
        (
            "skiff_sync_relists_total",
            "Re-lists after a watch expired.",
            stats.relists,
        ),
    ];
    for (metric, help, v) in counters {
        let _ = writeln!(
            o,
            "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric}{{{label}}} {v}"
        );
    }
    for (metric, help, v) in [
        ("skiff_sync_in_sync", "Objects in sync.", stats.in_sync),
        (
            "skiff_sync_pending",
            "Events received, not yet applied.",
            stats.pending,
        ),
    ] {
        let _ = writeln!(
            o,
            "# HELP {metric} {help}\n# TYPE {metric} gauge\n{metric}{{{label}}} {v}"
        );
    }
    let m = "skiff_sync_lag_seconds";
    let _ = writeln!(
        o,
        "# HELP {m} Time from an event's arrival to its apply on the target."
    );
    let _ = writeln!(o, "# TYPE {m} histogram");
    for (i, le) in LAG_BUCKETS.iter().enumerate() {
        let n = lag.buckets.get(i).copied().unwrap_or(0);
        let _ = writeln!(o, "{m}_bucket{{{label},le=\"{le}\"}} {n}");
    }
    let _ = writeln!(o, "{m}_bucket{{{label},le=\"+Inf\"}} {}", lag.count);
    let _ = writeln!(o, "{m}_sum{{{label}}} {}", lag.sum);
    let _ = writeln!(o, "{m}_count{{{label}}} {}", lag.count);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_histogram() {
        let mut l = LagRecorder::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert!(
            (l.percentile(50.0) - 0.050).abs() < 0.002,
            "{}",
            l.percentile(50.0)
        );
        assert!((l.percentile(99.0) - 0.099).abs() < 0.002);
        assert!((l.max() - 0.1).abs() < 1e-9);
        let text = render_prometheus("s1", &SyncStats::default(), &l);
        assert!(
            text.contains("skiff_sync_lag_seconds_bucket{sync=\"s1\",le=\"0.01\"} 10\n"),
            "{text}"
        );
        assert!(text.contains("skiff_sync_lag_seconds_count{sync=\"s1\"} 100\n"));
        assert!(text.contains("# TYPE skiff_sync_applied_total counter\n"));
    }
}
