//! A small seedable random generator: the backoff's jitter and the testkit's
//! random moments need a few numbers each, reproducible from a seed, and
//! nothing of a cryptographic generator.
//!
//! It is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
//! number generators", 2014): one 64-bit word of state, every seed valid,
//! full period of 2⁶⁴, and output that passes BigCrush. Without a seed, the
//! state comes from the standard library's per-process random hasher keys
//! mixed with a counter and the time, so two children never share a
//! sequence and no system call is made per child.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The generator for `seed`: the same seed gives the same sequence.
    pub(crate) fn seeded(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator seeded from the process's random hasher keys, a counter
    /// and the time: a different sequence for every call.
    pub(crate) fn from_entropy() -> Self {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        hasher.write_u128(now.as_nanos());
        SplitMix64::seeded(hasher.finish())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`, from the top 53 bits.
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A number in `low..=high`, uniform (by rejection); `low` if the range
    /// is empty.
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub(crate) fn in_range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        let span = high - low;
        if span == u64::MAX {
            return self.next_u64();
        }
        let count = span + 1;
        // The largest multiple of `count` that fits, so every value is as
        // likely as any other.
        let zone = u64::MAX - (u64::MAX - count + 1) % count;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return low + x % count;
            }
        }
    }

    /// True with probability one half.
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// A duration in `0..=max`, to the nanosecond (at most `u64::MAX`
    /// nanoseconds, about 584 years).
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub(crate) fn duration_up_to(&mut self, max: Duration) -> Duration {
        let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.in_range(0, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_for_seed_zero_is_splitmix64s() {
        // The reference outputs of SplitMix64 seeded with 0.
        let mut rng = SplitMix64::seeded(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let draw = |seed| {
            let mut rng = SplitMix64::seeded(seed);
            (0..16).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn unseeded_generators_differ() {
        let a = SplitMix64::from_entropy().next_u64();
        let b = SplitMix64::from_entropy().next_u64();
        assert_ne!(a, b);
    }

    #[test]
    fn units_stay_in_zero_to_one_and_spread() {
        let mut rng = SplitMix64::seeded(7);
        let units: Vec<f64> = (0..10_000).map(|_| rng.unit_f64()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let below_half = units.iter().filter(|u| **u < 0.5).count();
        assert!((4_500..5_500).contains(&below_half), "{below_half}");
    }

    #[test]
    fn ranges_are_inclusive_and_never_leave_their_bounds() {
        let mut rng = SplitMix64::seeded(9);
        let mut seen = [false; 4];
        for _ in 0..1_000 {
            let x = rng.in_range(3, 6);
            assert!((3..=6).contains(&x));
            seen[(x - 3) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
        assert_eq!(rng.in_range(5, 5), 5);
        assert_eq!(rng.in_range(5, 1), 5, "an empty range gives its low end");
        let _ = rng.in_range(0, u64::MAX);
        assert!(rng.duration_up_to(Duration::from_millis(3)) <= Duration::from_millis(3));
        assert_eq!(rng.duration_up_to(Duration::ZERO), Duration::ZERO);
        let _ = rng.duration_up_to(Duration::MAX);
    }
}
