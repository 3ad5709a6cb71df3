//! Timing of the cluster-info JWS check: does a forged signature that is wrong in its first
//! byte get rejected measurably faster than one wrong only in its last byte? (It must not:
//! that difference would let a forger learn the MAC byte by byte.) Run by
//! `scripts/bench-jws-timing`.
//!
//! Method (after dudect): many rounds; each round times a batch of one class and a batch of
//! the other in random order; Welch's t over the per-batch means, slowest 10% cropped. |t| < 4.5 is the usual "no
//! evidence of a difference". The early-exit row is a control that shows the method can see a
//! byte-wise early exit at all on this machine.

use std::hint::black_box;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kubestrap_phases::config::token::BootstrapTokenString;
use kubestrap_phases::domain::jws::{sign_detached, verify_detached};
use rand::RngExt;
use subtle::ConstantTimeEq;

const BATCH: usize = 200;

/// What a naive compare does: stop at the first differing byte. (Slice `==` is memcmp, which
/// on 32 bytes compares whole vectors and shows no difference, so it makes a poor control.)
#[inline(never)]
fn early_exit_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    for i in 0..a.len() {
        if black_box(a[i]) != black_box(b[i]) {
            return false;
        }
    }
    true
}

/// Welch's t over two samples.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, var)
    };
    let (na, ma, va) = stats(a);
    let (nb, mb, vb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

/// Per-batch mean nanoseconds of `f(first)` and `f(last)`, batches interleaved in random order.
fn measure(rounds: usize, mut f: impl FnMut(bool)) -> (Vec<f64>, Vec<f64>) {
    let mut rng = rand::rng();
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let order = if rng.random_bool(0.5) {
            [true, false]
        } else {
            [false, true]
        };
        for class in order {
            let t = Instant::now();
            for _ in 0..BATCH {
                f(class);
            }
            let ns = t.elapsed().as_nanos() as f64 / BATCH as f64;
            if class { &mut first } else { &mut last }.push(ns);
        }
    }
    (first, last)
}

fn report(name: &str, (first, last): (Vec<f64>, Vec<f64>)) {
    // As dudect does: drop the slowest batches (preempted by other processes on shared
    // cores), which otherwise swamp a difference of nanoseconds.
    let mut pooled: Vec<f64> = first.iter().chain(&last).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let cut = pooled[pooled.len() * 9 / 10];
    let crop = |x: Vec<f64>| x.into_iter().filter(|v| *v <= cut).collect::<Vec<_>>();
    let (first, last) = (crop(first), crop(last));
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let t = welch_t(&first, &last);
    let verdict = if t.abs() < 4.5 {
        "no leak seen"
    } else {
        "DIFFERS"
    };
    println!(
        "{name:<28} {:>12.1} {:>12.1} {t:>9.2}  {verdict}",
        mean(&first),
        mean(&last)
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let token: BootstrapTokenString = "abcdef.abcdef0123456789".parse().expect("valid token");
    let payload = "apiVersion: v1\nkind: Config\nclusters: []\n".repeat(20);
    let genuine = sign_detached(token.id(), token.secret(), &payload);
    let (header, sig) = genuine.split_once("..").expect("detached JWS");
    let mac = URL_SAFE_NO_PAD.decode(sig).expect("base64url MAC");
    let forged = |i: usize| {
        let mut m = mac.clone();
        m[i] ^= 0x01;
        (
            m.clone(),
            format!("{header}..{}", URL_SAFE_NO_PAD.encode(&m)),
        )
    };
    let (mac_first, jws_first) = forged(0);
    let (mac_last, jws_last) = forged(mac.len() - 1);
    assert!(verify_detached(token.id(), token.secret(), &payload, &jws_first).is_err());
    assert!(verify_detached(token.id(), token.secret(), &payload, &jws_last).is_err());

    println!(
        "rounds {rounds} x batch {BATCH}; mean ns per call; Welch t (|t| >= 4.5: timing differs)"
    );
    println!(
        "{:<28} {:>12} {:>12} {:>9}",
        "compare", "first-byte", "last-byte", "t"
    );
    report(
        "verify_detached",
        measure(rounds, |first| {
            let jws = if first { &jws_first } else { &jws_last };
            let _ = black_box(verify_detached(
                token.id(),
                token.secret(),
                black_box(&payload),
                black_box(jws),
            ));
        }),
    );
    report(
        "subtle ct_eq (the primitive)",
        measure(rounds, |first| {
            let m = if first { &mac_first } else { &mac_last };
            black_box(bool::from(black_box(&mac[..]).ct_eq(black_box(&m[..]))));
        }),
    );
    report(
        "early-exit loop (control)",
        measure(rounds, |first| {
            let m = if first { &mac_first } else { &mac_last };
            black_box(early_exit_eq(black_box(&mac), black_box(m)));
        }),
    );
}
