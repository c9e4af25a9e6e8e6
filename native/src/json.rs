//! A strict, allocation-light JSON reader over one record's bytes.
//!
//! Every anomaly (bad syntax, a lone surrogate, a duplicate name, a value of an unexpected kind,
//! nesting deeper than `MAX_DEPTH`) is `Defer`: the caller then hands the record to the Python
//! engine, which is the reference and decides (usually: rejects it with its reason). So this
//! reader needs to be right only on what it accepts, and never has to reproduce an error message.

pub struct Defer;

/// Bytes that end a plain run inside a string: the quote, the backslash, control characters.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};
pub type R<T> = Result<T, Defer>;

/// Deeper than this, the Python engine decides (DynamoDB allows 32 levels of attribute values,
/// i.e. 64 levels of JSON; orjson and simdjson have their own limits further out).
pub const MAX_DEPTH: usize = 200;

pub struct P<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

#[inline]
fn hex4(b: &[u8], at: usize) -> R<u32> {
    let s = b.get(at..at + 4).ok_or(Defer)?;
    let mut v = 0u32;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(Defer),
        };
        v = v * 16 + d as u32;
    }
    Ok(v)
}

impl<'a> P<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        P { b, i: 0 }
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    pub fn peek(&mut self) -> R<u8> {
        self.ws();
        self.b.get(self.i).copied().ok_or(Defer)
    }

    #[inline]
    pub fn expect(&mut self, c: u8) -> R<()> {
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err(Defer)
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.b.len()
    }

    /// A string token: its raw bytes between the quotes and whether it holds escapes.
    pub fn string_raw(&mut self) -> R<(&'a [u8], bool)> {
        self.expect(b'"')?;
        let start = self.i;
        let mut esc = false;
        loop {
            // the plain run up to the next quote, backslash or control character
            self.i += find_special(&self.b[self.i..]);
            let c = *self.b.get(self.i).ok_or(Defer)?;
            match c {
                b'"' => {
                    let s = &self.b[start..self.i];
                    self.i += 1;
                    return Ok((s, esc));
                }
                b'\\' => {
                    esc = true;
                    let n = *self.b.get(self.i + 1).ok_or(Defer)?;
                    match n {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let cp = hex4(self.b, self.i + 2)?;
                            self.i += 6;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.b.get(self.i) == Some(&b'\\') && self.b.get(self.i + 1) == Some(&b'u') {
                                    let lo = hex4(self.b, self.i + 2)?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(Defer);
                                    }
                                    self.i += 6;
                                } else {
                                    return Err(Defer);
                                }
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err(Defer);
                            }
                        }
                        _ => return Err(Defer),
                    }
                }
                0..=0x1f => return Err(Defer),
                _ => self.i += 1,
            }
        }
    }

    /// A string token decoded (the input was checked to be UTF-8 as a whole).
    pub fn string(&mut self) -> R<std::borrow::Cow<'a, str>> {
        let (raw, esc) = self.string_raw()?;
        if !esc {
            // SAFETY: the whole record was validated as UTF-8 and `raw` ends at ASCII quotes.
            return Ok(std::borrow::Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(raw) }));
        }
        Ok(std::borrow::Cow::Owned(unescape(raw)))
    }

    /// A number token as written, checked against JSON's grammar.
    pub fn number(&mut self) -> R<&'a [u8]> {
        self.ws();
        let start = self.i;
        let end = scan_number(self.b, start).ok_or(Defer)?;
        // Long or far-out numbers: simdjson and orjson refuse some (64-bit range): the reference decides.
        if end - start > 18 {
            return Err(Defer);
        }
        self.i = end;
        Ok(&self.b[start..end])
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Defer)
        }
    }

    /// Skip (and check) any value without recursion; its span.
    pub fn skip(&mut self) -> R<(usize, usize)> {
        let mut stack = Stack { items: [0u8; MAX_DEPTH + 1], len: 0 };
        self.ws();
        let start = self.i;
        loop {
            match self.peek()? {
                b'{' => {
                    self.i += 1;
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        stack.push(b'{')?;
                        self.string_raw()?;
                        self.expect(b':')?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        stack.push(b'[')?;
                        continue;
                    }
                }
                b'"' => {
                    self.string_raw()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => {
                    self.number()?;
                }
                _ => return Err(Defer),
            }
            loop {
                let Some(top) = stack.last() else { return Ok((start, self.i)) };
                let c = self.peek()?;
                if c == b',' {
                    self.i += 1;
                    if top == b'{' {
                        self.string_raw()?;
                        self.expect(b':')?;
                    }
                    break;
                }
                if (top == b'{' && c == b'}') || (top == b'[' && c == b']') {
                    self.i += 1;
                    stack.pop();
                    continue;
                }
                return Err(Defer);
            }
        }
    }

    /// Walk an object's members: `f(parser at the value, decoded name)` must consume the value.
    /// Duplicate names defer (orjson keeps the last, simdjson finds the first).
    pub fn object<F>(&mut self, mut f: F) -> R<()>
    where
        F: FnMut(&mut P<'a>, &std::borrow::Cow<'a, str>) -> R<()>,
    {
        self.expect(b'{')?;
        // names met so far, for the duplicate check: unescaped ones as slices of the input (no
        // allocation for the usual object), escaped or surplus ones owned
        let mut fast: [&'a str; 32] = [""; 32];
        let mut nfast = 0;
        let mut slow: Vec<String> = Vec::new();
        let mut seen: u64 = 0;
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            let name = self.string()?;
            let n = name.as_bytes();
            let bit = 1u64 << ((n.len() * 31 + n.first().map_or(0, |&c| c as usize) * 7
                                + n.last().map_or(0, |&c| c as usize)) & 63);
            if seen & bit != 0
                && (fast[..nfast].iter().any(|x| *x == name.as_ref()) || slow.iter().any(|x| *x == name.as_ref()))
            {
                return Err(Defer);
            }
            seen |= bit;
            self.expect(b':')?;
            f(self, &name)?;
            match name {
                std::borrow::Cow::Borrowed(b) if nfast < fast.len() => {
                    fast[nfast] = b;
                    nfast += 1;
                }
                other => slow.push(other.into_owned()),
            }
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Defer),
            }
        }
    }

    /// Is the value here `null`? (consumed if so)
    pub fn null(&mut self) -> R<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Decode a string token's raw bytes (escapes checked already by `string_raw`).
