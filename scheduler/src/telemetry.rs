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

type FilterHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

static LOG_FILTER: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// kube-client's request layer logs every failed request at ERROR (hundreds of lines a second
/// while the API server is down); the scheduler reports API failures itself, an outage once
/// (`api_failure.rs`), so that layer is silenced.
fn filter_for(level: &str) -> EnvFilter {
    EnvFilter::new(format!(
        "{level},kube_runtime=warn,kube_client::client::builder=off,tower=warn,h2=warn,hyper=warn"
    ))
}

/// `RUST_LOG` as given, with kube-client's per-request error lines silenced as in
/// [`filter_for`] unless the directives name kube_client themselves: `RUST_LOG=info` must not
/// bring back a line per failed request during an API server outage.
fn quiet_client(directives: &str) -> String {
    if directives.contains("kube_client") {
        directives.to_string()
    } else {
        format!("{directives},kube_client::client::builder=off")
    }
}

/// Trace export settings (`tracing` in autopilot-operator.yaml).
#[derive(Debug, Clone, Default)]
pub struct TraceConfig {
    /// OTLP/gRPC collector; `None` keeps spans in process (trace ids still reach workers).
    pub otlp_endpoint: Option<String>,
    /// Fraction of root traces sampled.
    pub sample_ratio: f64,
    /// `service.name`.
    pub service_name: String,
}

static PROVIDER: std::sync::OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> =
    std::sync::OnceLock::new();

fn tracer_provider(config: &TraceConfig) -> opentelemetry_sdk::trace::SdkTracerProvider {
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))));
    if let Some(endpoint) = config.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
        {
            Ok(exporter) => {
                let processor =
                    opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                        exporter,
                        opentelemetry_sdk::runtime::Tokio,
                    )
                    .build();
                builder = builder.with_span_processor(processor);
            }
            Err(e) => eprintln!("autopilot-scheduler: OTLP exporter for {endpoint}: {e}"),
        }
    }
    builder.build()
}

/// Installs the global subscriber: logs, and OpenTelemetry spans for every tracing span (one
/// per reconcile and per worker call), exported over OTLP when configured. `RUST_LOG`, when
/// set, wins over `level` at start-up; a later [`set_log_level`] (a reload of `logLevel`)
/// replaces either.
pub fn init_logging(level: &str, format: LogFormat, traces: &TraceConfig) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(quiet_client(&directives)).unwrap_or_else(|_| filter_for(level))
        }
        _ => filter_for(level),
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let provider = tracer_provider(traces);
    let tracer = provider.tracer("autopilot-scheduler");
    // Spans are recorded whatever the log level: the trace must not depend on it.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.is_span() && m.name() != "HTTP"
        }));
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_target(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_filter(filter)
            .boxed(),
    };
    // A second init (tests running the scheduler in-process) is harmless.
    if tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok()
    {
        let _ = LOG_FILTER.set(handle);
        let _ = PROVIDER.set(provider);
    }
}

/// Flushes spans not yet exported (on shutdown).
pub fn shutdown_tracing() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
    }
}

/// The trace id of the current span (32 hex digits), when it is recorded.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Replaces the log level (config reload).
pub fn set_log_level(level: &str) -> Result<(), String> {
    match LOG_FILTER.get() {
        Some(h) => h.reload(filter_for(level)).map_err(|e| e.to_string()),
        None => Err("logging was not initialised by the scheduler".into()),
    }
}

/// The W3C trace context of the current span (a worker call's span), for the worker to
/// continue: version 00, the span's trace and span ids, and its sampled flag. Outside a
/// recorded span (no subscriber installed), a fresh random context.
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        return Some(format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        ));
    }
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
