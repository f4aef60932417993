//! Logs and trace context: structured logs (text or JSON) carrying each resource's namespace,
//! name and phase, and the W3C `traceparent` sent to workers.
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the span fields (namespace, name, phase) included.
    Json,
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},kube_runtime=warn,tower=warn,h2=warn,hyper=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests running the scheduler in-process) is harmless.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A fresh W3C trace context for one worker call: version 00, random trace and span ids,
/// sampled. Workers that continue it join the call's trace.
pub fn current_traceparent() -> Option<String> {
    let trace: u128 = rand::random::<u128>() | 1;
    let span: u64 = rand::random::<u64>() | 1;
    Some(format!("00-{trace:032x}-{span:016x}-01"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn traceparent_is_well_formed() {
        let tp = super::current_traceparent().unwrap();
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
        assert!(parts[1].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
