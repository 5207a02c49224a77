//! The workload's random draws: SplitMix64 with a fixed seed, written out so that every
//! stack (and any other implementation of the workload) can repeat them exactly.

/// SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit state, one add and a mix per
/// draw. Statistically good enough for picking ids, and trivial to port.
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` by Lemire's multiply-shift: one draw per call, so the
    /// number of draws never depends on the values drawn. The bias (at most
    /// `bound / 2^64`) is irrelevant here. `bound` must not be zero.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low) as u64 + 1;
        low + self.below(span) as i64
    }
}
