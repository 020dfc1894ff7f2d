//! What the benchmark binaries share: order statistics, memory readings from `/proc` and the instant mock model (the
//! gateway WebSocket client is `openclaw_testkit::gateway`).

pub mod mock;

/// The `p`th percentile of sorted values (nearest rank; 0 for none).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The median (sorts `values`).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 50.0)
}

/// A `kB` field of `/proc/<process>/status` in MB (`process` is a pid or `self`): `VmRSS` is the resident set
/// now, `VmHWM` its peak. 0 when unreadable.
pub fn proc_status_mb(process: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `pid` and every process below it (the reference gateway runs workers as child processes).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut next = 0;
    while next < all.len() {
        let parent = all[next];
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(children.split_whitespace().filter_map(|child| child.parse::<u32>().ok()));
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// The resident set of `pid` and all its descendants, in MB.
pub fn tree_rss_mb(pid: u32) -> f64 {
    process_tree(pid).iter().map(|pid| proc_status_mb(&pid.to_string(), "VmRSS")).sum()
}

/// Latencies (ms, sorted) and completions per second of one measured load.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub latencies_ms: Vec<f64>,
    pub per_second: f64,
    pub failed: usize,
}

impl LoadResult {
    /// Sorts the latencies and computes the rate over `seconds`.
    pub fn new(mut latencies_ms: Vec<f64>, failed: usize, seconds: f64) -> Self {
        latencies_ms.sort_by(f64::total_cmp);
        let per_second = if seconds > 0.0 { latencies_ms.len() as f64 / seconds } else { 0.0 };
        LoadResult { latencies_ms, per_second, failed }
    }

    pub fn p50(&self) -> f64 {
        percentile(&self.latencies_ms, 50.0)
    }

    pub fn p99(&self) -> f64 {
        percentile(&self.latencies_ms, 99.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 51.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn the_tree_of_this_process_includes_a_child() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let tree = process_tree(std::process::id());
        assert!(tree.contains(&child.id()), "{tree:?} lacks {}", child.id());
        assert!(tree_rss_mb(std::process::id()) > proc_status_mb("self", "VmRSS"));
        let _ = child.kill();
        let _ = child.wait();
    }
}
