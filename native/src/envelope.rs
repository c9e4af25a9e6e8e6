//! One change record's envelope (table, op, keys, time, identity), the images left unparsed.
//!
//! Mirrors dynashift's decode.decode_change on the records it accepts; anything else defers to it.

use crate::json::{escape_into, find_special, Defer, P, R};
use std::borrow::Cow;

pub const OPS: [&str; 3] = ["INSERT", "MODIFY", "REMOVE"];
const REMOVE: u8 = 2;

/// One key attribute: name, type tag, value (borrowed from the record unless escaped).
pub type Key<'a> = (Cow<'a, str>, &'static str, Cow<'a, str>);

pub struct Envelope<'a> {
    pub table: Cow<'a, str>,
    pub op: u8,
    pub keys: Vec<Key<'a>>,
    pub version: Option<i64>,
    pub dist_key: String,
    pub event_id: Cow<'a, str>,
    pub ttl: bool,
    pub new_lazy: bool,
    pub old_lazy: bool,
    pub names: Vec<Cow<'a, str>>,
    /// The span in the record of the object its row is rendered from: NewImage, or Keys for a REMOVE.
    pub image: (usize, usize),
}

#[derive(Default)]
enum Scalar<'a> {
    #[default]
    Absent,
    Null,
    Str(Cow<'a, str>),
    Other,
}

fn scalar<'a>(p: &mut P<'a>) -> R<Scalar<'a>> {
    match p.peek()? {
        b'"' => Ok(Scalar::Str(p.string()?)),
        b'n' => {
            p.null()?;
            Ok(Scalar::Null)
        }
        _ => {
            p.skip()?;
            Ok(Scalar::Other)
        }
    }
}

const MAX_MICROS: i128 = 253_402_300_800 * 1_000_000;
const MIN_MICROS: i128 = -62_135_596_800 * 1_000_000;

/// decode.parse_time for a JSON integer (other forms defer). `digits` is a JSON number token of
/// at most 18 characters (P::number), so an integer one fits an i64; parsed without allocating.
fn parse_time(digits: &[u8], precision: Option<&str>) -> R<i64> {
    let (negative, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 18 || !body.iter().all(u8::is_ascii_digit) {
        return Err(Defer);
    }
    // at most 18 digits: below 10^18, so folded in a u64 (i128 arithmetic cost several times more)
    let magnitude = body.iter().fold(0u64, |n, &c| n * 10 + (c - b'0') as u64) as i128;
    let number = if negative { -magnitude } else { magnitude };
    if !(-MAX_MICROS < number && number < MAX_MICROS) {
        return Err(Defer);
    }
    let starts = |p: &[u8], word: &[u8]| p.len() >= word.len() && p[..word.len()].eq_ignore_ascii_case(word);
    let factor: Option<i128> = precision.map(str::as_bytes).and_then(|p| {
        if starts(p, b"MICRO") {
            Some(1)
        } else if starts(p, b"MILLI") {
            Some(1000)
        } else if starts(p, b"SEC") {
            Some(1_000_000)
        } else {
            None
        }
    });
    let factor = factor.unwrap_or_else(|| {
        let size = number.abs();
        if size < 100_000_000_000 {
            1_000_000
        } else if size < 100_000_000_000_000 {
            1000
        } else {
            1
        }
    });
    let micros = number * factor;
    if !(MIN_MICROS <= micros && micros < MAX_MICROS) {
        return Err(Defer);
    }
    Ok(micros as i64)
}

fn table_from_arn(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":table/")?;
    let name = rest.split('/').next()?;
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-');
    ok.then_some(name)
}

/// A JSON number as DynamoDB's N text accepted without rewriting (decode._JSON_NUMBER).
pub fn is_json_number(s: &[u8]) -> bool {
    crate::json::scan_number(s, 0) == Some(s.len())
}

