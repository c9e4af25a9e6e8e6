//! Typed mode's per-row facts about a rendered column (planning/typed_native.py reads them): each
//! row's type tag, and for a number the (integer digits, scale) it needs and its plain text, as
//! typing_mode.number_needs computes them, so that typing and staging need no Python object per value.

use crate::decimal::Dec;

pub const ABSENT: u8 = 255; // a row without the attribute
const MAX_DIGITS: i64 = 38;

/// One column's per-row typing facts, built alongside its text.
#[derive(Default)]
pub struct Typing {
    pub tags: Vec<u8>,       // the value's tag index (rendering::TAGS), ABSENT where the row lacks it
    pub ints: Vec<i8>,       // a number's integer digits, -1 when not a number or needing over 38 digits
    pub scales: Vec<i8>,     // its scale (-1 likewise)
    pub plain_offsets: Vec<u8>, // its plain text (Arrow string offsets; empty where not a number)
    pub plain: Vec<u8>,
}

impl Typing {
    pub fn new(rows: usize) -> Self {
        let mut t = Typing::default();
        t.plain_offsets.extend_from_slice(&0i32.to_le_bytes());
        t.pad(rows);
        t
    }

    /// Rows without the attribute up to `to` rows.
    pub fn pad(&mut self, to: usize) {
        while self.tags.len() < to {
            self.push_other(ABSENT);
        }
    }

    /// A row's value that is not a number (or NULL, or absent: ABSENT).
    pub fn push_other(&mut self, tag: u8) {
        self.tags.push(tag);
        self.ints.push(-1);
        self.scales.push(-1);
        self.plain_offsets.extend_from_slice(&(self.plain.len() as i32).to_le_bytes());
    }

    /// A number's row: `text` is its JSON number as written. False when its needs cannot be
    /// told here (an exponent past Dec's range): the table then takes the Python path.
    pub fn push_number(&mut self, tag: u8, text: &[u8]) -> bool {
        let Some(d) = Dec::parse(text) else { return false };
        self.tags.push(tag);
        match needs(&d, &mut self.plain) {
            Some((ints, scale)) => {
                self.ints.push(ints as i8);
                self.scales.push(scale as i8);
            }
            None => {
                self.ints.push(-1);
                self.scales.push(-1);
            }
        }
        self.plain_offsets.extend_from_slice(&(self.plain.len() as i32).to_le_bytes());
        true
    }
}

/// typing_mode.number_needs: (integer digits, scale) of the exact value, its plain text appended
/// to `out`; None (nothing appended) when it needs more than 38 digits.
pub fn needs(d: &Dec, out: &mut Vec<u8>) -> Option<(i64, i64)> {
    let (neg, digits, exp) = d.parts();
    if digits.is_empty() {
        out.push(b'0'); // zero fits every DECIMAL(38, s)
        return Some((0, 0));
    }
    let n = digits.len() as i64;
    let (ints, scale) = if exp >= 0 { (n + exp, 0) } else { ((n + exp).max(0), -exp) };
    if ints + scale > MAX_DIGITS {
        return None;
    }
    if neg {
        out.push(b'-');
    }
    if exp >= 0 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat(b'0').take(exp as usize));
    } else {
        let point = n + exp;
        if point > 0 {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat(b'0').take((-point) as usize));
            out.extend_from_slice(digits);
        }
    }
    Some((ints, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: &str) -> Option<(i64, i64, String)> {
        let mut out = Vec::new();
        needs(&Dec::parse(s.as_bytes()).unwrap(), &mut out).map(|(i, s)| (i, s, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn needs_as_python_computes_them() {
        assert_eq!(of("1.50"), Some((1, 1, "1.5".into())));
        assert_eq!(of("1E+2"), Some((3, 0, "100".into())));
        assert_eq!(of("100"), Some((3, 0, "100".into())));
        assert_eq!(of("-1.5e-10"), Some((0, 11, "-0.00000000015".into())));
        assert_eq!(of("-0.0"), Some((0, 0, "0".into())));
        assert_eq!(of("0.05"), Some((0, 2, "0.05".into())));
        assert_eq!(of("1E-130"), None);
        assert_eq!(of("12345678901234567890123456789012345678"), Some((38, 0, "12345678901234567890123456789012345678".into())));
        assert_eq!(of("123456789012345678901234567890123456789"), None);
    }
}
