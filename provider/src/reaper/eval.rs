//! The idle clock: pure functions from a policy, the reaper's memory, what CloudWatch says and
//! the time to `last_activity_at`, `idle_since`, `destroy_after` and a status. The resource's
//! Read and the reaper both call [`evaluate`], so `terraform plan` shows what the reaper will do.
//!
//! Rules:
//! - Activity is a CloudWatch period in which any signal is above its threshold, or has no
//!   data under `missing_data = "active"` (periods outside working hours excepted).
//! - `idle_since` is the latest of: the last activity (seen now or remembered), when the policy
//!   was attached, when the environment came back from a pause, and `snooze_until`.
//! - `destroy_after = idle_since + idle_days`; the warning is due `warn_before_hours` earlier.
//! - Paused time is not idle time: while the environment is paused (other than by the working
//!   hours schedule) the clock stops, and it restarts from zero when the environment resumes.
//!   Scheduled off-hours do count: `idle_days` are calendar days.
use jiff::{SignedDuration, Timestamp};

use super::policy::{Memory, Missing, Policy, Schedule, Signal};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Used recently; nothing will happen before `destroy_after`.
    Active,
    /// Within `warn_before_hours` of `destroy_after`: the warning goes out.
    Warning,
    /// Past `destroy_after`: the reaper acts on its next run.
    Due,
    /// `snooze_until` is in the future.
    Snoozed,
    /// `enabled = false`.
    Disabled,
    /// The environment is paused (not by the schedule): the idle clock is stopped.
    Paused,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Warning => "warning",
            Status::Due => "due",
            Status::Snoozed => "snoozed",
            Status::Disabled => "disabled",
            Status::Paused => "paused",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub last_activity_at: Option<Timestamp>,
    pub idle_since: Option<Timestamp>,
    pub destroy_after: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
    pub status: Status,
}

/// What the environment looks like right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Any target paused or stopped.
    pub paused: bool,
}

pub fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

/// True when the pause in force is the working-hours schedule's.
pub fn schedule_pause(mem: &Memory) -> bool {
    mem.paused_by.as_deref() == Some("schedule")
}

pub fn evaluate(
    policy: &Policy,
    mem: &Memory,
    observed: Observed,
    cloudwatch_activity: Option<Timestamp>,
    now: Timestamp,
) -> Evaluation {
    let last_activity_at = cloudwatch_activity.max(mem.last_activity);
    let idle_since = [
        mem.since,
        last_activity_at,
        mem.resumed_at,
        policy.snooze_until,
    ]
    .into_iter()
    .flatten()
    .max();
    let idle = hours(policy.idle_days * 24);
    let destroy_after = idle_since.and_then(|t| t.checked_add(idle).ok());
    let warn_at = destroy_after.and_then(|t| t.checked_sub(hours(policy.warn_before_hours)).ok());
    let clock_stopped = observed.paused && !schedule_pause(mem);
    let status = if !policy.enabled {
        Status::Disabled
    } else if policy.snooze_until.is_some_and(|s| s > now) {
        Status::Snoozed
    } else if clock_stopped {
        Status::Paused
    } else {
        match (destroy_after, warn_at) {
            (Some(d), _) if now >= d => Status::Due,
            (_, Some(w)) if now >= w => Status::Warning,
            _ => Status::Active,
        }
    };
    let (destroy_after, warn_at) = match status {
        Status::Disabled | Status::Paused => (None, None),
        _ => (destroy_after, warn_at),
    };
    Evaluation {
        last_activity_at,
        idle_since,
        destroy_after,
        warn_at,
        status,
    }
}

/// The time range and period the reaper reads metrics over: aligned to the period so that the
/// same data gives the same buckets at every refresh within the period (no perpetual diffs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub period: i64,
}

/// At most this many data points per query, so 500 queries fit one GetMetricData call
/// (100,800 data points).
pub const MAX_POINTS: i64 = 200;

impl Window {
    /// Covers `idle_days` plus a day, ending with the period that contains `now`.
    pub fn for_policy(idle_days: i64, now: Timestamp) -> Window {
        let lookback = (idle_days.max(1) + 1) * 3600 * 24;
        let period = {
            let hours = (lookback / 3600 + MAX_POINTS - 1) / MAX_POINTS;
            hours.max(1) * 3600
        };
        let n = (lookback + period - 1) / period;
        let end = now.as_second().div_euclid(period) * period + period;
        Window {
            start: end - n * period,
            end,
            period,
        }
    }

    /// Bucket start times that have begun by `now`, newest first.
    pub fn buckets_desc(&self, now: Timestamp) -> impl Iterator<Item = i64> + '_ {
        let now = now.as_second();
        let mut t = self.end - self.period;
        std::iter::from_fn(move || {
            while t >= self.start {
                let b = t;
                t -= self.period;
                if b <= now {
                    return Some(b);
                }
            }
            None
        })
    }
}

