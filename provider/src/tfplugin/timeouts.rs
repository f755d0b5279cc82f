//! The `timeouts {}` block: per-operation deadlines the provider enforces itself, because
//! Terraform sets none.
use std::time::Duration;

use super::diagnostics::{Diagnostic, Diagnostics};
use super::path::AttributePath;
use super::schema::{Attribute, Block, NestedBlock, Nesting};
use super::types::Type;
use super::value::Value;

/// The operations a timeout can be set for.
pub const OPERATIONS: [&str; 4] = ["create", "read", "update", "delete"];

/// Default deadlines of a resource, used when the configuration sets none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub create: Duration,
    pub read: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            create: Duration::from_secs(30 * 60),
            read: Duration::from_secs(5 * 60),
            update: Duration::from_secs(30 * 60),
            delete: Duration::from_secs(30 * 60),
        }
    }
}

impl Timeouts {
    fn get(&self, op: &str) -> Duration {
        match op {
            "create" => self.create,
            "read" => self.read,
            "update" => self.update,
            _ => self.delete,
        }
    }

    /// The deadline for `op`, from the `timeouts` attribute of `obj` (a resource object) when
    /// it is set and valid, else the default.
    pub fn for_operation(&self, obj: &Value, op: &str) -> Duration {
        obj.get("timeouts")
            .and_then(|t| t.get(op))
            .and_then(Value::as_str)
            .and_then(|s| parse(s).ok())
            .unwrap_or_else(|| self.get(op))
    }
}

/// The schema of the block: `timeouts { create = "30m" … }`, every entry an optional duration.
pub fn block(defaults: &Timeouts) -> NestedBlock {
    let mut b = Block::new("How long each operation may take before the provider gives up. Durations like `30s`, `10m`, `1h30m`.");
    for op in OPERATIONS {
        b = b.attr(Attribute::optional(
            op,
            Type::String,
            &format!(
                "Deadline for {op} (default `{}`).",
                humantime::format_duration(defaults.get(op))
            ),
        ));
    }
    NestedBlock::new("timeouts", Nesting::Single, b)
}

/// Parses a Go-style duration (`30s`, `10m`, `1h30m`, `1h 30m`).
pub fn parse(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// Diagnostics for every malformed duration in the `timeouts` attribute of `config`.
pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let Some(t) = config.get("timeouts") else {
        return diags;
    };
    for op in OPERATIONS {
        if let Some(s) = t.get(op).and_then(Value::as_str) {
            if let Err(e) = parse(s) {
                diags.push(
                    Diagnostic::error(
                        "Invalid duration",
                        format!("{s:?} is not a duration ({e}); use forms like \"30s\", \"10m\" or \"1h30m\"."),
                    )
                    .at(AttributePath::attr("timeouts").join_attr(op)),
                );
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn parses_go_style_durations() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse("soon").is_err());
        assert!(parse("0s").is_err());
    }

    #[test]
    fn reads_configured_or_default() {
        let mut t = BTreeMap::new();
        t.insert("create".to_string(), Value::string("45s"));
        t.insert("delete".to_string(), Value::Null);
        let mut obj = BTreeMap::new();
        obj.insert("timeouts".to_string(), Value::Object(t));
        let obj = Value::Object(obj);
        let d = Timeouts::default();
        assert_eq!(d.for_operation(&obj, "create"), Duration::from_secs(45));
        assert_eq!(d.for_operation(&obj, "delete"), d.delete);
        assert_eq!(d.for_operation(&Value::Null, "update"), d.update);
    }

    #[test]
    fn validation_points_at_the_bad_entry() {
        let mut t = BTreeMap::new();
        t.insert("update".to_string(), Value::string("ten minutes"));
        let mut obj = BTreeMap::new();
        obj.insert("timeouts".to_string(), Value::Object(t));
        let diags = validate(&Value::Object(obj));
        assert_eq!(diags.0.len(), 1);
        assert_eq!(
            diags.0[0].path.as_ref().unwrap().to_string(),
            "timeouts.update"
        );
    }
}
