//! A page's range (`?range=7d`, `?range=custom&from=&to=`) resolved against
//! the site's time zone into the UTC instants the rollups are keyed by.
//! Pure: `today` comes in as an argument, so tests need no clock.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;

/// The longest custom range, so one request cannot ask for decades.
pub const MAX_DAYS: u64 = 366;

/// Days `from..=to` in the site's zone and the UTC span they cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub range: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The last day only until this instant (`until=HH:MM`): the day-keyed
    /// rollups take the days before it whole and that day from finer rows.
    pub cut: Option<DateTime<Utc>>,
}

impl Span {
    /// Where the span's data ends: `cut`, or the midnight after its last
    /// day.
    pub fn stop(&self) -> DateTime<Utc> {
        self.cut.unwrap_or(self.end)
    }

    /// This span with its last day ending at local `time`; a time the
    /// clocks skip (a DST gap) is the first instant after it, as
    /// [`midnight`] does, and the cut stays within the day.
    pub fn until(mut self, time: NaiveTime, tz: Tz) -> Span {
        let mut local = self.to.and_time(time);
        let mut at = self.end;
        for _ in 0..8 {
            if let Some(t) = tz.from_local_datetime(&local).earliest() {
                at = t.with_timezone(&Utc);
                break;
            }
            local += chrono::Duration::minutes(15);
        }
        self.cut = Some(at.clamp(midnight(self.to, tz), self.end));
        self
    }

    /// When this span runs until `now`, how far into `previous` a fair
    /// comparison goes: the day as many days into it as today is into this
    /// span, until the quarter hour `now` ends in (local time, `HH:MM`;
    /// `None` past 23:45, the whole day). `None` for a span in the past.
    pub fn elapsed_in(
        &self,
        previous: &Span,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Option<(NaiveDate, Option<NaiveTime>)> {
        if now < self.start || now >= self.stop() {
            return None;
        }
        let local = now.with_timezone(&tz);
        let into = (local.date_naive() - self.from).num_days().unsigned_abs();
        let day = previous.from + Days::new(into);
        let quarters = (local.hour() * 60 + local.minute()) / 15 + 1;
        let time = NaiveTime::from_hms_opt(quarters * 15 / 60, quarters * 15 % 60, 0);
        Some((day.min(previous.to), time))
    }

    pub fn days(&self) -> u64 {
        (self.to - self.from).num_days().unsigned_abs() + 1
    }

    /// This span's first day through `day` (a comparison that stops as
    /// far in as its current period has got).
    pub fn through(&self, day: NaiveDate, tz: Tz) -> Span {
        span(self.range, self.from, day, tz)
    }

    /// The span of the same number of days just before this one.
    pub fn previous(&self, tz: Tz) -> Span {
        let days = self.days();
        let to = self.from - Days::new(1);
        let from = self.from - Days::new(days);
        span("previous", from, to, tz)
    }

    /// The same days of the week, as many whole weeks back as cover this
    /// span's length: a day against the same weekday a week before, 30
    /// days against the 30 days five weeks before.
    pub fn weeks_before(&self, tz: Tz) -> Span {
        let back = Days::new(self.days().div_ceil(7) * 7);
        span("week", self.from - back, self.to - back, tz)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("range must be today, yesterday, 7d, 30d or custom")]
    UnknownPreset,
    #[error("a custom range needs from and to as YYYY-MM-DD")]
    BadDate,
    #[error("from must not be after to")]
    Reversed,
    #[error("a range may span at most {MAX_DAYS} days")]
    TooLong,
    #[error("until must be a local time on the quarter hour as HH:MM (minutes 00, 15, 30 or 45)")]
    BadTime,
}

/// `until=HH:MM`, a local time on the quarter hour: the quarter-hour
/// rollups cut there exactly, so every figure stops at the same instant
/// (`24:00` is not a time: leave `until` out for the whole day).
pub fn parse_until(value: &str) -> Result<NaiveTime, RangeError> {
    let time = NaiveTime::parse_from_str(value, "%H:%M").map_err(|_| RangeError::BadTime)?;
    if time.minute() % 15 != 0 {
        return Err(RangeError::BadTime);
    }
    Ok(time)
}

/// Resolves a preset or custom range; no preset means the last 7 days.
pub fn resolve(
    range: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    tz: Tz,
    today: NaiveDate,
) -> Result<Span, RangeError> {
    let back = |days: u64| today - Days::new(days);
    let (name, from, to) = match range.unwrap_or("7d") {
        "today" => ("today", today, today),
        "yesterday" => ("yesterday", back(1), back(1)),
        "7d" => ("7d", back(6), today),
        "30d" => ("30d", back(29), today),
        "custom" => {
            let day = |value: Option<&str>| {
                value
                    .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
                    .ok_or(RangeError::BadDate)
            };
            ("custom", day(from)?, day(to)?)
        }
        _ => return Err(RangeError::UnknownPreset),
    };
    if from > to {
        return Err(RangeError::Reversed);
    }
    if (to - from).num_days().unsigned_abs() >= MAX_DAYS {
        return Err(RangeError::TooLong);
    }
    Ok(span(name, from, to, tz))
}

fn span(range: &'static str, from: NaiveDate, to: NaiveDate, tz: Tz) -> Span {
    Span {
        range,
        from,
        to,
        start: midnight(from, tz),
        end: midnight(to + Days::new(1), tz),
        cut: None,
    }
}

/// The first instant of `day` in `tz` (days that start in a DST gap start
/// at the first instant that exists).
pub fn midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut time = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..4 {
        if let Some(local) = tz.from_local_datetime(&time).earliest() {
            return local.with_timezone(&Utc);
        }
        time += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn presets_count_back_from_today_in_the_sites_zone() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let today = day("2026-11-23");
        let week = resolve(None, None, None, tz, today).expect("default");
        assert_eq!(
            (week.range, week.from, week.to),
            ("7d", day("2026-11-17"), today)
        );
        assert_eq!(week.start.to_rfc3339(), "2026-11-16T23:00:00+00:00");
        assert_eq!(week.end.to_rfc3339(), "2026-11-23T23:00:00+00:00");
        // Same weekdays: a week back for up to 7 days, whole weeks beyond.
        let one = resolve(Some("today"), None, None, tz, today).expect("today");
        assert_eq!(
            (one.weeks_before(tz).from, one.weeks_before(tz).to),
            (day("2026-11-16"), day("2026-11-16"))
        );
        assert_eq!(week.weeks_before(tz).from, day("2026-11-10"));
        let month = resolve(Some("30d"), None, None, tz, today).expect("30d");
        assert_eq!(
            (month.weeks_before(tz).from, month.weeks_before(tz).to),
            (day("2026-09-20"), day("2026-10-19"))
        );
        let yesterday = resolve(Some("yesterday"), None, None, tz, today).expect("yesterday");
        assert_eq!(
            (yesterday.from, yesterday.to),
            (day("2026-11-22"), day("2026-11-22"))
        );
        assert_eq!(yesterday.previous(tz).from, day("2026-11-21"));
        assert_eq!(week.previous(tz).to, day("2026-11-16"));
        assert_eq!(week.previous(tz).days(), 7);
    }

