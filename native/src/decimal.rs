//! Decimal numbers as DynamoDB's N texts write them, compared by exact value (NS sets are sorted
//! and de-duplicated by value; typed mode reads their digits).

use std::cmp::Ordering;

/// A JSON number's exact value: sign, significant digits (no leading/trailing zeros) and the
/// exponent of the last digit. Zero is (false, "", 0).
pub struct Dec {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// A Dec whose significant digits lie in a buffer shared by several numbers (`buf[at..at + len]`).
#[derive(Clone, Copy)]
pub(crate) struct DecAt {
    neg: bool,
    at: usize,
    len: usize,
    exp: i64,
}

impl DecAt {
    /// Dec::parse, the significant digits appended to `buf` (nothing appended for zero or None).
    pub(crate) fn parse(s: &[u8], buf: &mut Vec<u8>) -> Option<DecAt> {
        let start = buf.len();
        let mut i = 0;
        let neg = s.first() == Some(&b'-');
        if neg {
            i += 1;
        }
        let mut exp: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            buf.push(s[i]);
            i += 1;
        }
        if i < s.len() && s[i] == b'.' {
            i += 1;
            while i < s.len() && s[i].is_ascii_digit() {
                buf.push(s[i]);
                exp -= 1;
                i += 1;
            }
        }
        if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
            let exponent = std::str::from_utf8(&s[i + 1..]).ok().and_then(|rest| {
                let rest = rest.strip_prefix('+').unwrap_or(rest);
                if rest.trim_start_matches('-').len() > 15 {
                    return None;
                }
                rest.parse::<i64>().ok()
            });
            match exponent {
                Some(e) => exp += e,
                None => {
                    buf.truncate(start);
                    return None;
                }
            }
        }
        let lead = buf[start..].iter().take_while(|&&c| c == b'0').count();
        while buf.len() > start + lead && buf.last() == Some(&b'0') {
            buf.pop();
            exp += 1;
        }
        if buf.len() == start + lead {
            buf.truncate(start);
            return Some(DecAt { neg: false, at: start, len: 0, exp: 0 });
        }
        Some(DecAt { neg, at: start + lead, len: buf.len() - start - lead, exp })
    }

    /// Dec::cmp, the digits of both in `buf`.
    pub(crate) fn cmp(&self, other: &DecAt, buf: &[u8]) -> Ordering {
        let sign = |d: &DecAt| if d.len == 0 { 0 } else if d.neg { -1 } else { 1 };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let (da, db) = (&buf[self.at..self.at + self.len], &buf[other.at..other.at + other.len]);
        let m = (self.exp + self.len as i64).cmp(&(other.exp + other.len as i64)).then_with(|| da.cmp(db));
        if sa < 0 { m.reverse() } else { m }
    }
}

impl Dec {
    pub fn parse(s: &[u8]) -> Option<Dec> {
        let mut digits = Vec::new();
        let d = DecAt::parse(s, &mut digits)?;
        digits.truncate(d.at + d.len);
        digits.drain(..d.at);
        Some(Dec { neg: d.neg, digits, exp: d.exp })
    }

    /// (negative, significant digits as ASCII, exponent of the last digit); zero has no digits.
    pub fn parts(&self) -> (bool, &[u8], i64) {
        (self.neg, &self.digits, self.exp)
    }

    #[cfg(test)]
    fn magnitude(&self, other: &Dec) -> Ordering {
        // position of the leading digit decides first, then the digits themselves
        let a = self.exp + self.digits.len() as i64;
        let b = other.exp + other.digits.len() as i64;
        a.cmp(&b).then_with(|| self.digits.cmp(&other.digits))
    }

    /// The order NS sets were sorted by before DecAt (kept as the tests' oracle).
    #[cfg(test)]
    pub fn cmp(&self, other: &Dec) -> Ordering {
        let zero_a = self.digits.is_empty();
        let zero_b = other.digits.is_empty();
        let sign = |z: bool, n: bool| if z { 0 } else if n { -1 } else { 1 };
        let (sa, sb) = (sign(zero_a, self.neg), sign(zero_b, other.neg));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let m = self.magnitude(other);
        if sa < 0 { m.reverse() } else { m }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERS: &[&str] = &["0", "-0", "0.0", "0e5", "1", "-1", "10", "1e1", "1.0", "01.50", "1.5", "-1.5", "100",
        "1e2", "0.001", "1e-3", "-0.001", "123456789012345678901234567890", "1.23456789012345678901234567890e29",
        "99", "-99", "5E+3", "5000", "0.5e-0", "-2.50E1", "-25", "7e15", "7e-15", "3.14159", "314159e-5", "2", "20e-1"];

    /// DecAt (digits in a shared buffer) orders and equates numbers as Dec did, whatever else
    /// the buffer holds.
    #[test]
    fn shared_digits_order_as_dec() {
        let mut buf = b"999".to_vec();
        let shared: Vec<DecAt> = NUMBERS.iter().map(|s| DecAt::parse(s.as_bytes(), &mut buf).unwrap()).collect();
        for (i, a) in NUMBERS.iter().enumerate() {
            for (j, b) in NUMBERS.iter().enumerate() {
                let want = Dec::parse(a.as_bytes()).unwrap().cmp(&Dec::parse(b.as_bytes()).unwrap());
                assert_eq!(shared[i].cmp(&shared[j], &buf), want, "{a} vs {b}");
            }
        }
        assert_eq!(Dec::parse(b"-000.0100").unwrap().parts(), (true, &b"1"[..], -2));
        assert_eq!(Dec::parse(b"-0.00").unwrap().parts(), (false, &b""[..], 0));
    }

    /// A number whose exponent is refused leaves nothing behind in the buffer.
    #[test]
    fn refused_exponent_appends_nothing() {
        let mut buf = b"12".to_vec();
        assert!(DecAt::parse(b"15e1234567890123456", &mut buf).is_none());
        assert_eq!(buf, b"12");
    }
}
