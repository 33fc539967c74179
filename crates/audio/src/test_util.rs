//! Signal helpers shared by the unit tests.

use std::f64::consts::TAU;

/// `seconds` of a sine at `freq` Hz and amplitude `amp` (of full scale), sampled at `rate`.
pub(crate) fn sine(freq: f64, amp: f64, rate: u32, seconds: f64) -> Vec<f64> {
    let n = (seconds * f64::from(rate)).round() as usize;
    (0..n)
        .map(|i| amp * (TAU * freq * i as f64 / f64::from(rate)).sin())
        .collect()
}

/// A sine as 16-bit samples.
pub(crate) fn sine_i16(freq: f64, amp: f64, rate: u32, seconds: f64) -> Vec<i16> {
    sine(freq, amp, rate, seconds)
        .into_iter()
        .map(|s| (s * 32767.0).round() as i16)
        .collect()
}

/// Dominant frequency from rising zero crossings (interpolated), ignoring the first and
/// last `skip` samples.
pub(crate) fn frequency(samples: &[i16], rate: u32, skip: usize) -> f64 {
    assert!(samples.len() > 2 * skip + 2, "signal too short");
    let s = &samples[skip..samples.len() - skip];
    let mut crossings = Vec::new();
    for i in 1..s.len() {
        let (a, b) = (f64::from(s[i - 1]), f64::from(s[i]));
        if a < 0.0 && b >= 0.0 {
            crossings.push((i - 1) as f64 + (-a) / (b - a));
        }
    }
    assert!(crossings.len() > 2, "no tone found");
    let span = crossings[crossings.len() - 1] - crossings[0];
    (crossings.len() - 1) as f64 * f64::from(rate) / span
}

/// RMS of the samples as a fraction of full scale, ignoring `skip` samples at each end.
pub(crate) fn rms(samples: &[i16], skip: usize) -> f64 {
    let s = &samples[skip..samples.len() - skip];
    let sum: f64 = s.iter().map(|&x| (f64::from(x) / 32768.0).powi(2)).sum();
    (sum / s.len() as f64).sqrt()
}

/// Assert `actual` is within `tolerance` (fraction) of `expected`.
pub(crate) fn assert_close(what: &str, actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= expected.abs() * tolerance,
        "{what}: got {actual}, expected {expected} ± {}%",
        tolerance * 100.0
    );
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub(crate) fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
