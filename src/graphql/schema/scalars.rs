//! AppSync's AWS scalars: their names, their wire formats, and the values the server generates.
//!
//! AppSync schemas use these scalars without declaring them, so the schema loader registers all of
//! them. Each validator follows the formats in AppSync's documentation ("AWS AppSync scalar
//! types"). A value that fails validation is rejected by async-graphql's
//! validation with a message that names the argument path and the scalar, for example
//! `Invalid value for argument "input.at", expected type "AWSDateTime"`.

use std::net::IpAddr;

use async_graphql::Value;
use chrono::{NaiveDate, SecondsFormat, Utc};

/// Every AWS scalar, in the order they are registered.
pub const AWS_SCALARS: [&str; 9] = [
    "AWSDateTime",
    "AWSDate",
    "AWSTime",
    "AWSTimestamp",
    "AWSJSON",
    "AWSEmail",
    "AWSURL",
    "AWSPhone",
    "AWSIPAddress",
];

/// Returns the validator for an AWS scalar, or `None` when `name` is not one.
pub fn validator(name: &str) -> Option<fn(&Value) -> bool> {
    Some(match name {
        "AWSDateTime" => |v| string(v).is_some_and(is_datetime),
        "AWSDate" => |v| string(v).is_some_and(is_date_with_zone),
        "AWSTime" => |v| string(v).is_some_and(is_time_with_zone),
        "AWSTimestamp" => |v| matches!(v, Value::Number(n) if n.is_i64()),
        "AWSJSON" => {
            |v| string(v).is_some_and(|s| serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok())
        }
        "AWSEmail" => |v| string(v).is_some_and(is_email),
        "AWSURL" => |v| string(v).is_some_and(is_url),
        "AWSPhone" => |v| string(v).is_some_and(is_phone),
        "AWSIPAddress" => |v| string(v).is_some_and(is_ip_address),
        _ => return None,
    })
}

/// The current time as AppSync renders an `AWSDateTime`: UTC, milliseconds, `Z`.
pub fn now_datetime() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time as an `AWSTimestamp`: whole seconds since the epoch.
pub fn now_timestamp() -> i64 {
    Utc::now().timestamp()
}

fn string(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A tiny cursor over ASCII text, enough to read the fixed-width date and time formats.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text.as_bytes(),
        }
    }

    /// Reads exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        if self.rest.len() < n || !self.rest[..n].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value = self.rest[..n]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'));
        self.rest = &self.rest[n..];
        Some(value)
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        if self.rest.first() == Some(&byte) {
            self.rest = &self.rest[1..];
            true
        } else {
            false
        }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// `YYYY-MM-DD`, checked against the calendar.
    fn date(&mut self) -> Option<()> {
        let year = self.digits(4)?;
        self.eat(b'-').then_some(())?;
        let month = self.digits(2)?;
        self.eat(b'-').then_some(())?;
        let day = self.digits(2)?;
        NaiveDate::from_ymd_opt(year as i32, month, day).map(|_| ())
    }

    /// `hh:mm[:ss[.f{1,9}]]`.
    fn time(&mut self) -> Option<()> {
        let hour = self.digits(2)?;
        self.eat(b':').then_some(())?;
        let minute = self.digits(2)?;
        if hour > 23 || minute > 59 {
            return None;
        }
        if self.eat(b':') {
            // 60 allows a leap second, as ISO 8601 does.
            if self.digits(2)? > 60 {
                return None;
            }
            if self.eat(b'.') {
                let count = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
                if !(1..=9).contains(&count) {
                    return None;
                }
                self.rest = &self.rest[count..];
            }
        }
        Some(())
    }

    /// `Z` or `±hh:mm[:ss]`.
    fn zone(&mut self) -> Option<()> {
        if self.eat(b'Z') {
            return Some(());
        }
        if !(self.eat(b'+') || self.eat(b'-')) {
            return None;
        }
        let hours = self.digits(2)?;
        self.eat(b':').then_some(())?;
        let minutes = self.digits(2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        if self.eat(b':') && self.digits(2)? > 59 {
            return None;
        }
        Some(())
    }
}

