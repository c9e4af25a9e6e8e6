//! Winners' images -> one text column per attribute, as Arrow string buffers.
//!
//! Column text follows dynashift's decode.render_value exactly for what it accepts: S, N, B as
//! written; BOOL as true/false; NULL as SQL NULL; M, L and sets as compact JSON with sorted map
//! names, sorted de-duplicated sets (NS by numeric value), strings escaped as orjson escapes them.
//! Anything else defers (the whole table then takes the Python engine, which decides).

use crate::envelope::is_json_number;
use crate::json::{escape_into, Defer, P, R};
use std::borrow::Cow;
use std::cmp::Ordering;
use crate::fxhash::{hash_bytes, same, StrSet};
use crate::decimal::DecAt;
use crate::typing::Typing;

pub const TAGS: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];
const MAX_VALUE_DEPTH: usize = 100;

pub struct Column {
    pub name: String,
    pub tags: u16,
    pub offsets: Vec<u8>,
    pub data: Vec<u8>,
    pub validity: Vec<u8>,
    pub nulls: usize,
    rows: usize,
    next: usize, // the column whose attribute followed this one's in the last row that had it
    pub typing: Option<Typing>, // typed mode's per-row facts (Renderer::typed), else None
}

impl Column {
    fn new(name: String, typed: bool) -> Self {
        Column { name, tags: 0, offsets: 0i32.to_le_bytes().to_vec(), data: Vec::new(), validity: Vec::new(),
                 nulls: 0, rows: 0, next: NONE, typing: if typed { Some(Typing::new(0)) } else { None } }
    }

    /// Ends the current row, whose text (if valid) was appended to `data`.
    #[inline]
    fn end_row(&mut self, valid: bool) {
        let row = self.rows;
        if row % 8 == 0 {
            self.validity.push(0);
        }
        if valid {
            *self.validity.last_mut().unwrap() |= 1 << (row % 8);
        } else {
            self.nulls += 1;
        }
        self.offsets.extend_from_slice(&(self.data.len() as i32).to_le_bytes());
        self.rows += 1;
    }

    /// Null rows up to `to` rows: written at once (wide tables' rows hold varied subsets of their
    /// attributes, so most columns are padded at most of their rows).
    #[inline]
    fn pad(&mut self, to: usize) {
        if self.rows < to {
            let n = to - self.rows;
            let end = (self.data.len() as i32).to_le_bytes();
            self.offsets.reserve(4 * n);
            for _ in 0..n {
                self.offsets.extend_from_slice(&end);
            }
            self.validity.resize(to.div_ceil(8), 0); // the rows' bits: not valid
            self.nulls += n;
            self.rows = to;
        }
        if let Some(t) = self.typing.as_mut() {
            t.pad(to);
        }
    }
}

const NONE: usize = usize::MAX;

/// The columns met so far, by name; rows of a table mostly list their attributes in the order
/// of the previous row, so the column after the previous attribute's (or the first row's first)
/// is tried before the name is hashed.
#[derive(Default)]
struct Columns {
    columns: Vec<Column>,
    index: StrSet, // the columns' names, in the order of `columns`
    first: Option<usize>, // the column of the last row's first attribute
    prev: usize,          // the previous attribute's column in this row (NONE at a row's start)
    typed: bool,          // columns keep typed mode's per-row facts (Typing)
}

impl Columns {
    #[inline]
    fn start_row(&mut self) {
        self.prev = NONE;
    }

    /// The column of attribute `attr`, made when first met.
    #[inline]
    fn find(&mut self, attr: &str) -> usize {
        let hint = if self.prev == NONE { self.first.unwrap_or(NONE) } else { self.columns[self.prev].next };
        // the name hashed once: it settles the hint (which misses on most attributes of tables
        // whose rows hold varied subsets of them, wide items) with a compare of words
        let h = hash_bytes(attr.as_bytes());
        let at = if hint < self.columns.len() && self.index.hash_at(hint) == h && same(self.columns[hint].name.as_bytes(), attr.as_bytes()) {
            hint
        } else {
            match self.index.find_hashed(h, attr.as_bytes()) {
                Some(i) => i,
                None => {
                    self.columns.push(Column::new(attr.to_string(), self.typed));
                    self.index.add_new(h, attr);
                    self.columns.len() - 1
                }
            }
        };
        if self.prev == NONE {
            self.first = Some(at);
        } else {
            self.columns[self.prev].next = at;
        }
        self.prev = at;
        at
    }
}

