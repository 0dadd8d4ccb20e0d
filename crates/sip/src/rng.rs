//! The user agent's randomness: tags, branches, Call-IDs and glare delays all
//! come from a generator seeded at construction (SplitMix64: small, fast,
//! deterministic; nothing here needs to be unpredictable to an attacker beyond
//! what the seed gives, and the shell seeds it from a real random source).

#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..n` (`n > 0`; 0 gives 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    /// `len` lowercase hex digits (a token: safe in tags, branches, Call-IDs).
    pub(crate) fn hex(&mut self, len: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(len);
        let mut word = 0u64;
        for i in 0..len {
            if i % 16 == 0 {
                word = self.next_u64();
            }
            out.push(char::from(HEX[(word & 0xf) as usize]));
            word >>= 4;
        }
        out
    }
}
