//! An auto-destroy policy as it lives on AWS: tags on every target. The resource writes the
//! policy tags; the reaper reads them back and adds its own bookkeeping tags (see [`tag`]).
//!
//! Tag values keep to the characters every service accepts in tags (letters, digits, spaces and
//! `_ . : / = + - @`), so lists are space separated and day lists joined with `+`.
use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Tag keys. The key [`tag::POLICY`] (value: the policy name) is what the reaper searches for.
pub mod tag {
    /// Policy name; presence of this key enrols the object in a policy.
    pub const POLICY: &str = "stagecraft:auto-destroy";
    /// Prefix of every other key the policy and the reaper write.
    pub const PREFIX: &str = "stagecraft:auto-destroy:";

    // Written by the resource (the policy itself).
    pub const ENVIRONMENT: &str = "stagecraft:auto-destroy:environment";
    pub const IDLE_DAYS: &str = "stagecraft:auto-destroy:idle-days";
    pub const WARN_HOURS: &str = "stagecraft:auto-destroy:warn-hours";
    pub const TOPIC: &str = "stagecraft:auto-destroy:topic";
    pub const ACTION: &str = "stagecraft:auto-destroy:action";
    pub const FINAL_SNAPSHOT: &str = "stagecraft:auto-destroy:final-snapshot";
    pub const ENABLED: &str = "stagecraft:auto-destroy:enabled";
    pub const SNOOZE_UNTIL: &str = "stagecraft:auto-destroy:snooze-until";
    pub const SCHEDULE: &str = "stagecraft:auto-destroy:schedule";
    /// `stagecraft:auto-destroy:signal-1`, `-2`, …
    pub const SIGNAL_PREFIX: &str = "stagecraft:auto-destroy:signal-";
    /// When the policy was first attached: the idle clock never starts earlier.
    pub const SINCE: &str = "stagecraft:auto-destroy:since";

    // Written by the reaper (its memory between runs).
    /// Latest activity the reaper has seen (CloudWatch keeps data for a limited time).
    pub const LAST_ACTIVITY: &str = "stagecraft:auto-destroy:last-activity";
    /// The deadline the warning was sent for, and when it was sent.
    pub const WARNED_FOR: &str = "stagecraft:auto-destroy:warned-for";
    pub const WARNED_AT: &str = "stagecraft:auto-destroy:warned-at";
    /// `idle` (the policy paused it) or `schedule` (outside working hours), and when.
    pub const PAUSED_BY: &str = "stagecraft:auto-destroy:paused-by";
    pub const PAUSED_AT: &str = "stagecraft:auto-destroy:paused-at";
    /// A pause nobody in stagecraft made, first seen at this time.
    pub const PAUSE_SEEN: &str = "stagecraft:auto-destroy:pause-seen";
    /// The environment came back from a pause: the idle clock restarts here.
    pub const RESUMED_AT: &str = "stagecraft:auto-destroy:resumed-at";

    /// An ECS service's desired count before the reaper paused it (set to 0), restored on
    /// resume. Outside the policy's prefix: removing the policy keeps it, so the count can
    /// still be restored by hand.
    pub const PAUSED_DESIRED_COUNT: &str = "stagecraft:paused-desired-count";

    /// Keys the resource owns (rewritten on every apply); the rest belong to the reaper.
    pub fn is_policy_key(k: &str) -> bool {
        k == POLICY
            || k.starts_with(SIGNAL_PREFIX)
            || [
                ENVIRONMENT,
                IDLE_DAYS,
                WARN_HOURS,
                TOPIC,
                ACTION,
                FINAL_SNAPSHOT,
                ENABLED,
                SNOOZE_UNTIL,
                SCHEDULE,
            ]
            .contains(&k)
    }

    /// Every key stagecraft's auto-destroy writes (removed when the policy is removed).
    pub fn is_ours(k: &str) -> bool {
        k == POLICY || k.starts_with(PREFIX)
    }
}

