//! Durations as Kubernetes writes them (`metav1.Duration`): Go's `time.ParseDuration` syntax
//! in, Go's `Duration.String()` out, so a rendered config reads exactly like kubeadm's.

use serde_with::{DeserializeFromStr, SerializeDisplay};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A non-negative duration written the Go way (`24h0m0s`, `90s`, `1.5h`, `500ms`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    SerializeDisplay,
    DeserializeFromStr,
)]
pub struct GoDuration(Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid duration: expected a non-negative Go duration such as 24h0m0s, 5m, 90s or 1.5h (units h, m, s, ms, us, ns)"
)]
pub struct DurationError(pub String);

impl crate::contract::diagnostics::Diagnostic for DurationError {}

impl GoDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub const fn from_duration(d: Duration) -> Self {
        Self(d)
    }

    pub fn as_duration(&self) -> Duration {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

/// Nanoseconds per unit, as Go's `time.ParseDuration` names them.
fn unit_ns(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`, at most
/// 2^63-1 ns. Hand-written because go-parse-duration 0.1 panics on non-ASCII input, loops
/// forever on fractions longer than 19 digits and adds terms unchecked (all found by fuzzing).
fn parse_go_duration(s: &str) -> Option<(bool, u128)> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some((negative, 0));
    }
    if rest.is_empty() {
        return None;
    }
    let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = digits(rest);
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(digits(f)),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per = unit_ns(unit)?;
        // Digits past 18 add less than a nanosecond even for hours; Go drops them too.
        let frac = &frac[..frac.len().min(18)];
        let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let frac_ns = if frac.is_empty() {
            0
        } else {
            frac.parse::<u128>().ok()? * per / 10u128.pow(frac.len() as u32)
        };
        total = int
            .checked_mul(per)?
            .checked_add(frac_ns)?
            .checked_add(total)?;
        if total > i64::MAX as u128 {
            return None;
        }
        rest = after;
    }
    Some((negative, total))
}

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(s.to_owned());
        match parse_go_duration(s.trim()) {
            Some((negative, ns)) if !negative || ns == 0 => {
                let ns = u64::try_from(ns).map_err(|_| err())?;
                Ok(Self(Duration::from_nanos(ns)))
            }
            _ => Err(err()),
        }
    }
}

/// `v / div` with the fraction Go prints: no trailing zeros, no point when whole.
fn with_fraction(v: u128, div: u128) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        const SEC: u128 = 1_000_000_000;
        if ns == 0 {
            return f.write_str("0s");
        }
        if ns < SEC {
            let (div, unit) = if ns < 1_000 {
                (1, "ns")
            } else if ns < 1_000_000 {
                (1_000, "µs")
            } else {
                (1_000_000, "ms")
            };
            return write!(f, "{}{unit}", with_fraction(ns, div));
        }
        let hours = ns / (3600 * SEC);
        let minutes = (ns / (60 * SEC)) % 60;
        let secs = with_fraction(ns % (60 * SEC), SEC);
        if hours > 0 {
            write!(f, "{hours}h{minutes}m{secs}s")
        } else if minutes > 0 {
            write!(f, "{minutes}m{secs}s")
        } else {
            write!(f, "{secs}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        s.parse::<GoDuration>().unwrap().to_string()
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(d("24h"), "24h0m0s");
        assert_eq!(d("8760h"), "8760h0m0s");
        assert_eq!(d("4m"), "4m0s");
        assert_eq!(d("60s"), "1m0s");
        assert_eq!(d("90s"), "1m30s");
        assert_eq!(d("40s"), "40s");
        assert_eq!(d("1.5s"), "1.5s");
        assert_eq!(d("1.5h"), "1h30m0s");
        assert_eq!(d("500ms"), "500ms");
        assert_eq!(d("1500us"), "1.5ms");
        assert_eq!(d("1500µs"), "1.5ms");
        assert_eq!(d("+1h"), "1h0m0s");
        assert_eq!(d("-0s"), "0s");
        assert_eq!(d(".5s1.5m"), "1m30.5s");
        assert_eq!(d("1000000h"), "1000000h0m0s");
        assert_eq!(d("2562047h47m16.854775807s"), "2562047h47m16.854775807s");
        assert_eq!(d(&format!("1.{}h", "0".repeat(60))), "1h0m0s");
        assert_eq!(d("1.000000000000000000000000001s"), "1s");
        assert_eq!(d("0.5us"), "500ns");
        assert_eq!(d("1500μs"), "1.5ms");
        assert_eq!(d("12ns"), "12ns");
        assert_eq!(d("0"), "0s");
        assert_eq!(d("1h2m3.25s"), "1h2m3.25s");
    }

    #[test]
    fn rejects_bad_and_negative() {
        let huge = "4611686018427387903ns".repeat(3);
        for bad in [
            "",
            "24",
            "1d",
            "-5m",
            "abc",
            "5 m",
            "1hȾ1s",
            "2µm",
            "3ö",
            "+",
            "-",
            "h",
            "1h-1m",
            &huge,
            "2562047h47m16.854775808s",
            "1.5",
            ".h",
            "1..5h",
            "1hh",
            "5.",
        ] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad}");
        }
    }
}
