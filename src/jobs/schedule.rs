//! When the periodic jobs run, as pure functions of "now" and a time zone, so that the
//! rules (daily at a local time across DST changes, calendar arithmetic for the purge
//! bound, 20-minute alignment) are unit-tested with fixed clocks and real zone rules.
//!
//! The zone is a parameter: production passes [`chrono::Local`] (the system zone:
//! `TZ`, else `/etc/localtime`, as node-schedule and JavaScript's `Date` use); tests
//! pass zones from `chrono-tz`.

use chrono::{
    DateTime, Days, LocalResult, Months, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc,
};

use crate::config::{DeletionUnit, TimeOfDay};

/// Where "now" comes from; tests inject a fixed or stepping clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The instant a local wall-clock time names. In a fall-back overlap (the time occurs
/// twice) the first one; in a spring-forward gap (it does not occur) the first instant
/// after the gap, i.e. the moment the clocks jump.
pub fn resolve_local<Tz: TimeZone>(zone: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
        LocalResult::None => {
            // Gaps are at most a few hours wide; step through them a minute at a time.
            (1..=24 * 60).find_map(|minutes| {
                let later = local.checked_add_signed(TimeDelta::minutes(minutes))?;
                match zone.from_local_datetime(&later) {
                    LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
                    LocalResult::Ambiguous(a, b) => {
                        Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc)))
                    }
                    LocalResult::None => None,
                }
            })
        }
    }
}

fn at(date: NaiveDate, time: TimeOfDay) -> Option<NaiveDateTime> {
    date.and_hms_opt(u32::from(time.hour), u32::from(time.minute), 0)
}

/// The next daily purge strictly after `after`: `time` (local, second 0) on the same
/// local day if still ahead, else on the next day. Exactly once per local day, also on
/// the days the clocks change.
pub fn next_purge<Tz: TimeZone>(after: DateTime<Utc>, time: TimeOfDay, zone: &Tz) -> DateTime<Utc> {
    let today = after.with_timezone(zone).date_naive();
    (0..=3)
        .filter_map(|days| today.checked_add_days(Days::new(days)))
        .filter_map(|date| at(date, time))
        .filter_map(|local| resolve_local(zone, local))
        .find(|instant| *instant > after)
        // Unreachable with a valid time of day; a day later is a safe answer anyway.
        .unwrap_or(after + TimeDelta::days(1))
}