/// One key attribute value `{"S"|"N"|"B": "text"}` (N as JSON writes numbers); others defer.
pub(crate) fn key_value(p: &mut P) -> R<(&'static str, String)> {
    let mut one: Option<(&'static str, String)> = None;
    p.object(|p, tag| {
        if one.is_some() {
            return Err(Defer);
        }
        let tag: &'static str = match tag.as_ref() {
            "S" => "S",
            "N" => "N",
            "B" => "B",
            _ => return Err(Defer),
        };
        if p.peek()? != b'"' {
            return Err(Defer);
        }
        let v = p.string()?;
        if tag == "N" && !is_json_number(v.as_bytes()) {
            return Err(Defer);
        }
        one = Some((tag, v.into_owned()));
        Ok(())
    })?;
    one.ok_or(Defer)
}

/// A full export line `{"Item": {...}}` -> its key attributes (in `key_names` order) and dist_key;
/// the rest of the item is only checked. Mirrors sources/export.py's lazy path.
pub fn export_keys(line: &[u8], key_names: &[String]) -> R<(Vec<(String, &'static str, String)>, String)> {
    if !crate::json::is_utf8(line) || !line.starts_with(b"{\"Item\":") || line.last() != Some(&b'}') {
        return Err(Defer);
    }
    let mut p = P::new(line);
    let mut found: Vec<Option<(&'static str, String)>> = vec![None; key_names.len()];
    let mut members = 0;
    p.object(|p, name| {
        members += 1;
        if name != "Item" || p.peek()? != b'{' {
            return Err(Defer);
        }
        p.object(|p, attr| {
            match key_names.iter().position(|k| k == attr.as_ref()) {
                Some(i) => found[i] = Some(key_value(p)?),
                None => {
                    p.skip()?;
                }
            }
            Ok(())
        })
    })?;
    if members != 1 || !p.at_end() {
        return Err(Defer);
    }
    let mut keys = Vec::with_capacity(key_names.len());
    for (name, v) in key_names.iter().zip(found) {
        let (tag, v) = v.ok_or(Defer)?;
        keys.push((name.clone(), tag, v));
    }
    if keys.is_empty() {
        return Err(Defer);
    }
    let dk = dist_key(&keys);
    Ok((keys, dk))
}

/// The usual Keys object, written compactly without escapes: `{"name":{"S":"text"},...}` (S, N
/// or B, N a JSON number, names distinct): its keys and the index after it; None (nothing
/// consumed) for anything else, which `keys` reads by the general path (that path accepts these
/// bytes too, with the same result: this is only quicker).
fn keys_compact(b: &[u8], at: usize) -> Option<(Vec<Key<'_>>, usize)> {
    // a string token without escapes or control characters at `i`: its text and the index after it
    let plain = |i: usize| -> Option<(&str, usize)> {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let end = i + 1 + find_special(b.get(i + 1..)?);
        if b.get(end) != Some(&b'"') {
            return None;
        }
        // SAFETY: the record was checked as UTF-8 whole, and the span lies between ASCII quotes
        Some((unsafe { std::str::from_utf8_unchecked(&b[i + 1..end]) }, end + 1))
    };
    if b.get(at) != Some(&b'{') {
        return None;
    }
    let mut out: Vec<Key> = Vec::with_capacity(2);
    let mut i = at + 1;
    loop {
        let (name, next) = plain(i)?;
        let head = b.get(next..next + 6)?;
        let tag: &'static str = match head {
            b":{\"S\":" => "S",
            b":{\"N\":" => "N",
            b":{\"B\":" => "B",
            _ => return None,
        };
        let (v, next) = plain(next + 6)?;
        if b.get(next) != Some(&b'}') || (tag == "N" && !is_json_number(v.as_bytes())) {
            return None;
        }
        if out.iter().any(|(n, _, _)| n == name) {
            return None;
        }
        out.push((Cow::Borrowed(name), tag, Cow::Borrowed(v)));
        match b.get(next + 1) {
            Some(b',') => i = next + 2,
            Some(b'}') => return Some((out, next + 2)),
            _ => return None,
        }
    }
}

fn keys<'a>(p: &mut P<'a>) -> R<Vec<Key<'a>>> {
    p.ws();
    if let Some((out, end)) = keys_compact(p.b, p.i) {
        p.i = end;
        return Ok(out);
    }
    let mut out = Vec::new();
    p.object(|p, name| {
        let (tag, v) = key_value(p)?;
        out.push((name.clone(), tag, Cow::Owned(v)));
        Ok(())
    })?;
    if out.is_empty() {
        return Err(Defer);
    }
    Ok(out)
}

