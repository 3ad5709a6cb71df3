//! The node's clock against the API server's. Certificates and tokens are judged by time: a
//! clock far off makes a fresh certificate "not yet valid" or an expiring token "expired", on
//! one side only, and every check of this report judges by this node's clock.

use std::time::Duration;

use http::HeaderMap;
use http::header::DATE;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::super::{Evidence, Finding, FindingId};

pub const CLOCK_SKEW: FindingId = FindingId("clock-skew");

/// More than this apart is a finding. The `Date` header has whole seconds and the answer
/// takes time to arrive, so a few seconds mean nothing.
pub const MAX_SKEW: Duration = Duration::from_secs(30);

/// The `Date` header of an answer, parsed.
pub fn server_date(headers: &HeaderMap) -> Option<OffsetDateTime> {
    parse_http_date(headers.get(DATE)?.to_str().ok()?)
}

/// An HTTP date in the form servers send (RFC 9110 IMF-fixdate, as Go's net/http writes
/// it): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let mut parts = s.split_ascii_whitespace();
    let (Some(_weekday), Some(day), Some(month), Some(year), Some(hms), Some("GMT"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let month = match month {
        "Jan" => Month::January,
        "Feb" => Month::February,
        "Mar" => Month::March,
        "Apr" => Month::April,
        "May" => Month::May,
        "Jun" => Month::June,
        "Jul" => Month::July,
        "Aug" => Month::August,
        "Sep" => Month::September,
        "Oct" => Month::October,
        "Nov" => Month::November,
        "Dec" => Month::December,
        _ => return None,
    };
    let date = Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut hms = hms.split(':');
    let (Some(h), Some(m), Some(sec), None) = (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let time = Time::from_hms(h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// `clock-skew` when the server's clock (`server`, from its `Date` header) and this node's
/// (`local`, when the answer arrived) are more than [`MAX_SKEW`] apart.
pub fn check(server: OffsetDateTime, local: OffsetDateTime) -> Option<Finding> {
    let skew = local - server;
    if skew.unsigned_abs() <= MAX_SKEW {
        return None;
    }
    let ahead = if skew.is_positive() {
        "ahead of"
    } else {
        "behind"
    };
    let secs = skew.whole_seconds().unsigned_abs();
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "<unprintable>".into())
    };
    Some(
        Finding::warning(
            CLOCK_SKEW,
            format!(
                "this node's clock is {secs} s {ahead} the API server's: certificates and tokens look valid on one side and not yet valid or expired on the other, and this report's expiry checks use this node's clock"
            ),
            "synchronise both clocks with NTP (`timedatectl set-ntp true`, then `timedatectl status` on this node and on the control plane)",
        )
        .with(
            Evidence::of("API server answer to GET /version")
                .field("Date")
                .value(fmt(server)),
        )
        .with(Evidence::of("this node's clock").value(fmt(local))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use time::macros::datetime;

    #[test]
    fn reads_the_date_header() {
        let mut h = HeaderMap::new();
        assert_eq!(server_date(&h), None);
        h.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(server_date(&h), Some(datetime!(1994-11-06 08:49:37 UTC)));
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn skew_beyond_thirty_seconds_is_a_warning_either_way() {
        let server = datetime!(2026-12-04 12:00:00 UTC);
        assert_eq!(check(server, server + time::Duration::seconds(30)), None);
        assert_eq!(check(server, server - time::Duration::seconds(29)), None);
        let f = check(server, server + time::Duration::seconds(95)).unwrap();
        assert_eq!(f.id, CLOCK_SKEW);
        assert!(f.what.contains("95 s ahead of"), "{}", f.what);
        assert_eq!(f.evidence[0].value.as_deref(), Some("2026-12-04T12:00:00Z"));
        let f = check(server, server - time::Duration::minutes(5)).unwrap();
        assert!(f.what.contains("300 s behind"), "{}", f.what);
    }
}