pub const DEFAULT_IDLE_DAYS: i64 = 7;
pub const DEFAULT_WARN_HOURS: i64 = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Destroy,
    Pause,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "destroy" => Some(Action::Destroy),
            "pause" => Some(Action::Pause),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Pause => "pause",
        }
    }
}

/// What a period without data means for a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No data is no activity (App Runner and load balancers publish no request metric without
    /// traffic).
    Idle,
    /// No data counts as activity: the safe choice for a metric that should always be there.
    Active,
}

impl Missing {
    pub fn parse(s: &str) -> Option<Missing> {
        match s {
            "idle" => Some(Missing::Idle),
            "active" => Some(Missing::Active),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Missing::Idle => "idle",
            Missing::Active => "active",
        }
    }
}

/// Where a signal's metric comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalKind {
    /// `AWS/AppRunner Requests` (Sum) of each App Runner target.
    AppRunnerRequests,
    /// `AWS/RDS DatabaseConnections` (Maximum) of each RDS target.
    RdsConnections,
    /// Any CloudWatch metric, e.g. `AWS/ApplicationELB RequestCount` for an ECS service.
    Metric {
        namespace: String,
        metric_name: String,
        stat: String,
        dimensions: BTreeMap<String, String>,
    },
}

impl SignalKind {
    pub fn name(&self) -> &'static str {
        match self {
            SignalKind::AppRunnerRequests => "app_runner_requests",
            SignalKind::RdsConnections => "rds_connections",
            SignalKind::Metric { .. } => "metric",
        }
    }
}

/// One activity signal: a period is active when the statistic is above `threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    pub kind: SignalKind,
    pub threshold: f64,
    pub missing: Missing,
}

impl Signal {
    /// `app_runner_requests 0 idle`, `rds_connections 5 idle`,
    /// `metric 0 idle Sum AWS/ApplicationELB RequestCount LoadBalancer=app/web/1`.
    pub fn encode(&self) -> String {
        let head = format!(
            "{} {} {}",
            self.kind.name(),
            fmt_num(self.threshold),
            self.missing.as_str()
        );
        match &self.kind {
            SignalKind::Metric {
                namespace,
                metric_name,
                stat,
                dimensions,
            } => {
                let mut s = format!("{head} {stat} {namespace} {metric_name}");
                for (k, v) in dimensions {
                    s.push_str(&format!(" {k}={v}"));
                }
                s
            }
            _ => head,
        }
    }

    pub fn decode(s: &str) -> Option<Signal> {
        let mut parts = s.split_whitespace();
        let kind = parts.next()?;
        let threshold: f64 = parts.next()?.parse().ok()?;
        let missing = Missing::parse(parts.next()?)?;
        let kind = match kind {
            "app_runner_requests" => SignalKind::AppRunnerRequests,
            "rds_connections" => SignalKind::RdsConnections,
            "metric" => {
                let stat = parts.next()?.to_string();
                let namespace = parts.next()?.to_string();
                let metric_name = parts.next()?.to_string();
                let mut dimensions = BTreeMap::new();
                for d in parts.by_ref() {
                    let (k, v) = d.split_once('=')?;
                    dimensions.insert(k.to_string(), v.to_string());
                }
                SignalKind::Metric {
                    namespace,
                    metric_name,
                    stat,
                    dimensions,
                }
            }
            _ => return None,
        };
        Some(Signal {
            kind,
            threshold,
            missing,
        })
    }
}

fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Working hours: the environment runs on `days` from `start` to `stop` (local time in
/// `time_zone`) and is paused outside them.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Monday = 0 … Sunday = 6.
    pub days: [bool; 7],
    /// Minutes after local midnight.
    pub start: u32,
    pub stop: u32,
    pub time_zone: String,
}

pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub fn fmt_hhmm(mins: u32) -> String {
    format!("{:02}:{:02}", mins / 60, mins % 60)
}

