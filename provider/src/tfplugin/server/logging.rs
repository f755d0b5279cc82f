//! Logs to stderr in the JSON shape go-plugin understands (`@level`, `@message`,
//! `@timestamp`), so Terraform files each line under the right level in `TF_LOG` output.
//! stdout is reserved for the handshake line.
use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

struct GoPluginJson;

/// Collects an event's fields: `message` separately, the rest as JSON.
#[derive(Default)]
struct Fields {
    message: String,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.extra
                .insert(field.name().to_string(), format!("{value:?}").into());
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.extra.insert(field.name().to_string(), value.into());
        }
    }
}

impl<S, N> FormatEvent<S, N> for GoPluginJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            Level::TRACE => "trace",
            Level::DEBUG => "debug",
            Level::INFO => "info",
            Level::WARN => "warn",
            Level::ERROR => "error",
        };
        let mut obj = fields.extra;
        obj.insert("@level".into(), level.into());
        obj.insert("@message".into(), fields.message.into());
        obj.insert(
            "@timestamp".into(),
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        obj.insert(
            "@module".into(),
            format!("provider.{}", event.metadata().target()).into(),
        );
        writeln!(w, "{}", serde_json::Value::Object(obj))
    }
}

/// The level Terraform asked for: `TF_LOG_PROVIDER`, else `TF_LOG`, else warnings only.
fn level_from_env() -> String {
    let raw = std::env::var("TF_LOG_PROVIDER")
        .or_else(|_| std::env::var("TF_LOG"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    match raw.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => raw,
        // TF_LOG=json or =1 mean "everything".
        "json" | "1" | "true" => "trace".into(),
        _ => "warn".into(),
    }
}

/// Installs the stderr logger once; later calls do nothing.
pub fn init_logging() {
    // Transport crates are chatty at debug (every HTTP/2 frame); keep them to warnings so
    // TF_LOG=debug shows the provider's own story.
    let filter = EnvFilter::new(format!(
        "{},h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn,rustls=warn,aws_smithy_runtime=info,aws_config=info",
        level_from_env()
    ));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .event_format(GoPluginJson)
        .try_init();
}