impl Columns {
    /// Room reserved in every column for `total` rows, its text at the length per row of the
    /// `done` rows so far (+1/8): a share's columns then grow once, not by doubling (each
    /// doubling a copy of the column: ~5% of a wide render's samples went to realloc's copies).
    fn reserve(&mut self, done: usize, total: usize) {
        if done == 0 || total <= done {
            return;
        }
        for c in self.columns.iter_mut() {
            let per_row = c.data.len() / done + 1;
            let want = per_row * total + per_row * total / 8;
            c.data.reserve(want.saturating_sub(c.data.len()));
            c.offsets.reserve((4 * (total + 1)).saturating_sub(c.offsets.len()));
            c.validity.reserve((total / 8 + 1).saturating_sub(c.validity.len()));
        }
    }
}

/// Rows rendered before the columns' room for the rest is reserved (Columns::reserve).
const SAMPLE_ROWS: usize = 256;

pub struct Rendered {
    pub rows: usize,
    pub columns: Vec<Column>,
}

/// Buffers shared by the whole rendering, so that a map costs no allocation: the members of
/// the maps being rendered (name, span of its text in the output), innermost last, and a copy
/// of a finished map's unsorted text. A nested map is finished before its parent uses either.
#[derive(Default)]
struct Scratch<'a> {
    members: Vec<(Cow<'a, str>, usize, usize)>,
    tmp: Vec<u8>,
    items: Vec<Cow<'a, str>>,  // a set's members (sets hold no sets: one at a time)
    digits: Vec<u8>,           // an NS set's numbers' significant digits (DecAt)
    numbers: Vec<(DecAt, usize)>, // an NS set's distinct numbers, each with its first item
}

/// Which image of each row: 0 NewImage, 1 OldImage, 2 Keys.
pub fn render_rows(lines: &[&[u8]], which: &[u8]) -> R<Rendered> {
    let mut columns = Columns::default();
    let mut sc = Scratch::default();
    for (row, (&line, &w)) in lines.iter().zip(which).enumerate() {
        if row == SAMPLE_ROWS {
            columns.reserve(row, lines.len());
        }
        columns.start_row();
        at_image(line, w, |p| p.object(|p, attr| attribute(p, attr, row, &mut columns, &mut sc)))?;
    }
    finish(lines.len(), columns.columns)
}

/// Images rendered as render_rows renders them, a few rows at a time (their bytes need to live
/// only through `add`: a batch's winners are read back from their files a chunk at a time).
#[derive(Default)]
pub struct Renderer {
    columns: Columns,
    rows: usize,
    expect: usize, // the rows `add` will be given in all (0: not known)
}

impl Renderer {
    /// A renderer whose columns also keep each row's type tag and numbers' needs (typed mode).
    pub fn typed() -> Self {
        let mut r = Renderer::default();
        r.columns.typed = true;
        r
    }

    /// The next rows: where `whole[i]`, `rows[i]` is a whole record (its image `which[i]`: 0
    /// NewImage, 1 OldImage, 2 Keys); elsewhere the image object itself, cut from a record that
    /// envelope::decode accepted whole (so its record needs no second look: file lines).
    /// Says how many rows `add` will be given in all, so that the columns grow once (Columns::reserve).
    pub fn expect(&mut self, rows: usize) {
        self.expect = rows;
    }

    pub fn add(&mut self, rows: &[&[u8]], whole: &[bool], which: &[u8]) -> R<()> {
        if self.rows >= SAMPLE_ROWS && self.rows < SAMPLE_ROWS + rows.len().max(1) && self.expect > self.rows {
            self.columns.reserve(self.rows, self.expect); // once: the first chunk past SAMPLE_ROWS
        }
        let columns = &mut self.columns;
        let mut sc = Scratch::default();
        for ((&bytes, &w), &which) in rows.iter().zip(whole).zip(which) {
            let row = self.rows;
            let image = if w { image_of(bytes, which)? } else { bytes };
            let mut p = P::new(image);
            columns.start_row();
            // an image cut from its record (not `w`) is a NewImage or Keys object envelope::decode
            // read whole: its names were found distinct there
            if w {
                p.object(|p, attr| attribute(p, attr, row, columns, &mut sc))?;
            } else {
                p.object_distinct(|p, attr| attribute(p, attr, row, columns, &mut sc))?;
            }
            if !p.at_end() {
                return Err(Defer);
            }
            self.rows += 1;
        }
        Ok(())
    }