fn is_datetime(text: &str) -> bool {
    let mut c = Cursor::new(text);
    (|| {
        c.date()?;
        c.eat(b'T').then_some(())?;
        c.time()?;
        c.zone()
    })()
    .is_some()
        && c.is_empty()
}

fn is_date_with_zone(text: &str) -> bool {
    let mut c = Cursor::new(text);
    c.date().is_some() && (c.is_empty() || (c.zone().is_some() && c.is_empty()))
}

fn is_time_with_zone(text: &str) -> bool {
    let mut c = Cursor::new(text);
    c.time().is_some() && (c.is_empty() || (c.zone().is_some() && c.is_empty()))
}

fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_url(text: &str) -> bool {
    // A scheme is required; AppSync also accepts local URLs such as `http://localhost:4000`.
    url::Url::parse(text).is_ok_and(|u| !u.scheme().is_empty())
}

fn is_phone(text: &str) -> bool {
    let body = text.strip_prefix('+').unwrap_or(text);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    digits >= 3
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'))
}

fn is_ip_address(text: &str) -> bool {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|bits| bits <= max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scalar: &str, value: Value) -> bool {
        validator(scalar).expect("an AWS scalar")(&value)
    }

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    #[test]
    fn datetime_needs_a_zone_and_a_real_date() {
        for ok in [
            "2026-11-24T10:15:30Z",
            "2026-11-24T10:15:30.123Z",
            "2026-11-24T10:15:30.123456789+05:30",
            "2026-11-24T10:15Z",
            "2026-11-24T10:15:30-08:00:00",
        ] {
            assert!(check("AWSDateTime", s(ok)), "{ok} should be valid");
        }
        for bad in [
            "2026-11-24T10:15:30",
            "2026-02-30T10:15:30Z",
            "2026-11-24 10:15:30Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T10:15:30.Z",
            "2026-11-24T10:15:30.1234567890Z",
            "yesterday",
            "",
        ] {
            assert!(!check("AWSDateTime", s(bad)), "{bad} should be invalid");
        }
        assert!(!check("AWSDateTime", Value::from(5)));
    }

    #[test]
    fn generated_datetime_is_valid_with_milliseconds() {
        let now = now_datetime();
        assert!(check("AWSDateTime", s(&now)), "{now}");
        assert_eq!(now.len(), "2026-11-24T10:15:30.123Z".len(), "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn date_and_time() {
        assert!(check("AWSDate", s("1970-01-01")));
        assert!(check("AWSDate", s("1970-01-01Z")));
        assert!(check("AWSDate", s("1970-01-01+05:30")));
        assert!(!check("AWSDate", s("1970-13-01")));
        assert!(check("AWSTime", s("12:30")));
        assert!(check("AWSTime", s("12:30:15.5Z")));
        assert!(!check("AWSTime", s("12:30.5")));
        assert!(!check("AWSTime", s("25:00")));
    }

    #[test]
    fn other_scalars() {
        assert!(check("AWSTimestamp", Value::from(-5)));
        assert!(!check("AWSTimestamp", s("5")));
        assert!(check("AWSJSON", s(r#"{"a":[1,2]}"#)));
        assert!(check("AWSJSON", s("3")));
        assert!(!check("AWSJSON", s("{a")));
        assert!(check("AWSEmail", s("ada@example.com")));
        assert!(!check("AWSEmail", s("ada example.com")));
        assert!(check("AWSURL", s("http://localhost:4000/graphql")));
        assert!(!check("AWSURL", s("//example.com")));
        assert!(check("AWSPhone", s("+1 555-010-0000")));
        assert!(!check("AWSPhone", s("call me")));
        assert!(check("AWSIPAddress", s("10.0.0.1")));
        assert!(check("AWSIPAddress", s("::1/128")));
        assert!(!check("AWSIPAddress", s("10.0.0.1/33")));
        assert!(validator("String").is_none());
    }
}