/// The latest activity in one signal's series (`(bucket start, value)` points).
pub fn latest_activity(
    signal: &Signal,
    points: &[(i64, f64)],
    window: &Window,
    schedule: Option<&Schedule>,
    now: Timestamp,
) -> Option<Timestamp> {
    let present: std::collections::BTreeMap<i64, f64> = points.iter().copied().collect();
    for b in window.buckets_desc(now) {
        let active = match present.get(&b) {
            Some(v) => *v > signal.threshold,
            None => {
                signal.missing == Missing::Active
                    && schedule
                        .is_none_or(|s| Timestamp::from_second(b).is_ok_and(|t| s.in_hours(t)))
            }
        };
        if active {
            return Timestamp::from_second(b).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reaper::policy::{parse_ts, Action, SignalKind};

    fn ts(s: &str) -> Timestamp {
        parse_ts(s).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            name: "p".into(),
            environment: None,
            idle_days: 7,
            warn_before_hours: 24,
            notify_topic_arn: None,
            action: Action::Destroy,
            final_snapshot: true,
            enabled: true,
            snooze_until: None,
            signals: vec![],
            schedule: None,
        }
    }

    fn mem(since: &str) -> Memory {
        Memory {
            since: Some(ts(since)),
            ..Default::default()
        }
    }

    #[test]
    fn the_timeline_moves_from_active_to_due() {
        let p = policy();
        let m = mem("2026-03-01T00:00:00Z");
        let act = Some(ts("2026-03-02T10:00:00Z"));
        let at = |now: &str| evaluate(&p, &m, Observed::default(), act, ts(now));
        let e = at("2026-03-05T00:00:00Z");
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.idle_since, act);
        assert_eq!(e.destroy_after, Some(ts("2026-03-09T10:00:00Z")));
        assert_eq!(at("2026-03-08T10:00:00Z").status, Status::Warning);
        assert_eq!(at("2026-03-09T10:00:00Z").status, Status::Due);
        // The same inputs give the same outputs later in the same state: only status moves.
        assert_eq!(at("2026-03-09T11:00:00Z").destroy_after, e.destroy_after);
    }

    #[test]
    fn disabled_snoozed_and_paused_never_come_due() {
        let m = mem("2026-01-01T00:00:00Z");
        let now = ts("2026-03-01T00:00:00Z");
        let mut p = policy();
        p.enabled = false;
        let e = evaluate(&p, &m, Observed::default(), None, now);
        assert_eq!((e.status, e.destroy_after), (Status::Disabled, None));
        let mut p = policy();
        p.snooze_until = Some(ts("2026-03-10T00:00:00Z"));
        let e = evaluate(&p, &m, Observed::default(), None, now);
        assert_eq!(e.status, Status::Snoozed);
        // After the snooze the clock starts at its end.
        assert_eq!(e.destroy_after, Some(ts("2026-03-17T00:00:00Z")));
        let e = evaluate(&policy(), &m, Observed { paused: true }, None, now);
        assert_eq!((e.status, e.destroy_after), (Status::Paused, None));
        // A schedule pause does not stop the clock.
        let mut ms = m.clone();
        ms.paused_by = Some("schedule".into());
        let e = evaluate(&policy(), &ms, Observed { paused: true }, None, now);
        assert_eq!(e.status, Status::Due);
        // Resuming restarts the clock.
        let mut mr = m.clone();
        mr.resumed_at = Some(ts("2026-02-28T00:00:00Z"));
        let e = evaluate(&policy(), &mr, Observed::default(), None, now);
        assert_eq!(e.status, Status::Active);
    }

    #[test]
    fn windows_are_aligned_and_bounded() {
        let w = Window::for_policy(7, ts("2026-03-09T10:17:00Z"));
        assert_eq!(w.period, 3600);
        assert_eq!(w.end, ts("2026-03-09T11:00:00Z").as_second());
        assert_eq!((w.end - w.start) / w.period, 192);
        assert_eq!(w, Window::for_policy(7, ts("2026-03-09T10:59:59Z")));
        for days in [1, 7, 8, 30, 90, 400] {
            let w = Window::for_policy(days, ts("2026-03-09T10:17:00Z"));
            assert!((w.end - w.start) / w.period <= MAX_POINTS, "{days}");
            assert!(w.end - w.start >= (days + 1) * 86400, "{days}");
        }
    }

    #[test]
    fn missing_data_follows_the_signal_rule() {
        let now = ts("2026-03-09T10:17:00Z");
        let w = Window::for_policy(7, now);
        let h = |s: &str| ts(s).as_second();
        let conns = Signal {
            kind: SignalKind::RdsConnections,
            threshold: 3.0,
            missing: Missing::Idle,
        };
        // A pool that always holds 2 connections is idle; 5 is activity.
        let pool: Vec<(i64, f64)> = w.buckets_desc(now).map(|b| (b, 2.0)).collect();
        assert_eq!(latest_activity(&conns, &pool, &w, None, now), None);
        let mut busy = pool.clone();
        busy.push((h("2026-03-05T09:00:00Z"), 5.0));
        busy.retain(|(b, v)| *b != h("2026-03-05T09:00:00Z") || *v == 5.0);
        assert_eq!(
            latest_activity(&conns, &busy, &w, None, now),
            Some(ts("2026-03-05T09:00:00Z"))
        );
        // No data at all: idle under "idle", the current period under "active".
        assert_eq!(latest_activity(&conns, &[], &w, None, now), None);
        let active = Signal {
            missing: Missing::Active,
            ..conns.clone()
        };
        assert_eq!(
            latest_activity(&active, &[], &w, None, now),
            Some(ts("2026-03-09T10:00:00Z"))
        );
        // …except outside working hours.
        let sched = Schedule::new(&["mon".into()], "08:00", "09:00", "UTC").unwrap();
        assert_eq!(
            latest_activity(&active, &[], &w, Some(&sched), now),
            Some(ts("2026-03-09T08:00:00Z"))
        );
    }
}