impl Schedule {
    pub fn new(days: &[String], start: &str, stop: &str, time_zone: &str) -> Result<Self, String> {
        let mut set = [false; 7];
        for d in days {
            let i = DAY_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(d))
                .ok_or_else(|| format!("{d:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"))?;
            set[i] = true;
        }
        if !set.iter().any(|b| *b) {
            return Err("at least one working day is needed".into());
        }
        let start_m = parse_hhmm(start).ok_or_else(|| format!("{start:?} is not HH:MM"))?;
        let stop_m = parse_hhmm(stop).ok_or_else(|| format!("{stop:?} is not HH:MM"))?;
        if start_m >= stop_m {
            return Err(format!(
                "start {start} must be before stop {stop} (working hours within one day)"
            ));
        }
        TimeZone::get(time_zone).map_err(|e| format!("unknown time zone {time_zone:?}: {e}"))?;
        Ok(Schedule {
            days: set,
            start: start_m,
            stop: stop_m,
            time_zone: time_zone.to_string(),
        })
    }

    pub fn day_names(&self) -> Vec<String> {
        DAY_NAMES
            .iter()
            .zip(self.days)
            .filter(|(_, on)| *on)
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// `mon+tue+wed+thu+fri 08:00-19:00 Europe/Berlin`
    pub fn encode(&self) -> String {
        format!(
            "{} {}-{} {}",
            self.day_names().join("+"),
            fmt_hhmm(self.start),
            fmt_hhmm(self.stop),
            self.time_zone
        )
    }

    pub fn decode(s: &str) -> Option<Schedule> {
        let mut parts = s.split_whitespace();
        let days: Vec<String> = parts.next()?.split('+').map(str::to_string).collect();
        let (start, stop) = parts.next()?.split_once('-')?;
        let tz = parts.next()?;
        Schedule::new(&days, start, stop, tz).ok()
    }

    /// True when `at` falls inside working hours (DST handled by the time zone rules).
    pub fn in_hours(&self, at: Timestamp) -> bool {
        let Ok(tz) = TimeZone::get(&self.time_zone) else {
            // Validated when built; an unknown zone (older tzdb) keeps the environment running.
            return true;
        };
        let z = at.to_zoned(tz);
        let day = weekday_index(z.weekday());
        let minute = z.hour() as u32 * 60 + z.minute() as u32;
        self.days[day] && minute >= self.start && minute < self.stop
    }
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

/// A policy, as configured.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    /// The `staging_environment` the policy covers, when it was given by environment.
    pub environment: Option<String>,
    pub idle_days: i64,
    pub warn_before_hours: i64,
    pub notify_topic_arn: Option<String>,
    pub action: Action,
    pub final_snapshot: bool,
    pub enabled: bool,
    pub snooze_until: Option<Timestamp>,
    pub signals: Vec<Signal>,
    pub schedule: Option<Schedule>,
}

impl Policy {
    /// The policy tags (without the reaper's bookkeeping).
    pub fn to_tags(&self) -> BTreeMap<String, String> {
        let mut t = BTreeMap::new();
        t.insert(tag::POLICY.to_string(), self.name.clone());
        if let Some(e) = &self.environment {
            t.insert(tag::ENVIRONMENT.into(), e.clone());
        }
        t.insert(tag::IDLE_DAYS.into(), self.idle_days.to_string());
        t.insert(tag::WARN_HOURS.into(), self.warn_before_hours.to_string());
        if let Some(topic) = &self.notify_topic_arn {
            t.insert(tag::TOPIC.into(), topic.clone());
        }
        t.insert(tag::ACTION.into(), self.action.as_str().into());
        t.insert(tag::FINAL_SNAPSHOT.into(), self.final_snapshot.to_string());
        t.insert(tag::ENABLED.into(), self.enabled.to_string());
        if let Some(s) = self.snooze_until {
            t.insert(tag::SNOOZE_UNTIL.into(), fmt_ts(s));
        }
        if let Some(s) = &self.schedule {
            t.insert(tag::SCHEDULE.into(), s.encode());
        }
        for (i, s) in self.signals.iter().enumerate() {
            t.insert(format!("{}{}", tag::SIGNAL_PREFIX, i + 1), s.encode());
        }
        t
    }

