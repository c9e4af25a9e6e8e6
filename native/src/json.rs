//! A strict, allocation-light JSON reader over one record's bytes.
//!
//! Every anomaly (bad syntax, a lone surrogate, a duplicate name, a value of an unexpected kind,
//! nesting deeper than `MAX_DEPTH`) is `Defer`: the caller then hands the record to the Python
//! engine, which is the reference and decides (usually: rejects it with its reason). So this
//! reader needs to be right only on what it accepts, and never has to reproduce an error message.

pub struct Defer;

/// Whether a whole record is UTF-8 (checked once, so that string tokens need no check).
#[inline]
pub fn is_utf8(b: &[u8]) -> bool {
    simdutf8::basic::from_utf8(b).is_ok()
}

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
        self.i = skip_ws(self.b, self.i);
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
    #[inline]
    pub fn string_raw(&mut self) -> R<(&'a [u8], bool)> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return Err(Defer);
        }
        let start = self.i + 1;
        let (end, esc) = scan_string_esc(self.b, self.i)?;
        self.i = end;
        Ok((&self.b[start..end - 1], esc))
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

    /// Skip (and check) any value without recursion; its span. The images are most of a record's
    /// bytes and only checked, never built, so this loop is the engine's hottest: it keeps its
    /// position in a local, the open containers in a bit stack (1 = object), and scans strings
    /// sixteen bytes at a time.
    pub fn skip(&mut self) -> R<(usize, usize)> {
        self.walk::<false>(&mut Vec::new())
    }

    /// Skip (and check) an object as `skip` does, its own members' names (decoded) pushed on
    /// `names` in order: one loop over the whole object where `object` with a `skip` per member
    /// cost about three times the instructions per member (a record's NewImage, whose names
    /// planning needs, is half its members). Unlike `object`, duplicate names are not refused
    /// here: the caller checks (envelope::decode_with, decoder::names_met).
    pub fn skip_object_names(&mut self, names: &mut Vec<std::borrow::Cow<'a, str>>) -> R<(usize, usize)> {
        self.walk::<true>(names)
    }

    /// `skip`, and with NAMES the value must be an object (read as one whatever its first
    /// member's name) whose members' names go on `names`.
    #[inline(always)]
    fn walk<const NAMES: bool>(&mut self, names: &mut Vec<std::borrow::Cow<'a, str>>) -> R<(usize, usize)> {
        let b = self.b;
        let mut i = skip_ws(b, self.i);
        let start = i;
        let mut stack = [0u64; (MAX_DEPTH + 63) / 64];
        let mut depth = 0usize;
        if NAMES {
            if b.get(i) != Some(&b'{') {
                return Err(Defer);
            }
            i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                self.i = i + 1;
                return Ok((start, i + 1));
            }
            stack[0] |= 1;
            depth = 1;
            i = named_member(b, i, names)?;
        }
        'value: loop {
            // a value starts at i (whitespace skipped)
            match b.get(i) {
                Some(b'"') => i = scan_string(b, i)?,
                Some(b'{') => {
                    // DynamoDB's typed values first: most are `{"S":"..."}` or the like
                    if let Some(end) = typed_scalar(b, i) {
                        i = end;
                    } else if let Some(inner) = typed_container(b, i) {
                        if depth >= MAX_DEPTH {
                            return Err(Defer);
                        }
                        stack[depth / 64] |= 1 << (depth % 64);
                        depth += 1;
                        i = skip_ws(b, inner);
                        continue 'value;
                    } else {
                    i = skip_ws(b, i + 1);
                    if b.get(i) == Some(&b'}') {
                        i += 1;
                    } else {
                        if depth >= MAX_DEPTH {
                            return Err(Defer);
                        }
                        stack[depth / 64] |= 1 << (depth % 64);
                        depth += 1;
                        i = member_name(b, i)?;
                        continue 'value;
                    }
                    }
                }
                Some(b'[') => {
                    i = skip_ws(b, i + 1);
                    if b.get(i) == Some(&b']') {
                        i += 1;
                    } else {
                        if depth >= MAX_DEPTH {
                            return Err(Defer);
                        }
                        stack[depth / 64] &= !(1 << (depth % 64));
                        depth += 1;
                        continue 'value;
                    }
                }
                Some(b't') => i = literal_at(b, i, b"true")?,
                Some(b'f') => i = literal_at(b, i, b"false")?,
                Some(b'n') => i = literal_at(b, i, b"null")?,
                Some(b'-' | b'0'..=b'9') => {
                    let end = scan_number(b, i).ok_or(Defer)?;
                    if end - i > 18 {
                        return Err(Defer); // as `number`: the reference decides
                    }
                    i = end;
                }
                _ => return Err(Defer),
            }
            // after a value: close containers until a comma opens the next value
            loop {
                if depth == 0 {
                    self.i = i;
                    return Ok((start, i));
                }
                i = skip_ws(b, i);
                let in_object = stack[(depth - 1) / 64] & (1 << ((depth - 1) % 64)) != 0;
                match b.get(i) {
                    Some(b',') => {
                        i = skip_ws(b, i + 1);
                        if in_object {
                            i = if NAMES && depth == 1 { named_member(b, i, names)? } else { member_name(b, i)? };
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_object => {
                        i += 1;
                        depth -= 1;
                    }
                    Some(b']') if !in_object => {
                        i += 1;
                        depth -= 1;
                    }
                    _ => return Err(Defer),
                }
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
        // allocation for the usual object; the array is not initialised beyond `nfast`),
        // escaped or surplus ones owned; a 1024-bit filter of their hashes, and the hashes kept with
        // them, spare most compares
        let mut fast: [std::mem::MaybeUninit<(u32, &'a str)>; 64] = [std::mem::MaybeUninit::uninit(); 64];
        let mut nfast = 0;
        let mut slow: Vec<String> = Vec::new();
        let mut seen = [0u64; 16];
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            let name = self.string()?;
            let h = name_hash(name.as_bytes());
            let (word, bit) = (((h >> 6) & 15) as usize, 1u64 << (h & 63));
            if seen[word] & bit != 0
                // SAFETY: the first `nfast` entries are initialised
                && (fast[..nfast].iter().any(|x| {
                    let (xh, xs) = unsafe { x.assume_init() };
                    xh == h && xs == name.as_ref()
                }) || slow.iter().any(|x| *x == name.as_ref()))
            {
                return Err(Defer);
            }
            seen[word] |= bit;
            self.expect(b':')?;
            f(self, &name)?;
            match name {
                std::borrow::Cow::Borrowed(b) if nfast < fast.len() => {
                    fast[nfast] = std::mem::MaybeUninit::new((h, b));
                    nfast += 1;
                }
                other => slow.push(other.into_owned()),
            }
            if self.member_end()? {
                return Ok(());
            }
        }
    }

    /// `object` for an object whose names are known to be distinct (checked when its record
    /// was decoded: `skip_object_names`), without the duplicate check.
    pub fn object_distinct<F>(&mut self, mut f: F) -> R<()>
    where
        F: FnMut(&mut P<'a>, &std::borrow::Cow<'a, str>) -> R<()>,
    {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            let name = self.string()?;
            self.expect(b':')?;
            f(self, &name)?;
            if self.member_end()? {
                return Ok(());
            }
        }
    }

    /// After a member's value: `,` (another member follows: false) or `}` (the object ended:
    /// true), consumed; anything else defers.
    fn member_end(&mut self) -> R<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Ok(false)
            }
            b'}' => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(Defer),
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
    out.reserve(s.len() + 2);
    out.push(b'"');
    // the runs between the bytes to escape (`find_special`'s: quote, backslash, control) copied
    // whole, found sixteen bytes at a time: most strings have none
    let mut start = 0;
    loop {
        let i = start + find_special(&s[start..]);
        out.extend_from_slice(&s[start..i]);
        let Some(&c) = s.get(i) else { break };
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => b"",
        };
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// The index after JSON whitespace from `i`.
#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // JSON's whitespace is all at or below the space: one compare settles the usual byte
    while let Some(&c) = b.get(i) {
        if c > b' ' || !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            break;
        }
        i += 1;
    }
    i
}