/// decode.dist_key: Keys as compact typed JSON with sorted names.
pub(crate) fn dist_key<N: AsRef<str>, V: AsRef<str>>(keys: &[(N, &'static str, V)]) -> String {
    let by_name = |a: &&(N, &'static str, V), b: &&(N, &'static str, V)| a.0.as_ref().as_bytes().cmp(b.0.as_ref().as_bytes());
    // DynamoDB keys have one or two attributes: those are ordered without a vector
    let (pair, many): ([Option<&(N, &'static str, V)>; 2], Vec<&(N, &'static str, V)>) = match keys {
        [a] => ([Some(a), None], Vec::new()),
        [a, b] => {
            if by_name(&b, &a) == std::cmp::Ordering::Less { ([Some(b), Some(a)], Vec::new()) } else { ([Some(a), Some(b)], Vec::new()) }
        }
        _ => {
            let mut order: Vec<&(N, &'static str, V)> = keys.iter().collect();
            order.sort_by(by_name);
            ([None, None], order)
        }
    };
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    for (i, (name, tag, v)) in pair.into_iter().flatten().chain(many).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        escape_into(&mut out, name.as_ref().as_bytes());
        out.extend_from_slice(b":{\"");
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b"\":");
        escape_into(&mut out, v.as_ref().as_bytes());
        out.push(b'}');
    }
    out.push(b'}');
    // SAFETY: built from UTF-8 strings and ASCII.
    unsafe { String::from_utf8_unchecked(out) }
}

/// The envelope of one record; `Err(Defer)` for anything the Python engine must decide.
pub fn decode<'a>(line: &'a [u8], default_table: Option<&str>) -> R<Envelope<'a>> {
    decode_with(line, default_table, Vec::with_capacity(64), true) // one allocation, not a growth per power of two
}

/// A vector of names emptied for the next record (its allocation kept: a line's envelope
/// borrows its names from its own line, so a vector is passed on from one line to the next).
pub fn recycle<'b>(mut names: Vec<Cow<'_, str>>) -> Vec<Cow<'b, str>> {
    names.clear();
    names.into_iter().map(|_| unreachable!("emptied")).collect() // in place: same layout
}