/// The purge bound: `now` minus `value` × `unit`, on the local calendar (the same local
/// time of day `value` days/weeks/months/years earlier; months and years keep the day
/// of the month, clamped to the month's last day, so 31 March − 1 month is the end of
/// February). Rows older than the bound are deleted. A bound before the calendar's
/// range is the epoch (nothing is that old).
pub fn purge_bound<Tz: TimeZone>(
    now: DateTime<Utc>,
    unit: DeletionUnit,
    value: u32,
    zone: &Tz,
) -> DateTime<Utc> {
    let local = now.with_timezone(zone).naive_local();
    let earlier = match unit {
        DeletionUnit::Days => local.checked_sub_days(Days::new(u64::from(value))),
        DeletionUnit::Weeks => local.checked_sub_days(Days::new(7 * u64::from(value))),
        DeletionUnit::Months => local.checked_sub_months(Months::new(value)),
        DeletionUnit::Years => value
            .checked_mul(12)
            .and_then(|months| local.checked_sub_months(Months::new(months))),
    };
    earlier
        .and_then(|local| resolve_local(zone, local))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Seconds between two settings refreshes.
pub const REFRESH_PERIOD_S: i64 = 20 * 60;

/// The next settings refresh strictly after `after`: the next local wall-clock minute
/// 0, 20 or 40 (second 0), like the original's cron `*/20 * * * *`.
pub fn next_refresh<Tz: TimeZone>(after: DateTime<Utc>, zone: &Tz) -> DateTime<Utc> {
    let offset = i64::from(
        zone.offset_from_utc_datetime(&after.naive_utc())
            .fix()
            .local_minus_utc(),
    );
    let local = after.timestamp() + offset;
    let next_local = (local.div_euclid(REFRESH_PERIOD_S) + 1) * REFRESH_PERIOD_S;
    // A DST change shifts the offset by whole hours, which keeps the alignment.
    DateTime::from_timestamp(next_local - offset, 0).unwrap_or(after + TimeDelta::minutes(20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;
    use chrono_tz::{America, Asia};

    fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        let local = NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|date| date.and_hms_opt(h, mi, 0))
            .expect("valid date");
        resolve_local(&Berlin, local).expect("exists")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("RFC 3339")
    }

    fn hm(hour: u8, minute: u8) -> TimeOfDay {
        TimeOfDay { hour, minute }
    }

    #[test]
    fn purge_runs_later_today_or_tomorrow() {
        let now = berlin(2025, 1, 15, 2, 0);
        assert_eq!(
            next_purge(now, hm(3, 30), &Berlin),
            berlin(2025, 1, 15, 3, 30)
        );
        assert_eq!(
            next_purge(now, hm(1, 0), &Berlin),
            berlin(2025, 1, 16, 1, 0)
        );
        // Exactly at the time: the next run is tomorrow (never twice in one day).
        let at_run = berlin(2025, 1, 15, 3, 30);
        assert_eq!(
            next_purge(at_run, hm(3, 30), &Berlin),
            berlin(2025, 1, 16, 3, 30)
        );
        // Local time, not UTC: 03:30 in Berlin winter is 02:30 UTC.
        assert_eq!(
            next_purge(now, hm(3, 30), &Berlin),
            utc("2025-01-15T02:30:00Z")
        );
    }

    #[test]
    fn purge_keeps_local_time_across_spring_forward() {
        // 30 March 2025: 02:00 CET jumps to 03:00 CEST.
        let before = berlin(2025, 3, 29, 12, 0);
        let first = next_purge(before, hm(4, 0), &Berlin);
        assert_eq!(first, utc("2025-03-30T02:00:00Z"), "04:00 CEST");
        let second = next_purge(first, hm(4, 0), &Berlin);
        assert_eq!(second, utc("2025-03-31T02:00:00Z"));
        assert_eq!(second - first, TimeDelta::hours(24));
        // The day before the change the interval is 23 hours.
        let eve = next_purge(before, hm(1, 0), &Berlin);
        assert_eq!(eve, utc("2025-03-30T00:00:00Z"), "01:00 CET");
        assert_eq!(
            next_purge(eve, hm(1, 0), &Berlin),
            utc("2025-03-30T23:00:00Z"),
            "01:00 CEST the next day"
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_when_the_clocks_jump() {
        let before = berlin(2025, 3, 29, 12, 0);
        let run = next_purge(before, hm(2, 30), &Berlin);
        assert_eq!(run, utc("2025-03-30T01:00:00Z"), "03:00 CEST, once");
        assert_eq!(
            next_purge(run, hm(2, 30), &Berlin),
            utc("2025-03-31T00:30:00Z"),
            "02:30 CEST the next day"
        );
    }

    #[test]
    fn a_time_in_the_fall_overlap_runs_once() {
        // 26 October 2025: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let before = berlin(2025, 10, 25, 12, 0);
        let run = next_purge(before, hm(2, 30), &Berlin);
        assert_eq!(run, utc("2025-10-26T00:30:00Z"), "the first 02:30 (CEST)");
        let next = next_purge(run, hm(2, 30), &Berlin);
        assert_eq!(
            next,
            utc("2025-10-27T01:30:00Z"),
            "not the second 02:30 the same day"
        );
        assert_eq!(next - run, TimeDelta::hours(25));
    }

    #[test]
    fn purge_bound_for_each_unit() {
        let now = berlin(2025, 5, 20, 3, 0);
        assert_eq!(
            purge_bound(now, DeletionUnit::Days, 3, &Berlin),
            berlin(2025, 5, 17, 3, 0)
        );
        assert_eq!(
            purge_bound(now, DeletionUnit::Weeks, 2, &Berlin),
            berlin(2025, 5, 6, 3, 0)
        );
        assert_eq!(
            purge_bound(now, DeletionUnit::Months, 5, &Berlin),
            berlin(2024, 12, 20, 3, 0)
        );
        assert_eq!(
            purge_bound(now, DeletionUnit::Years, 2, &Berlin),
            berlin(2023, 5, 20, 3, 0)
        );
    }

    #[test]
    fn purge_bound_uses_the_calendar() {
        // Months keep the day, clamped to the month's end.
        let end_of_march = berlin(2025, 3, 31, 3, 0);
        assert_eq!(
            purge_bound(end_of_march, DeletionUnit::Months, 1, &Berlin),
            berlin(2025, 2, 28, 3, 0)
        );
        let leap_day = berlin(2024, 2, 29, 3, 0);
        assert_eq!(
            purge_bound(leap_day, DeletionUnit::Years, 1, &Berlin),
            berlin(2023, 2, 28, 3, 0)
        );
        // Days across a DST change keep the local time (23 or 25 real hours per day).
        let after_spring = berlin(2025, 3, 31, 3, 0);
        let bound = purge_bound(after_spring, DeletionUnit::Days, 2, &Berlin);
        assert_eq!(bound, berlin(2025, 3, 29, 3, 0));
        assert_eq!(after_spring - bound, TimeDelta::hours(47));
        let after_fall = berlin(2025, 10, 27, 1, 0);
        let bound = purge_bound(after_fall, DeletionUnit::Days, 1, &Berlin);
        assert_eq!(after_fall - bound, TimeDelta::hours(25));
        // Nothing is older than the calendar.
        assert_eq!(
            purge_bound(after_fall, DeletionUnit::Years, u32::MAX, &Berlin),
            DateTime::<Utc>::UNIX_EPOCH
        );
    }

    #[test]
    fn refresh_aligns_to_twenty_local_minutes() {
        assert_eq!(
            next_refresh(utc("2025-01-15T10:07:13Z"), &Berlin),
            utc("2025-01-15T10:20:00Z")
        );
        assert_eq!(
            next_refresh(utc("2025-01-15T10:20:00Z"), &Berlin),
            utc("2025-01-15T10:40:00Z"),
            "strictly after"
        );
        assert_eq!(
            next_refresh(utc("2025-01-15T10:59:59Z"), &Berlin),
            utc("2025-01-15T11:00:00Z")
        );
        // India (+05:30): local :00/:20/:40 are UTC :30/:50/:10.
        assert_eq!(
            next_refresh(utc("2025-01-15T10:00:00Z"), &Asia::Kolkata),
            utc("2025-01-15T10:10:00Z")
        );
        // Across a DST change the alignment holds.
        let run = next_refresh(utc("2025-03-09T06:55:00Z"), &America::New_York);
        assert_eq!(run, utc("2025-03-09T07:00:00Z"), "03:00 EDT");
        assert_eq!(
            next_refresh(run, &America::New_York),
            utc("2025-03-09T07:20:00Z")
        );
    }

    #[test]
    fn a_year_of_daily_runs_hits_every_local_day_once() {
        let mut run = berlin(2025, 1, 1, 0, 0);
        let mut days = std::collections::BTreeSet::new();
        for _ in 0..365 {
            run = next_purge(run, hm(2, 30), &Berlin);
            assert!(days.insert(run.with_timezone(&Berlin).date_naive()));
        }
        assert_eq!(days.len(), 365);
    }
}