#[inline(always)]
fn literal_at<const N: usize>(b: &[u8], i: usize, word: &[u8; N]) -> R<usize> {
    lit_at(b, i, word).ok_or(Defer)
}

/// A member's name and its colon from `i`: the index of its value (whitespace skipped).
#[inline(always)]
fn member_name(b: &[u8], i: usize) -> R<usize> {
    if b.get(i) != Some(&b'"') {
        return Err(Defer);
    }
    let i = skip_ws(b, scan_string(b, i)?);
    if b.get(i) != Some(&b':') {
        return Err(Defer);
    }
    Ok(skip_ws(b, i + 1))
}

/// `member_name`, the name (decoded) pushed on `names`.
#[inline(always)]
fn named_member<'a>(b: &'a [u8], i: usize, names: &mut Vec<std::borrow::Cow<'a, str>>) -> R<usize> {
    if b.get(i) != Some(&b'"') {
        return Err(Defer);
    }
    let (end, esc) = scan_string_esc(b, i)?;
    let raw = &b[i + 1..end - 1];
    names.push(if esc {
        std::borrow::Cow::Owned(unescape(raw))
    } else {
        // SAFETY: the whole record was validated as UTF-8 and `raw` lies between ASCII quotes.
        std::borrow::Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(raw) })
    });
    let i = skip_ws(b, end);
    if b.get(i) != Some(&b':') {
        return Err(Defer);
    }
    Ok(skip_ws(b, i + 1))
}

