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

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError(s.to_owned());
        // go-parse-duration indexes by chars and slices by bytes, so any non-ASCII byte can
        // panic it (found by fuzzing): hand it ASCII only, spelling Go's `µs`/`μs` as `us`.
        let ascii = s.trim().replace(['µ', 'μ'], "u");
        if !ascii.is_ascii() {
            return Err(err());
        }
        // It also adds the terms of `1h2m…` unchecked (an overflow panics in debug builds), so
        // it parses one term at a time and the sum is checked here, within Go's int64 range.
        let (negative, body) = match ascii.as_bytes().first() {
            Some(b'-') => (true, &ascii[1..]),
            Some(b'+') => (false, &ascii[1..]),
            _ => (false, &ascii[..]),
        };
        let bytes = body.as_bytes();
        let starts = (0..bytes.len()).filter(|&i| {
            i == 0
                || ((bytes[i].is_ascii_digit() || bytes[i] == b'.')
                    && bytes[i - 1].is_ascii_alphabetic())
        });
        let mut bounds: Vec<usize> = starts.collect();
        bounds.push(bytes.len());
        if bounds.len() < 2 {
            return Err(err());
        }
        let mut ns: i64 = 0;
        for w in bounds.windows(2) {
            let term = go_parse_duration::parse_duration(&body[w[0]..w[1]]).map_err(|_| err())?;
            ns = ns.checked_add(term).ok_or_else(err)?;
        }
        // One term may be at most 2^62 ns (~146 years) in go-parse-duration; capping the sum
        // there too keeps every value printable as a string that parses back.
        if ns > 1 << 62 || (negative && ns != 0) {
            return Err(err());
        }
        let ns = u64::try_from(ns).map_err(|_| err())?;
        Ok(Self(Duration::from_nanos(ns)))
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
        assert_eq!(d("1500μs"), "1.5ms");
        assert_eq!(d("12ns"), "12ns");
        assert_eq!(d("0"), "0s");
        assert_eq!(d("1h2m3.25s"), "1h2m3.25s");
    }

    #[test]
    fn rejects_bad_and_negative() {
        let huge = "4611686018427387903ns".repeat(2);
        for bad in [
            "", "24", "1d", "-5m", "abc", "5 m", "1hȾ1s", "2µm", "3ö", "+", "-", "h", "1h-1m",
            &huge,
        ] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad}");
        }
    }
}