    pub fn finish(self) -> R<Rendered> {
        finish(self.rows, self.columns.columns)
    }
}

/// The image object of a whole record (0 NewImage, 1 OldImage, 2 Keys), found as render_rows finds it.
fn image_of(line: &[u8], which: u8) -> R<&[u8]> {
    let mut span = (0, 0);
    at_image(line, which, |p| {
        span = p.skip()?;
        Ok(())
    })?;
    Ok(&line[span.0..span.1])
}

/// Walks a whole record to its image (0 NewImage, 1 OldImage, 2 Keys) and hands it to `inside`,
/// which reads the image object; the record must be UTF-8, hold `dynamodb` and that image as
/// objects, and end there. Anything else defers.
fn at_image<'a>(line: &'a [u8], which: u8, mut inside: impl FnMut(&mut P<'a>) -> R<()>) -> R<()> {
    if !crate::json::is_utf8(line) {
        return Err(Defer);
    }
    let want = match which {
        0 => "NewImage",
        1 => "OldImage",
        _ => "Keys",
    };
    let mut p = P::new(line);
    let mut found = false;
    let mut dynamodb = false;
    p.object(|p, name| {
        if name != "dynamodb" {
            return p.skip().map(|_| ());
        }
        dynamodb = true;
        if p.peek()? != b'{' {
            return Err(Defer);
        }
        p.object(|p, name| {
            if name != want {
                return p.skip().map(|_| ());
            }
            if p.peek()? != b'{' {
                return Err(Defer);
            }
            found = true;
            inside(p)
        })
    })?;
    if !p.at_end() || !dynamodb || !found {
        return Err(Defer);
    }
    Ok(())
}

/// One attribute of row `row`'s image: its text appended to its column (made when first met).
#[inline]
fn attribute<'a>(p: &mut P<'a>, attr: &Cow<'a, str>, row: usize, columns: &mut Columns, sc: &mut Scratch<'a>)
                 -> R<()> {
    let at = columns.find(attr);
    let col = &mut columns.columns[at];
    col.pad(row);
    // the text goes straight into the column's data
    let start = col.data.len();
    let (tag, valid) = value(p, &mut col.data, sc, 1, true)?;
    if let Some(t) = col.typing.as_mut() {
        if tag == 1 {
            if !t.push_number(tag as u8, &col.data[start..]) {
                return Err(Defer);
            }
        } else {
            t.push_other(tag as u8);
        }
    }
    col.end_row(valid);
    col.tags |= 1 << tag;
    Ok(())
}