    /// Reads a policy back from an object's tags; `Err` names what is wrong. Missing optional
    /// settings fall back to their defaults; an unreadable one is an error (never guessed).
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Result<Policy, String> {
        let name = tags
            .get(tag::POLICY)
            .cloned()
            .ok_or("no policy tag")?
            .to_string();
        let int = |k: &str, d: i64| -> Result<i64, String> {
            match tags.get(k) {
                None => Ok(d),
                Some(v) => v.parse().map_err(|_| format!("{k}={v:?} is not a number")),
            }
        };
        let boolean = |k: &str, d: bool| -> Result<bool, String> {
            match tags.get(k).map(String::as_str) {
                None => Ok(d),
                Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(v) => Err(format!("{k}={v:?} is not true/false")),
            }
        };
        let action = match tags.get(tag::ACTION) {
            None => Action::Destroy,
            Some(a) => Action::parse(a).ok_or_else(|| format!("unknown action {a:?}"))?,
        };
        let snooze_until = match tags.get(tag::SNOOZE_UNTIL) {
            None => None,
            Some(s) => {
                Some(parse_ts(s).ok_or_else(|| format!("snooze-until {s:?} is not RFC3339"))?)
            }
        };
        let schedule = match tags.get(tag::SCHEDULE) {
            None => None,
            Some(s) => {
                Some(Schedule::decode(s).ok_or_else(|| format!("unreadable schedule {s:?}"))?)
            }
        };
        let mut numbered: Vec<(u32, Signal)> = vec![];
        for (k, v) in tags {
            if let Some(n) = k.strip_prefix(tag::SIGNAL_PREFIX) {
                let n: u32 = n.parse().map_err(|_| format!("bad signal tag {k}"))?;
                let s = Signal::decode(v).ok_or_else(|| format!("unreadable signal {v:?}"))?;
                numbered.push((n, s));
            }
        }
        numbered.sort_by_key(|(n, _)| *n);
        Ok(Policy {
            name,
            environment: tags.get(tag::ENVIRONMENT).cloned(),
            idle_days: int(tag::IDLE_DAYS, DEFAULT_IDLE_DAYS)?,
            warn_before_hours: int(tag::WARN_HOURS, DEFAULT_WARN_HOURS)?,
            notify_topic_arn: tags.get(tag::TOPIC).cloned(),
            action,
            final_snapshot: boolean(tag::FINAL_SNAPSHOT, true)?,
            enabled: boolean(tag::ENABLED, true)?,
            snooze_until,
            signals: numbered.into_iter().map(|(_, s)| s).collect(),
            schedule,
        })
    }
}

/// The reaper's memory, read from the same tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Memory {
    pub since: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub warned_for: Option<Timestamp>,
    pub warned_at: Option<Timestamp>,
    pub paused_by: Option<String>,
    pub paused_at: Option<Timestamp>,
    pub pause_seen: Option<Timestamp>,
    pub resumed_at: Option<Timestamp>,
}

impl Memory {
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Memory {
        let ts = |k: &str| tags.get(k).and_then(|v| parse_ts(v));
        Memory {
            since: ts(tag::SINCE),
            last_activity: ts(tag::LAST_ACTIVITY),
            warned_for: ts(tag::WARNED_FOR),
            warned_at: ts(tag::WARNED_AT),
            paused_by: tags.get(tag::PAUSED_BY).cloned(),
            paused_at: ts(tag::PAUSED_AT),
            pause_seen: ts(tag::PAUSE_SEEN),
            resumed_at: ts(tag::RESUMED_AT),
        }
    }

    /// Merges what several targets remember: the latest of each time (tags are written to
    /// every target, but a partial failure may have reached only some).
    pub fn merge(&mut self, other: &Memory) {
        fn later(a: &mut Option<Timestamp>, b: Option<Timestamp>) {
            if b > *a {
                *a = b;
            }
        }
        // `since` is the earliest attachment that is still in force: keep the oldest.
        if self.since.is_none() || (other.since.is_some() && other.since < self.since) {
            self.since = other.since;
        }
        later(&mut self.last_activity, other.last_activity);
        if other.warned_for > self.warned_for {
            self.warned_for = other.warned_for;
            self.warned_at = other.warned_at;
        }
        if self.paused_by.is_none() {
            self.paused_by = other.paused_by.clone();
            self.paused_at = other.paused_at;
        }
        later(&mut self.pause_seen, other.pause_seen);
        later(&mut self.resumed_at, other.resumed_at);
    }
}

