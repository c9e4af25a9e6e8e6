//! The Fx hash (rustc's): a multiply-rotate hash, several times faster than the default SipHash
//! on the short attribute names looked up for every record. HashDoS resistance is not needed:
//! the sets only hold names already met, bounded by the schema.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while bytes.len() >= 8 {
            self.add(u64::from_le_bytes(bytes[..8].try_into().unwrap()));
            bytes = &bytes[8..];
        }
        if bytes.len() >= 4 {
            self.add(u32::from_le_bytes(bytes[..4].try_into().unwrap()) as u64);
            bytes = &bytes[4..];
        }
        for &b in bytes {
            self.add(b as u64);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxHashSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A hash of a byte string for StrSet: Fx rounds over its 8-byte words, the last one padded
/// with zeros, seeded with its length; its high bits are the well-mixed ones.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = FxHasher { hash: b.len() as u64 };
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        h.add(u64::from_le_bytes(w.try_into().unwrap()));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        h.add(tail.iter().rev().fold(0u64, |x, &c| (x << 8) | c as u64));
    }
    h.hash
}

/// Two byte strings equal, compared a word at a time (most are a few bytes: no call to memcmp).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if u64::from_le_bytes(p.try_into().unwrap()) != u64::from_le_bytes(q.try_into().unwrap()) {
            return false;
        }
    }
    x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// A set of short strings (a table's attribute names), asked on every record whether it holds
/// each of the record's names: open addressing over the names' hashes, kept beside them so that
/// a probe compares a word before any bytes (a HashSet<String> hashed through the Hasher trait
/// and compared names with memcmp: about twice the instructions).
#[derive(Default)]
pub struct StrSet {
    slots: Vec<u32>, // 0: empty; else 1 + the index in `names`
    hashes: Vec<u64>,
    names: Vec<Box<str>>,
}

impl StrSet {
    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let h = hash_bytes(s.as_bytes());
        let mask = self.slots.len() - 1;
        let mut i = (h >> 40) as usize & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                k => {
                    let k = k as usize - 1;
                    if self.hashes[k] == h && same(self.names[k].as_bytes(), s.as_bytes()) {
                        return true;
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `s`; whether it was new.
    pub fn insert(&mut self, s: &str) -> bool {
        if self.contains(s) {
            return false;
        }
        if (self.names.len() + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(64);
            self.slots = vec![0; size];
            for (k, &h) in self.hashes.iter().enumerate() {
                Self::place(&mut self.slots, h, k);
            }
        }
        let h = hash_bytes(s.as_bytes());
        self.hashes.push(h);
        self.names.push(s.into());
        Self::place(&mut self.slots, h, self.names.len() - 1);
        true
    }

    fn place(slots: &mut [u32], h: u64, k: usize) {
        let mask = slots.len() - 1;
        let mut i = (h >> 40) as usize & mask;
        while slots[i] != 0 {
            i = (i + 1) & mask;
        }
        slots[i] = k as u32 + 1;
    }
}