    #[test]
    fn a_day_with_a_clock_change_has_its_real_length() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let span = resolve(
            Some("custom"),
            Some("2026-03-29"),
            Some("2026-03-29"),
            tz,
            day("2026-11-23"),
        )
        .expect("custom");
        assert_eq!((span.end - span.start).num_hours(), 23);
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        let tz = Tz::UTC;
        let today = day("2026-11-23");
        assert_eq!(
            resolve(Some("forever"), None, None, tz, today),
            Err(RangeError::UnknownPreset)
        );
        assert_eq!(
            resolve(
                Some("custom"),
                Some("2026-13-01"),
                Some("2026-01-01"),
                tz,
                today
            ),
            Err(RangeError::BadDate)
        );
        assert_eq!(
            resolve(
                Some("custom"),
                Some("2026-02-01"),
                Some("2026-01-01"),
                tz,
                today
            ),
            Err(RangeError::Reversed)
        );
        assert_eq!(
            resolve(
                Some("custom"),
                Some("2020-01-01"),
                Some("2026-01-01"),
                tz,
                today
            ),
            Err(RangeError::TooLong)
        );
    }

    #[test]
    fn a_range_until_now_is_compared_until_the_same_quarter_hour() {
        let tz: Tz = "Asia/Kolkata".parse().expect("zone");
        let today = day("2026-11-23");
        let local = |d: &str, hh: u32, mm: u32| {
            tz.from_local_datetime(&day(d).and_hms_opt(hh, mm, 0).expect("time"))
                .unwrap()
                .with_timezone(&Utc)
        };
        let time = |hh, mm| NaiveTime::from_hms_opt(hh, mm, 0);
        let week = resolve(Some("7d"), None, None, tz, today).expect("span");
        let before = week.previous(tz);
        assert_eq!(
            week.elapsed_in(&before, local("2026-11-23", 9, 40), tz),
            Some((day("2026-11-16"), time(9, 45))),
            "the last day of the 7 before, until 09:45"
        );
        let now = resolve(Some("today"), None, None, tz, today).expect("span");
        let yesterday = now.previous(tz);
        assert_eq!(
            now.elapsed_in(&yesterday, local("2026-11-23", 0, 0), tz),
            Some((day("2026-11-22"), time(0, 15)))
        );
        assert_eq!(
            now.elapsed_in(&yesterday, local("2026-11-23", 23, 50), tz),
            Some((day("2026-11-22"), None)),
            "past 23:45, the whole day"
        );
        assert_eq!(
            now.elapsed_in(&yesterday, local("2026-11-24", 0, 10), tz),
            None,
            "a range in the past is compared whole"
        );
        // A custom range that reaches into the future: as far in as today.
        let ahead = resolve(
            Some("custom"),
            Some("2026-11-22"),
            Some("2026-11-25"),
            tz,
            today,
        )
        .expect("span");
        let earlier = ahead.previous(tz);
        assert_eq!(
            ahead.elapsed_in(&earlier, local("2026-11-23", 12, 0), tz),
            Some((day("2026-11-19"), time(12, 15)))
        );
        // `until` cuts the last day at a local time, never past its end.
        let cut = now.clone().until(time(12, 0).expect("noon"), tz);
        assert_eq!(cut.cut, Some(local("2026-11-23", 12, 0)));
        assert_eq!(cut.stop(), local("2026-11-23", 12, 0));
        assert_eq!(parse_until("24:00"), Err(RangeError::BadTime));
        assert_eq!(
            parse_until("07:37"),
            Err(RangeError::BadTime),
            "off the quarter hour"
        );
        assert_eq!(
            parse_until("07:30"),
            Ok(NaiveTime::from_hms_opt(7, 30, 0).expect("time"))
        );
        // 02:30 does not exist in Berlin on 2026-03-29: the cut is 03:00.
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let spring = resolve(
            Some("custom"),
            Some("2026-03-29"),
            Some("2026-03-29"),
            berlin,
            today,
        )
        .expect("span")
        .until(time(2, 30).expect("time"), berlin);
        assert_eq!(
            spring
                .cut
                .map(|c| c.with_timezone(&berlin).format("%H:%M").to_string()),
            Some("03:00".to_owned())
        );
    }
}
