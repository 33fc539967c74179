//! What every benchmark reports alike: the machine it ran on, latency percentiles.

use chronicle_plugin_api::JsonMap;
use serde_json::{Value, json};

/// A JSON object's map (empty for anything else).
pub(crate) fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// Sorted latencies in nanoseconds → microseconds at percentile `p`.
fn percentile(sorted_ns: &[u64], p: f64) -> f64 {
    let index = ((sorted_ns.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted_ns
        .get(index.min(sorted_ns.len().saturating_sub(1)))
        .map_or(0.0, |ns| *ns as f64 / 1000.0)
}

pub(crate) fn latency_summary(mut latencies_ns: Vec<u64>) -> Value {
    latencies_ns.sort_unstable();
    json!({
        "p50": percentile(&latencies_ns, 0.50),
        "p99": percentile(&latencies_ns, 0.99),
        "p999": percentile(&latencies_ns, 0.999),
        "max": percentile(&latencies_ns, 1.0),
    })
}

pub(crate) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({"cpu": cpu, "cores": cores, "os": std::env::consts::OS, "arch": std::env::consts::ARCH})
}