/// `decode`, the NewImage's names pushed on `names` (emptied first). Not `distinct`: an INSERT's
/// or MODIFY's names are not checked for duplicates here, the caller must (decoder::names_met).
pub fn decode_with<'a>(line: &'a [u8], default_table: Option<&str>, mut names: Vec<Cow<'a, str>>, distinct: bool)
                       -> R<Envelope<'a>> {
    names.clear();
    if !crate::json::is_utf8(line) {
        return Err(Defer);
    }
    let mut p = P::new(line);
    let (mut table, mut op, mut event_id, mut arn, mut rec_precision) =
        (Scalar::Absent, None::<u8>, Cow::Borrowed(""), Scalar::Absent, Scalar::Absent);
    let mut identity: Option<(Scalar, Scalar, Scalar, Scalar)> = None;
    let mut ddb_seen = false;
    let mut time: Option<&[u8]> = None;
    let mut precision = Scalar::Absent;
    let mut key_list = None;
    let (mut new_lazy, mut old_lazy, mut new_null) = (false, false, true);
    let (mut new_span, mut keys_span) = ((0, 0), (0, 0));
    p.object(|p, name| {
        match name.as_ref() {
            "dynamodb" => {
                if p.peek()? != b'{' {
                    return Err(Defer);
                }
                ddb_seen = true;
                p.object(|p, name| {
                    match name.as_ref() {
                        "ApproximateCreationDateTime" => match p.peek()? {
                            b'n' => {
                                p.null()?;
                            }
                            b'-' | b'0'..=b'9' => time = Some(p.number()?),
                            _ => return Err(Defer),
                        },
                        "ApproximateCreationDateTimePrecision" => precision = scalar(p)?,
                        "Keys" => {
                            p.ws();
                            let at = p.i;
                            key_list = Some(keys(p)?);
                            keys_span = (at, p.i);
                        }
                        "NewImage" => {
                            if p.null()? {
                                return Ok(());
                            }
                            if p.peek()? != b'{' {
                                return Err(Defer);
                            }
                            new_lazy = true;
                            new_null = false;
                            new_span = p.skip_object_names(&mut names)?;
                        }
                        "OldImage" => {
                            if p.null()? {
                                return Ok(());
                            }
                            if p.peek()? != b'{' {
                                return Err(Defer);
                            }
                            old_lazy = true;
                            p.skip()?;
                        }
                        _ => {
                            p.skip()?;
                        }
                    }
                    Ok(())
                })?;
            }
            "tableName" => table = scalar(p)?,
            "eventName" => {
                if p.peek()? != b'"' {
                    return Err(Defer);
                }
                let v = p.string()?;
                op = Some(OPS.iter().position(|o| *o == v).ok_or(Defer)? as u8);
            }
            "eventID" => {
                if let Scalar::Str(s) = scalar(p)? {
                    event_id = s;
                }
            }
            "eventSourceARN" => arn = scalar(p)?,
            "approximateCreationDateTimePrecision" => rec_precision = scalar(p)?,
            "userIdentity" => {
                if p.peek()? == b'{' {
                    let mut who = (Scalar::Absent, Scalar::Absent, Scalar::Absent, Scalar::Absent);
                    p.object(|p, name| {
                        match name.as_ref() {
                            "type" => who.0 = scalar(p)?,
                            "Type" => who.1 = scalar(p)?,
                            "principalId" => who.2 = scalar(p)?,
                            "PrincipalId" => who.3 = scalar(p)?,
                            _ => {
                                p.skip()?;
                            }
                        }
                        Ok(())
                    })?;
                    identity = Some(who);
                } else {
                    p.skip()?;
                }
            }
            _ => {
                p.skip()?;
            }
        }
        Ok(())
    })?;
    if !p.at_end() || !ddb_seen {
        return Err(Defer);
    }
    let op = op.ok_or(Defer)?;
    if (distinct || op == REMOVE) && crate::json::has_duplicates(&names) {
        return Err(Defer); // (a REMOVE's names are not handed on: checked here)
    }
    let keys = key_list.ok_or(Defer)?;
    let table: Cow<'a, str> = match table {
        Scalar::Str(s) if !s.is_empty() => s,
        Scalar::Str(_) | Scalar::Null | Scalar::Absent => {
            let from_arn = match &arn {
                Scalar::Str(a) => table_from_arn(a).map(str::to_string),
                _ => None,
            };
            match from_arn.or_else(|| default_table.filter(|t| !t.is_empty()).map(str::to_string)) {
                Some(t) => Cow::Owned(t),
                None => return Err(Defer),
            }
        }
        Scalar::Other => return Err(Defer),
    };
    if op != REMOVE && (new_null || !new_lazy) {
        return Err(Defer); // INSERT/MODIFY without a NewImage object: rejected by the reference
    }
    // As the reference's lazy path: the record-level precision is not consulted for these records.
    let _ = rec_precision;
    let precision: Option<Cow<str>> = match precision {
        Scalar::Str(s) if !s.is_empty() => Some(s),
        Scalar::Str(_) | Scalar::Null | Scalar::Absent => None,
        Scalar::Other => return Err(Defer),
    };
    if precision.as_ref().is_some_and(|s| !s.is_ascii()) {
        return Err(Defer);
    }
    let version = match time {
        None => None,
        Some(digits) => Some(parse_time(digits, precision.as_deref())?),
    };
    let ttl = op == REMOVE
        && match &identity {
            Some((t, big_t, pid, big_pid)) => {
                let kind = if matches!(t, Scalar::Absent) { big_t } else { t };
                let who = if matches!(pid, Scalar::Absent) { big_pid } else { pid };
                matches!(kind, Scalar::Str(k) if k == "Service")
                    && matches!(who, Scalar::Str(w) if w == "dynamodb.amazonaws.com")
            }
            None => false,
        };
    let dist_key = dist_key(&keys);
    Ok(Envelope {
        table,
        op,
        keys,
        version,
        dist_key,
        event_id,
        ttl,
        new_lazy: op != REMOVE && new_lazy,
        old_lazy: op == REMOVE && old_lazy,
        names: if op != REMOVE { names } else { Vec::new() },
        image: if op != REMOVE { new_span } else { keys_span },
    })
}
