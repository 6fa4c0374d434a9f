//! A tiny deterministic random number generator for the tests, the soak and
//! the benchmarks: Marsaglia's xorshift64. The same seed gives the same
//! sequence, so a failing run can be replayed from its seed.

pub struct XorShift64(u64);

impl XorShift64 {
    /// Any seed will do; zero (which would stay zero forever) is avoided.
    pub fn new(seed: u64) -> Self {
        XorShift64(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (the slight modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (XorShift64::new(42), XorShift64::new(42));
        for _ in 0..1000 {
            let x = a.next_u64();
            assert_eq!(x, b.next_u64());
            assert_ne!(x, 0);
            assert!(a.below(7) < 7);
            assert!((3..=9).contains(&a.range(3, 9)));
            b.below(7);
            b.range(3, 9);
        }
    }
}