/// Full export lines `{"Item": {...}}` rendered as render_rows renders their items as NewImage,
/// in the same pass reading each line's key attributes (envelope::export_keys' rule) into its
/// dist_key: one parse per line. Defers when any line is one export_keys or render_rows defers.
pub fn render_items(lines: &[&[u8]], key_names: &[String]) -> R<(Rendered, Vec<String>)> {
    let mut columns = Columns::default();
    let mut sc = Scratch::default();
    let mut dist_keys: Vec<String> = Vec::with_capacity(lines.len());
    let mut found: Vec<Option<(&'static str, String)>> = vec![None; key_names.len()];
    for (row, line) in lines.iter().enumerate() {
        if row == SAMPLE_ROWS {
            columns.reserve(row, lines.len()); // (as render_rows: realloc's copies were ~4% of a chunk's render)
        }
        let line: &[u8] = line;
        if !crate::json::is_utf8(line) || !line.starts_with(b"{\"Item\":") || line.last() != Some(&b'}') {
            return Err(Defer);
        }
        found.iter_mut().for_each(|f| *f = None);
        columns.start_row();
        let mut p = P::new(line);
        let mut members = 0;
        p.object(|p, name| {
            members += 1;
            if name != "Item" || p.peek()? != b'{' {
                return Err(Defer);
            }
            p.object(|p, attr| {
                let Some(k) = key_names.iter().position(|k| k == attr.as_ref()) else {
                    return attribute(p, attr, row, &mut columns, &mut sc);
                };
                p.ws();
                let start = p.i;
                attribute(p, attr, row, &mut columns, &mut sc)?;
                found[k] = Some(crate::envelope::key_value(&mut P::new(&line[start..p.i]))?);
                Ok(())
            })
        })?;
        if members != 1 || !p.at_end() {
            return Err(Defer);
        }
        let mut keys = Vec::with_capacity(key_names.len());
        for (name, v) in key_names.iter().zip(found.iter_mut()) {
            let (tag, v) = v.take().ok_or(Defer)?;
            keys.push((name.clone(), tag, v));
        }
        if keys.is_empty() {
            return Err(Defer);
        }
        dist_keys.push(crate::envelope::dist_key(&keys));
    }
    Ok((finish(lines.len(), columns.columns)?, dist_keys))
}

fn finish(rows: usize, mut columns: Vec<Column>) -> R<Rendered> {
    for col in columns.iter_mut() {
        col.pad(rows);
        if col.data.len() > i32::MAX as usize {
            return Err(Defer);
        }
    }
    Ok(Rendered { rows, columns })
}

/// A type tag's index in TAGS.
#[inline]
fn tag_index(tag: &str) -> R<usize> {
    Ok(match tag {
        "S" => 0,
        "N" => 1,
        "B" => 2,
        "BOOL" => 3,
        "NULL" => 4,
        "M" => 5,
        "L" => 6,
        "SS" => 7,
        "NS" => 8,
        "BS" => 9,
        _ => return Err(Defer),
    })
}

/// The usual start of an attribute value, `{"TAG":` written compactly: its tag's index, the
/// parser moved past the colon; None (the parser unmoved) for anything else, which the general
/// path reads.
#[inline]
fn compact_tag(p: &mut P) -> Option<usize> {
    p.ws();
    let rest = p.b.get(p.i..)?;
    if rest.len() < 5 || rest[0] != b'{' || rest[1] != b'"' {
        return None;
    }
    let (t, len) = match &rest[2..rest.len().min(8)] {
        [b'S', b'"', b':', ..] => (0, 3),
        [b'N', b'"', b':', ..] => (1, 3),
        [b'B', b'"', b':', ..] => (2, 3),
        [b'M', b'"', b':', ..] => (5, 3),
        [b'L', b'"', b':', ..] => (6, 3),
        [b'S', b'S', b'"', b':', ..] => (7, 4),
        [b'N', b'S', b'"', b':', ..] => (8, 4),
        [b'B', b'S', b'"', b':', ..] => (9, 4),
        [b'B', b'O', b'O', b'L', b'"', b':'] => (3, 6),
        [b'N', b'U', b'L', b'L', b'"', b':'] => (4, 6),
        _ => return None,
    };
    p.i += 2 + len;
    Some(t)
}

/// A string decoded from the record written as a JSON string, as orjson writes it: one borrowed
/// from the record (its token held no escape) has no quote, backslash or control character (the
/// reader refuses raw ones), so it is written as it is, without the scan for bytes to escape.
#[inline]
fn quote_into(out: &mut Vec<u8>, s: &Cow<str>) {
    match s {
        Cow::Borrowed(b) => {
            out.reserve(b.len() + 2);
            out.push(b'"');
            out.extend_from_slice(b.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(o) => escape_into(out, o.as_bytes()),
    }
}

/// One attribute value `{"TAG": v}`: its tag index and whether it is non-NULL; its text (column
/// text when `top`, else its JSON) appended to `out`.
fn value<'a>(p: &mut P<'a>, out: &mut Vec<u8>, sc: &mut Scratch<'a>, depth: usize, top: bool) -> R<(usize, bool)> {
    if depth > MAX_VALUE_DEPTH {
        return Err(Defer);
    }
    let t = match compact_tag(p) {
        Some(t) => t,
        None => {
            p.expect(b'{')?;
            let tag = p.string()?;
            p.expect(b':')?;
            tag_index(&tag)?
        }
    };
    let mut valid = true;
    match t {
        0 | 2 => {
            // S, B
            if p.peek()? != b'"' {
                return Err(Defer);
            }
            let s = p.string()?;
            if top {
                out.extend_from_slice(s.as_bytes());
            } else {
                quote_into(out, &s);
            }
        }
        1 => {
            if p.peek()? != b'"' {
                return Err(Defer);
            }
            let s = p.string()?;
            if !is_json_number(s.as_bytes()) {
                return Err(Defer);
            }
            out.extend_from_slice(s.as_bytes());
        }
        3 => match p.peek()? {
            b't' | b'f' => {
                let (a, b) = p.skip()?;
                out.extend_from_slice(&p.b[a..b]);
            }
            _ => return Err(Defer),
        },
        4 => {
            p.skip()?;
            if top {
                valid = false;
            } else {
                out.extend_from_slice(b"null");
            }
        }
        5 => {
            // members rendered in input order, then written again sorted by name
            let base = out.len();
            let first = sc.members.len();
            p.object(|p, name| {
                let start = out.len();
                value(p, out, sc, depth + 1, false)?;
                sc.members.push((name.clone(), start, out.len()));
                Ok(())
            })?;
            let members = &mut sc.members[first..];
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            sc.tmp.clear();
            sc.tmp.extend_from_slice(&out[base..]);
            out.truncate(base);
            out.push(b'{');
            for (i, (name, start, end)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                quote_into(out, name);
                out.push(b':');
                out.extend_from_slice(&sc.tmp[start - base..end - base]);
            }
            out.push(b'}');
            sc.members.truncate(first);
        }
        6 => {
            p.expect(b'[')?;
            out.push(b'[');
            if p.peek()? == b']' {
                p.i += 1;
            } else {
                loop {
                    value(p, out, sc, depth + 1, false)?;
                    match p.peek()? {
                        b',' => {
                            p.i += 1;
                            out.push(b',');
                        }
                        b']' => {
                            p.i += 1;
                            break;
                        }
                        _ => return Err(Defer),
                    }
                }
            }
            out.push(b']');
        }
        7 | 9 => {
            sc.items.clear();
            strings(p, &mut sc.items)?;
            let items = &mut sc.items;
            items.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            items.dedup();
            out.push(b'[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                quote_into(out, s);
            }
            out.push(b']');
        }
        _ => {
            // NS: de-duplicated by value (the first text of a value kept), sorted numerically;
            // the numbers' digits in one buffer kept from set to set (no allocation per number)
            sc.items.clear();
            strings(p, &mut sc.items)?;
            let (items, digits, kept) = (&sc.items, &mut sc.digits, &mut sc.numbers);
            digits.clear();
            kept.clear();
            for (k, s) in items.iter().enumerate() {
                if !is_json_number(s.as_bytes()) {
                    return Err(Defer);
                }
                let mark = digits.len();
                let d = DecAt::parse(s.as_bytes(), digits).ok_or(Defer)?;
                if kept.iter().any(|(x, _)| x.cmp(&d, digits) == Ordering::Equal) {
                    digits.truncate(mark);
                } else {
                    kept.push((d, k));
                }
            }
            let digits: &[u8] = digits;
            kept.sort_by(|a, b| a.0.cmp(&b.0, digits));
            out.push(b'[');
            for (i, &(_, k)) in kept.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(items[k].as_bytes());
            }
            out.push(b']');
        }
    }
    if p.peek()? != b'}' {
        return Err(Defer); // more than one member: not an attribute value
    }
    p.i += 1;
    Ok((t, valid))
}

/// A set's strings, pushed on `items`.
fn strings<'a>(p: &mut P<'a>, items: &mut Vec<Cow<'a, str>>) -> R<()> {
    p.expect(b'[')?;
    if p.peek()? == b']' {
        p.i += 1;
        return Ok(());
    }
    loop {
        if p.peek()? != b'"' {
            return Err(Defer);
        }
        items.push(p.string()?);
        match p.peek()? {
            b',' => p.i += 1,
            b']' => {
                p.i += 1;
                return Ok(());
            }
            _ => return Err(Defer),
        }
    }
}