pub fn unescape(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let n = raw[i + 1];
        i += 2;
        let ch = match n {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => {
                let hi = hex4(raw, i).unwrap_or(0xFFFD);
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(raw, i + 2).unwrap_or(0xDC00);
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                char::from_u32(cp).unwrap_or('\u{FFFD}')
            }
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    // SAFETY: the input was UTF-8 and escapes decode to whole chars.
    unsafe { String::from_utf8_unchecked(out) }
}

/// A string as orjson writes it: `"` and `\` escaped, control characters as \b \t \n \f \r or
/// \u00xx (lowercase hex), everything else (DEL and non-ASCII included) as is.
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// JSON's number grammar from `i`: the end of the token, if one starts there.
pub fn scan_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    Some(i)
}

struct Stack {
    items: [u8; MAX_DEPTH + 1],
    len: usize,
}

impl Stack {
    #[inline]
    fn push(&mut self, c: u8) -> R<()> {
        if self.len >= MAX_DEPTH {
            return Err(Defer);
        }
        self.items[self.len] = c;
        self.len += 1;
        Ok(())
    }

    #[inline]
    fn pop(&mut self) {
        self.len -= 1;
    }

    #[inline]
    fn last(&self) -> Option<u8> {
        if self.len == 0 { None } else { Some(self.items[self.len - 1]) }
    }
}

/// The index of the first quote, backslash or control character in `b` (or its length), eight
/// bytes at a time: a byte is flagged by the has-zero-byte trick; the lowest flag is exact.
#[inline]
fn find_special(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]]);
        let q = x ^ (LO * b'"' as u64);
        let s = x ^ (LO * b'\\' as u64);
        let t = ((q.wrapping_sub(LO) & !q) | (s.wrapping_sub(LO) & !s) | (x.wrapping_sub(LO * 0x20) & !x)) & HI;
        if t != 0 {
            return i + (t.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !SPECIAL[b[i] as usize] {
        i += 1;
    }
    i
}
