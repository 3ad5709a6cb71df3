//! What kubeadm prints, as it prints it, for the commands whose output scripts read
//! (`token list`, `certs check-expiration`): the output API group's version, Go's tabwriter
//! tables with kubeadm's settings, and apimachinery's short durations.

use std::io::Write;

use tabwriter::TabWriter;

/// `apiVersion` of kubeadm's structured output (`-o json|yaml`): its output API group, v1alpha3.
pub const OUTPUT_API_VERSION: &str = "output.kubeadm.k8s.io/v1alpha3";

/// A table writer laid out as kubeadm's printers lay theirs out: Go's text/tabwriter with
/// minimum width 10 including a padding of 3. Cells end with a tab; the last one of a line is
/// not padded.
pub fn table<W: Write>(out: W) -> TabWriter<W> {
    // The crate's minimum width excludes the padding; Go's includes it.
    TabWriter::new(out).minwidth(10 - 3).padding(3)
}

/// apimachinery's `ShortHumanDuration` of `secs`, as kubeadm prints a time left (the TTL
/// column of `token list`, RESIDUAL TIME of `certs check-expiration`): `45s`, `30m`, `23h`,
/// `364d`, `9y`; `0s` for a second or so late (clock skew) and `<invalid>` once clearly past.
pub fn short_human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let (m, h) = (secs / 60, secs / 3600);
    if secs < 0 {
        "0s".into()
    } else if secs < 60 {
        format!("{secs}s")
    } else if m < 60 {
        format!("{m}m")
    } else if h < 24 {
        format!("{h}h")
    } else if h < 24 * 365 {
        format!("{}d", h / 24)
    } else {
        format!("{}y", h / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// apimachinery's `ShortHumanDuration`, which kubeadm's TTL and RESIDUAL TIME columns
    /// use: a second of skew still reads `0s`, and days run up to a whole year.
    #[test]
    fn short_human_duration_reads_like_kubeadm() {
        let day = 86_400;
        for (secs, want) in [
            (-2, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (3599, "59m"),
            (23 * 3600, "23h"),
            (47 * 3600, "1d"),
            (364 * day + 86_399, "364d"),
            (365 * day, "1y"),
            (3650 * day, "10y"),
        ] {
            assert_eq!(short_human_duration(secs), want, "{secs}s");
        }
    }
}