/// RFC3339 in UTC, whole seconds: `2026-03-02T12:00:00Z`.
pub fn fmt_ts(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub fn parse_ts(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            name: "app-staging".into(),
            environment: Some("app-staging".into()),
            idle_days: 7,
            warn_before_hours: 24,
            notify_topic_arn: Some("arn:aws:sns:us-east-1:123456789012:staging".into()),
            action: Action::Pause,
            final_snapshot: true,
            enabled: true,
            snooze_until: parse_ts("2026-12-24T00:00:00Z"),
            signals: vec![
                Signal {
                    kind: SignalKind::AppRunnerRequests,
                    threshold: 0.0,
                    missing: Missing::Idle,
                },
                Signal {
                    kind: SignalKind::RdsConnections,
                    threshold: 2.5,
                    missing: Missing::Active,
                },
                Signal {
                    kind: SignalKind::Metric {
                        namespace: "AWS/ApplicationELB".into(),
                        metric_name: "RequestCount".into(),
                        stat: "Sum".into(),
                        dimensions: [(
                            "LoadBalancer".to_string(),
                            "app/web/50dc6c495c0c9188".to_string(),
                        )]
                        .into_iter()
                        .collect(),
                    },
                    threshold: 0.0,
                    missing: Missing::Idle,
                },
            ],
            schedule: Some(
                Schedule::new(
                    &["mon".into(), "fri".into()],
                    "08:00",
                    "19:30",
                    "America/New_York",
                )
                .unwrap(),
            ),
        }
    }

    #[test]
    fn tags_round_trip_and_use_only_portable_characters() {
        let p = policy();
        let tags = p.to_tags();
        assert_eq!(Policy::from_tags(&tags).unwrap(), p);
        for (k, v) in &tags {
            assert!(k.len() <= 128 && v.len() <= 256, "{k}={v}");
            let ok = |c: char| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c);
            assert!(k.chars().all(ok) && v.chars().all(ok), "{k}={v}");
            assert!(tag::is_ours(k) && tag::is_policy_key(k), "{k}");
        }
    }

    #[test]
    fn unreadable_tags_are_errors_not_guesses() {
        let mut tags = policy().to_tags();
        tags.insert(tag::ACTION.into(), "nuke".into());
        assert!(Policy::from_tags(&tags).unwrap_err().contains("nuke"));
        let mut tags = policy().to_tags();
        tags.insert(tag::ENABLED.into(), "yes".into());
        assert!(Policy::from_tags(&tags).is_err());
    }

    #[test]
    fn schedule_follows_the_time_zone_and_dst() {
        let s = Schedule::new(
            &[
                "mon".into(),
                "tue".into(),
                "wed".into(),
                "thu".into(),
                "fri".into(),
            ],
            "08:00",
            "19:00",
            "Europe/Berlin",
        )
        .unwrap();
        // Monday 2026-03-02: 07:30 UTC = 08:30 CET.
        assert!(s.in_hours(parse_ts("2026-03-02T07:30:00Z").unwrap()));
        assert!(!s.in_hours(parse_ts("2026-03-02T06:30:00Z").unwrap()));
        // Summer time (CEST, UTC+2): 06:30 UTC = 08:30 local.
        assert!(s.in_hours(parse_ts("2026-07-06T06:30:00Z").unwrap()));
        assert!(!s.in_hours(parse_ts("2026-07-06T17:30:00Z").unwrap()));
        // Saturday.
        assert!(!s.in_hours(parse_ts("2026-03-07T10:00:00Z").unwrap()));
        assert!(Schedule::new(&["mon".into()], "19:00", "08:00", "UTC").is_err());
        assert!(Schedule::new(&["mon".into()], "08:00", "19:00", "Mars/Olympus").is_err());
    }
}
