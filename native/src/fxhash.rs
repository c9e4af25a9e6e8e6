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

/// A hash of a byte string for StrSet: Fx rounds over its 8-byte words, the last one the
/// string's last eight bytes (overlapping the one before), seeded with its length; shorter
/// strings as one word of two overlapping 4-byte halves (or their 1-3 bytes). No loop over
/// bytes: the names hashed for every record are mostly 4-16 bytes. Its high bits are the
/// well-mixed ones.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let n = b.len();
    let mut h = FxHasher { hash: n as u64 };
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let half = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64;
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            h.add(word(at));
            at += 8;
        }
        h.add(word(n - 8));
    } else if n >= 4 {
        h.add(half(0) << 32 | half(n - 4));
    } else if n > 0 {
        h.add(b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16);
    }
    h.hash
}

/// Two byte strings equal, compared a word at a time, the last word being the last eight bytes
/// (overlapping the one before; two overlapping 4-byte halves below eight bytes): most are a few
/// bytes, compared without a loop over bytes or a call to memcmp.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap());
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap());
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        (0..n).all(|i| a[i] == b[i])
    }
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
        self.find_hashed(hash_bytes(s.as_bytes()), s.as_bytes()).is_some()
    }

    /// The place of `s` (whose hash_bytes is `h`) in the order names were added, if held.
    #[inline]
    pub fn find_hashed(&self, h: u64, s: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (h >> 40) as usize & mask;
        loop {
            match self.slots[i] {
                0 => return None,
                k => {
                    let k = k as usize - 1;
                    if self.hashes[k] == h && same(self.names[k].as_bytes(), s) {
                        return Some(k);
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The hash of the `k`th name added.
    #[inline]
    pub fn hash_at(&self, k: usize) -> u64 {
        self.hashes[k]
    }

    /// Adds `s`; whether it was new.
    pub fn insert(&mut self, s: &str) -> bool {
        if self.contains(s) {
            return false;
        }
        self.add_new(hash_bytes(s.as_bytes()), s);
        true
    }

    /// Adds `s` (hash `h`), known not to be held: its place is the number of names before it.
    pub fn add_new(&mut self, h: u64, s: &str) {
        if (self.names.len() + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(64);
            self.slots = vec![0; size];
            for (k, &h) in self.hashes.iter().enumerate() {
                Self::place(&mut self.slots, h, k);
            }
        }
        self.hashes.push(h);
        self.names.push(s.into());
        Self::place(&mut self.slots, h, self.names.len() - 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `same` is byte equality and equal strings hash alike, at every length around the word
    /// sizes, a difference at any position told.
    #[test]
    fn same_and_hash_bytes_at_every_length() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&a, &a.clone()));
            assert_eq!(hash_bytes(&a), hash_bytes(&a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same(&a, &b), "length {n}, byte {at}");
                assert_ne!(hash_bytes(&a), hash_bytes(&b), "length {n}, byte {at}");
            }
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(!same(&a, &longer));
        }
    }

    /// A StrSet finds what it holds at the place it was added, and nothing else.
    #[test]
    fn str_set_places() {
        let mut set = StrSet::default();
        let names: Vec<String> = (0..300).map(|i| format!("attr_{i}")).collect();
        for (k, n) in names.iter().enumerate() {
            assert!(set.insert(n));
            assert!(!set.insert(n));
            assert_eq!(set.find_hashed(hash_bytes(n.as_bytes()), n.as_bytes()), Some(k));
        }
        for (k, n) in names.iter().enumerate() {
            assert_eq!(set.find_hashed(set.hash_at(k), n.as_bytes()), Some(k));
        }
        assert!(!set.contains("attr_300") && !set.contains("") && !set.contains("attr_"));
    }
}