/// A member name's hash for the duplicate filters: its first and last eight bytes mixed with
/// its length (a byte at a time below eight); a collision only costs a compare.
#[inline(always)]
fn name_hash(n: &[u8]) -> u32 {
    let x = if n.len() >= 8 {
        let head = u64::from_le_bytes(n[..8].try_into().unwrap());
        let tail = u64::from_le_bytes(n[n.len() - 8..].try_into().unwrap());
        head ^ tail.rotate_left(29)
    } else {
        n.iter().fold(0u64, |x, &c| (x << 8) | c as u64)
    };
    ((x ^ n.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

/// Whether two of `names` are equal: a 1024-bit filter of their hashes (as `object` keeps)
/// spares the compares but for the names whose bit was set already.
pub(crate) fn has_duplicates(names: &[std::borrow::Cow<str>]) -> bool {
    let mut seen = [0u64; 16];
    for (k, name) in names.iter().enumerate() {
        let n = name.as_bytes();
        let h = name_hash(n);
        let (word, bit) = (((h >> 6) & 15) as usize, 1u64 << (h & 63));
        if seen[word] & bit != 0 && names[..k].iter().any(|x| x.as_bytes() == n) {
            return true;
        }
        seen[word] |= bit;
    }
    false
}

/// The string token at `at` (a quote), checked; the index after its closing quote.
#[inline(always)]
pub fn scan_string(b: &[u8], at: usize) -> R<usize> {
    scan_string_esc(b, at).map(|(end, _)| end)
}

/// The string token at `at` (a quote): checked (escapes, surrogate pairs, no control
/// characters); the index after its closing quote, and whether it holds escapes.
#[inline(always)]
fn scan_string_esc(b: &[u8], at: usize) -> R<(usize, bool)> {
    let mut i = at + 1;
    let mut esc = false;
    loop {
        i += find_special(&b[i..]);
        match *b.get(i).ok_or(Defer)? {
            b'"' => return Ok((i + 1, esc)),
            b'\\' => {
                esc = true;
                let n = *b.get(i + 1).ok_or(Defer)?;
                match n {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let cp = hex4(b, i + 2)?;
                        i += 6;
                        if (0xD800..0xDC00).contains(&cp) {
                            if b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u') {
                                let lo = hex4(b, i + 2)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Defer);
                                }
                                i += 6;
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
            _ => return Err(Defer), // a control character
        }
    }
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

/// The index of the first quote, backslash or control character in `b` (or its length):
/// sixteen bytes at a time with SSE2 (every x86-64 has it), eight with a has-zero-byte trick
/// elsewhere, then byte by byte. Always inlined: most strings are shorter than sixteen bytes,
/// and a call (with its constants set up again) cost about as much as the scan.
#[inline(always)]
pub fn find_special(b: &[u8]) -> usize {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; loads are unaligned and within `b`.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let slash = _mm_set1_epi8(b'\\' as i8);
            let ctrl = _mm_set1_epi8(0x1f);
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                // x <= 0x1f unsigned: max(x, 0x1f) == 0x1f
                let low = _mm_cmpeq_epi8(_mm_max_epu8(x, ctrl), ctrl);
                let hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)), low);
                let mask = _mm_movemask_epi8(hit) as u32;
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
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

/// A DynamoDB typed string value `{"S":"..."}` (or N, B) without whitespace at `i`: the index
/// after it, the string checked as `scan_string` checks it. None: take the general path (which
/// accepts the same bytes, so this is only quicker).
#[inline(always)]
fn typed_scalar(b: &[u8], i: usize) -> Option<usize> {
    const S: u64 = u64::from_le_bytes(*b"{\"S\":\"\0\0");
    const N: u64 = u64::from_le_bytes(*b"{\"N\":\"\0\0");
    const B: u64 = u64::from_le_bytes(*b"{\"B\":\"\0\0");
    let head = u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?) & 0xFFFF_FFFF_FFFF;
    if head == S || head == N || head == B {
        let end = scan_string(b, i + 5).ok()?;
        return (b.get(end) == Some(&b'}')).then_some(end + 1);
    }
    // NULL and BOOL (their third byte tells them from the containers, which come next), compared
    // as fixed-size arrays (a slice compare of a length known only at run time calls memcmp)
    match head >> 16 & 0xFF {
        0x4E => lit_at(b, i, b"{\"NULL\":true}"),
        0x42 => lit_at(b, i, b"{\"BOOL\":true}").or_else(|| lit_at(b, i, b"{\"BOOL\":false}")),
        _ => None,
    }
}

/// The index after `lit` when `b` holds it at `i`.
#[inline(always)]
fn lit_at<const N: usize>(b: &[u8], i: usize, lit: &[u8; N]) -> Option<usize> {
    let here: &[u8; N] = b.get(i..i + N)?.try_into().ok()?;
    (here == lit).then_some(i + N)
}

/// A DynamoDB typed container `{"M":` or `{"L":` (or SS, NS, BS) without whitespace at `i`: the
/// index of its value, inside an object of one member whose name was checked.
#[inline(always)]
fn typed_container(b: &[u8], i: usize) -> Option<usize> {
    const M: u64 = u64::from_le_bytes(*b"{\"M\":\0\0\0");
    const L: u64 = u64::from_le_bytes(*b"{\"L\":\0\0\0");
    const SS: u64 = u64::from_le_bytes(*b"{\"SS\":\0\0");
    const NS: u64 = u64::from_le_bytes(*b"{\"NS\":\0\0");
    const BS: u64 = u64::from_le_bytes(*b"{\"BS\":\0\0");
    let head = u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?);
    let five = head & 0xFF_FFFF_FFFF;
    if five == M || five == L {
        return Some(i + 5);
    }
    let six = head & 0xFFFF_FFFF_FFFF;
    (six == SS || six == NS || six == BS).then_some(i + 6)
}
