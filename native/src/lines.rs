//! Text-mode change-record files read as batches without a Python object per record.
//!
//! `LineFile` reads a plain (not gzip) file from an offset in large blocks and splits it into
//! lines; `take` decodes each line's envelope (envelope::decode, the same checks as the `Decoder`)
//! and keeps, in a `LineBatch`, each key's newest change per table (batching.Batch's rule, its
//! counters, TTL expiries skipped when they are ignored), holding only the winners' bytes; all
//! of it without the GIL. A line it is not sure about goes back to Python (sources/files_native.py),
//! whose decoder decides; the changes it makes join the batch through `add_foreign`. `render`
//! renders each table's winners and their metadata columns, or says the batch must take the
//! Python path whole (a winner it cannot render).

use crate::decoder::{learn_met, names_met, strip, Decoder};
use crate::envelope::{self, OPS};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::rendering;
use crate::winners::{Ints, Strings};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::io::Read;

const BLOCK: u64 = 1 << 20; // bytes read from the file at a time: about an L2 cache, so that lines are decoded
                            // from it (4 MiB: wide 1M took 3.19-3.36 CPU-s, 1 MiB 2.98-3.09)
const REMOVE: u8 = 2;

/// A plain file read from an offset, line by line, in large blocks.
#[pyclass(module = "dynashift_native")]
pub struct LineFile {
    id: u64, // which file a batch's winners are read back from (LineBatch::files)
    file: std::fs::File,
    buf: Vec<u8>,
    pos: usize, // the next line's start in buf
    base: u64,  // the file offset of buf[0]
    eof: bool,
}

impl LineFile {
    /// The next line (its newline included when it has one) as a span of `buf`, or None at the end.
    fn next_line(&mut self) -> std::io::Result<Option<(usize, usize)>> {
        loop {
            if let Some(n) = memchr::memchr(b'\n', &self.buf[self.pos..]) {
                let start = self.pos;
                self.pos += n + 1;
                return Ok(Some((start, self.pos)));
            }
            if self.eof {
                if self.pos < self.buf.len() {
                    let start = self.pos;
                    self.pos = self.buf.len();
                    return Ok(Some((start, self.pos)));
                }
                return Ok(None);
            }
            // keep the partial line, read the next block after it
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            let got = (&self.file).take(BLOCK).read_to_end(&mut self.buf)?;
            if got == 0 {
                self.eof = true;
            }
        }
    }
}

/// One change competing for its key.
struct Cand<'a> {
    version: i64,
    seq: &'a [u8],
    event_id: &'a [u8],
}

/// batching.beats (`seq`, `event_id`: the current winner's)
fn beats(new: &Cand, version: i64, seq: &[u8], event_id: &[u8]) -> bool {
    if new.version != version {
        return new.version > version;
    }
    if !new.event_id.is_empty() && new.event_id == event_id {
        return false;
    }
    new.seq > seq
}

/// batching.is_duplicate
fn is_duplicate(new: &Cand, version: i64, seq: &[u8], event_id: &[u8]) -> bool {
    new.version == version && (new.seq == seq || (!new.event_id.is_empty() && new.event_id == event_id))
}

const NO_SLOT: usize = usize::MAX;

/// A key's newest change. Its strings (dist_key; seq and event_id, one after the other) lie in its
/// batch's arena, not in allocations of their own (a batch of 50k narrow lines made ~200k and freed
/// them at its end, ~25% of the main thread's samples). Its image is not copied: a native line's
/// lies in its file (read back by `render`: a batch's copies were its largest part of a run's
/// peak RSS, ~190 MiB at 100k wide events); a foreign change's record is kept in the arena.
struct Winner {
    version: i64,
    op: u8,
    whole: bool,                    // the body is the whole record
    renderable: bool,               // false: only the Python path can render it
    dist: (usize, usize),           // its dist_key's span in the arena (the same for every change of its key)
    at: usize,                      // where seq, event_id and (kept) body lie in the arena, in that order
    seq_len: usize,
    event_len: usize,
    body_len: usize,
    cap: usize,                     // the bytes reserved at `at`: a later change of the key that fits reuses them
    file: u32,                      // the body lies in LineBatch::files[file] at `body_at` (NO_FILE: in the arena)
    body_at: u64,
    next: usize,                    // the next slot of its table whose dist_key hashes alike (NO_SLOT: none)
    key_names: Option<Vec<String>>, // its Keys names: a foreign change's, a table's first key's (else
                                    // read again from the body)
}

const NO_FILE: u32 = u32::MAX;

/// Where a change's body is: its bytes, or (file, offset, length) in a file of the batch.
enum Body<'a> {
    Bytes(&'a [u8]),
    File(u32, u64, usize),
}

impl Winner {
    #[inline]
    fn dist_key<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        &arena[self.dist.0..self.dist.1]
    }

    #[inline]
    fn seq<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        &arena[self.at..self.at + self.seq_len]
    }

    #[inline]
    fn event_id<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        let at = self.at + self.seq_len;
        &arena[at..at + self.event_len]
    }

    /// The body kept in the arena (`file` is NO_FILE): the record its row is rendered from, or
    /// (not `whole`) that object itself.
    #[inline]
    fn kept_body<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        let at = self.at + self.seq_len + self.event_len;
        &arena[at..at + self.body_len]
    }

    /// Seq, event_id and a body to keep written at `at` (reused when they fit, else appended to
    /// the arena); a body in a file noted where it lies.
    fn write(&mut self, arena: &mut Vec<u8>, seq: &[u8], event_id: &[u8], body: &Body) {
        let kept: &[u8] = match *body {
            Body::Bytes(b) => b,
            Body::File(..) => &[],
        };
        let need = seq.len() + event_id.len() + kept.len();
        if need > self.cap {
            self.at = arena.len();
            self.cap = need;
            arena.extend_from_slice(seq);
            arena.extend_from_slice(event_id);
            arena.extend_from_slice(kept);
        } else {
            let mut at = self.at;
            for part in [seq, event_id, kept] {
                arena[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        }
        (self.seq_len, self.event_len) = (seq.len(), event_id.len());
        (self.file, self.body_at, self.body_len) = match *body {
            Body::Bytes(b) => (NO_FILE, 0, b.len()),
            Body::File(file, at, len) => (file, at, len),
        };
    }
}

#[derive(Default)]
struct Table {
    name: String,
    slots: FxHashMap<u64, usize>, // a dist_key's hash -> its first slot (the others chained by `next`)
    winners: Vec<Winner>,
    names: Vec<String>,
    known: FxHashSet<String>,
    duplicates: usize,
    stale: usize,
    superseded: usize,
}

/// One change to add: its envelope and the record it is rendered from.
struct Add<'a> {
    table: &'a str,
    op: u8,
    dist_key: &'a str,
    version: i64,
    seq: &'a str,
    event_id: &'a str,
    ttl: bool,
    body: Body<'a>,
    whole: bool,
    renderable: bool,
    key_names: Option<Vec<String>>,
    keys: &'a [envelope::Key<'a>], // a native change's Keys (its names, for a table's first key)
    names: Option<Vec<&'a str>>,
}

/// The newest change per key of one batch, per table, in the order keys were first met.
#[pyclass(module = "dynashift_native")]
pub struct LineBatch {
    tables: Vec<Table>,
    index: FxHashMap<String, usize>,
    arena: Vec<u8>, // the winners' bytes (see Winner)
    files: Vec<(u64, std::fs::File)>, // the files native winners' bodies lie in (LineFile's id, a handle)
    ttl_ignore: bool,
    ttl_ignored: usize,
    default_table: Option<String>,
}

impl LineBatch {
    /// batching.Batch.add, after planning's TTL skip and its attribute names met.
    fn add(&mut self, a: Add) {
        if a.ttl && self.ttl_ignore {
            self.ttl_ignored += 1;
            return;
        }
        let t = match self.index.get(a.table) {
            Some(&t) => t,
            None => {
                self.tables.push(Table { name: a.table.to_string(), ..Default::default() });
                self.index.insert(a.table.to_string(), self.tables.len() - 1);
                self.tables.len() - 1
            }
        };
        let arena = &mut self.arena;
        let table = &mut self.tables[t];
        if let Some(names) = a.names {
            for n in names {
                if !table.known.contains(n) {
                    table.known.insert(n.to_string());
                    table.names.push(n.to_string());
                }
            }
        }
        let (seq, event_id, dist_key) = (a.seq.as_bytes(), a.event_id.as_bytes(), a.dist_key.as_bytes());
        let cand = Cand { version: a.version, seq, event_id };
        let hash = crate::fxhash::hash_bytes(dist_key);
        let (mut s, mut last) = (table.slots.get(&hash).copied().unwrap_or(NO_SLOT), NO_SLOT);
        while s != NO_SLOT && table.winners[s].dist_key(arena) != dist_key {
            last = s;
            s = table.winners[s].next;
        }
        if s == NO_SLOT {
            let slot = table.winners.len();
            if last == NO_SLOT {
                table.slots.insert(hash, slot);
            } else {
                table.winners[last].next = slot;
            }
            let dist = (arena.len(), arena.len() + dist_key.len());
            arena.extend_from_slice(dist_key);
            let mut w = Winner {
                version: a.version,
                op: a.op,
                whole: a.whole,
                renderable: a.renderable,
                dist,
                at: 0,
                seq_len: 0,
                event_len: 0,
                body_len: 0,
                cap: 0,
                file: NO_FILE,
                body_at: 0,
                next: NO_SLOT,
                key_names: first_key_names(slot, a.key_names, a.keys),
            };
            w.write(arena, seq, event_id, &a.body);
            table.winners.push(w);
            return;
        }
        let cur = &table.winners[s];
        let (cur_seq, cur_event) = (cur.seq(arena), cur.event_id(arena));
        let replace = if beats(&cand, cur.version, cur_seq, cur_event) {
            table.superseded += 1;
            true
        } else if is_duplicate(&cand, cur.version, cur_seq, cur_event) {
            table.duplicates += 1;
            seq > cur_seq
        } else {
            table.stale += 1;
            false
        };
        if replace {
            let w = &mut table.winners[s];
            w.version = a.version;
            w.op = a.op;
            w.whole = a.whole;
            w.renderable = a.renderable;
            w.write(arena, seq, event_id, &a.body);
            w.key_names = first_key_names(s, a.key_names, a.keys);
        }
    }

    /// The key attribute names of a table's first winner (planning reads them from it).
    fn key_names(&self, w: &Winner) -> Option<Vec<String>> {
        if let Some(k) = &w.key_names {
            return Some(k.clone());
        }
        if !w.whole {
            return None;
        }
        let env = envelope::decode(w.kept_body(&self.arena), self.default_table.as_deref()).ok()?;
        Some(env.keys.into_iter().map(|(n, _, _)| n.into_owned()).collect())
    }
}

impl LineBatch {
    /// The index in `files` of LineFile `id`'s file (a handle of its own, taken when first met),
    /// or NO_FILE when its winners keep copies of their images instead: a batch spanning many
    /// small files holds at most MAX_FILES handles (the process's limit on open files is shared).
    fn file_index(&mut self, id: u64, file: &std::fs::File) -> u32 {
        const MAX_FILES: usize = 64;
        if let Some(i) = self.files.iter().position(|(f, _)| *f == id) {
            return i as u32;
        }
        if self.files.len() >= MAX_FILES {
            return NO_FILE;
        }
        match file.try_clone() {
            Ok(handle) => {
                self.files.push((id, handle));
                (self.files.len() - 1) as u32
            }
            Err(_) => NO_FILE,
        }
    }

    /// The bodies of `ws` (one chunk of a table's winners): kept ones from the arena, the others
    /// read back from their files into `scratch`, by offset, nearby ones in one read. None when
    /// a file cannot be read back as it was (the Python path then reads the batch again).
    fn bodies<'s>(&'s self, ws: &[Winner], scratch: &'s mut Vec<u8>) -> Option<Vec<&'s [u8]>> {
        const GAP: u64 = 2 << 10; // bytes between two bodies read rather than a read more (measured: 0 and 2 KiB
                                  // alike, 16 KiB +0.2 CPU-s and 64 KiB +0.8 per narrow 1M run: the copy costs)
        const MOST: u64 = 1 << 20; // bytes one read covers at most (unless one body is larger)
        let mut order: Vec<usize> = (0..ws.len()).filter(|&i| ws[i].file != NO_FILE).collect();
        order.sort_unstable_by_key(|&i| (ws[i].file, ws[i].body_at));
        let mut place = vec![0usize; ws.len()];
        scratch.clear();
        let mut k = 0;
        while k < order.len() {
            let first = &ws[order[k]];
            let (file, start) = (first.file, first.body_at);
            let mut end = start + first.body_len as u64;
            let mut j = k + 1;
            while let Some(&i) = order.get(j) {
                let (at, stop) = (ws[i].body_at, ws[i].body_at + ws[i].body_len as u64);
                if ws[i].file != file || at > end + GAP || stop.max(end) - start > MOST {
                    break;
                }
                end = end.max(stop);
                j += 1;
            }
            let from = scratch.len();
            scratch.resize(from + (end - start) as usize, 0);
            std::os::unix::fs::FileExt::read_exact_at(&self.files[file as usize].1, &mut scratch[from..], start).ok()?;
            for &i in &order[k..j] {
                place[i] = from + (ws[i].body_at - start) as usize;
            }
            k = j;
        }
        let scratch: &'s [u8] = scratch;
        Some(ws.iter().zip(place).map(|(w, at)| {
            if w.file == NO_FILE { w.kept_body(&self.arena) } else { &scratch[at..at + w.body_len] }
        }).collect())
    }
}

/// The Keys names a winner keeps: a foreign change's own; a native one's only in a table's first
/// slot (planning reads a table's key names from its first winner; the others hold just their image).
fn first_key_names(slot: usize, given: Option<Vec<String>>, keys: &[envelope::Key])
                   -> Option<Vec<String>> {
    if given.is_some() {
        return given;
    }
    (slot == 0).then(|| keys.iter().map(|(n, _, _)| n.to_string()).collect())
}

/// `items` split in `parts` contiguous shares, each handled on its own thread.
fn parallel<T: Send, F: Fn(std::ops::Range<usize>) -> T + Sync>(items: usize, parts: usize, f: F) -> Vec<T> {
    let parts = parts.clamp(1, 16).min(items.max(1));
    let share = items.div_ceil(parts);
    let ranges: Vec<std::ops::Range<usize>> =
        (0..parts).map(|i| (i * share).min(items)..((i + 1) * share).min(items)).collect();
    if parts == 1 {
        return ranges.into_iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges.into_iter().map(|r| s.spawn(|| f(r))).collect();
        handles.into_iter().map(|h| h.join().expect("a worker thread failed")).collect()
    })
}

/// Winners whose bodies are read back and rendered together (~0.3-0.6 MB of images).
const READ_ROWS: usize = 256;

/// Lines decoded together at most (about 1.2 MB of wide records, so that what is decoded and not
/// yet folded stays in the caches).
const GROUP: usize = 512;
/// Lines a thread claims at a time when a group is decoded on two.
const CHUNK: usize = 32;

/// One line's envelope, or None for a line the Python code decodes (not one plain record ending
/// in a newline).
fn decode_line<'a>(raw: &'a [u8], default_table: Option<&str>) -> Option<envelope::Envelope<'a>> {
    decode_line_with(raw, default_table, Vec::with_capacity(64))
}

/// `decode_line` with a vector for the names (see envelope::recycle).
fn decode_line_with<'a>(raw: &'a [u8], default_table: Option<&str>, names: Vec<std::borrow::Cow<'a, str>>)
                        -> Option<envelope::Envelope<'a>> {
    let body = strip(raw);
    if raw.last() != Some(&b'\n') || body.is_empty() {
        return None;
    }
    envelope::decode_with(body, default_table, names, false).ok() // its names checked by names_met
}

/// The envelopes of `spans` of `buf`, in order: on this thread and a helper when there are enough
/// (each claims `CHUNK` lines at a time, so neither waits long for the other whatever the load).
fn decode_lines<'a>(buf: &'a [u8], spans: &[(usize, usize)], default_table: Option<&str>, threads: usize)
                    -> Vec<Option<envelope::Envelope<'a>>> {
    let chunks = spans.len().div_ceil(CHUNK);
    if chunks < 4 || threads < 2 {
        return spans.iter().map(|&(a, b)| decode_line(&buf[a..b], default_table)).collect();
    }
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<Option<envelope::Envelope<'a>>>)> = Vec::new();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                return done;
            }
            let part = &spans[c * CHUNK..((c + 1) * CHUNK).min(spans.len())];
            done.push((c, part.iter().map(|&(a, b)| decode_line(&buf[a..b], default_table)).collect()));
        }
    };
    let (mine, theirs) = std::thread::scope(|s| {
        let helper = s.spawn(work);
        let mine = work();
        (mine, helper.join().expect("a decoding thread failed"))
    });
    let mut slots: Vec<Option<Vec<Option<envelope::Envelope<'a>>>>> = (0..chunks).map(|_| None).collect();
    for (c, envs) in mine.into_iter().chain(theirs) {
        slots[c] = Some(envs);
    }
    slots.into_iter().flat_map(|s| s.expect("every chunk decoded")).collect()
}

/// Threads decoding the lines: one unless DYNASHIFT_DECODE_THREADS=2 (and two cores). Measured on
/// the wide 200k benchmark on a busy 2-core machine, the second thread cost CPU (4.6 CPU-s, not 4.3)
/// and time (6.5-7.1 s, not 4.4-4.8): the previous batch's commit holds the other core, and the
/// group waits for the helper's last chunk whenever the helper is not scheduled.
fn decode_threads() -> usize {
    match std::env::var("DYNASHIFT_DECODE_THREADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => n.clamp(1, 2).min(std::thread::available_parallelism().map_or(1, |n| n.get())),
        None => 1,
    }
}

/// `seq` = `prefix`, the offset in 15 digits at least (zero-padded), the separator and 000000, as
/// FileSource makes it (without `write!`: formatting was 2% of the instructions of reading a file).
fn seq_into(seq: &mut String, prefix: &str, offset: u64) {
    let mut digits = [b'0'; 20];
    let (mut n, mut at) = (offset, digits.len());
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    seq.clear();
    seq.push_str(prefix);
    // SAFETY: ASCII digits
    seq.push_str(unsafe { std::str::from_utf8_unchecked(&digits[at.min(digits.len() - 15)..]) });
    seq.push_str("\u{1f}000000");
}

/// What `take` ended on.
const EOF: u8 = 0; // the file has ended
const CUT: u8 = 1; // the batch is full before the line at `line_start` (not consumed)
const LINE: u8 = 2; // a line for the Python code (consumed): returned with its offset

#[pymethods]
impl LineFile {
    #[new]
    fn new(path: std::path::PathBuf, offset: u64) -> PyResult<Self> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(&path).map_err(|e| PyValueError::new_err(e.to_string()))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| PyValueError::new_err(e.to_string()))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(LineFile { id, file, buf: Vec::with_capacity(BLOCK as usize + (64 << 10)), pos: 0, base: offset, eof: false })
    }

    /// Consume lines into `batch` (None: every line goes to the Python code) from the reader's
    /// position, as FileSource.read counts and cuts them: before each record, the batch is cut
    /// when `records >= batch_size` or `bytes >= batch_bytes`. `decoder` holds the attribute
    /// names met so far (a line's names are reported when one is new) and the default table.
    /// Returns (what ended it, records, bytes, last_end, end, last_version, line_start, the line
    /// or None, names newly learned [(table, names)]).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (batch, decoder, records, bytes, last_end, end, last_version, batch_size, batch_bytes, prefix))]
    fn take<'py>(&mut self, py: Python<'py>, mut batch: Option<PyRefMut<'py, LineBatch>>,
                 mut decoder: PyRefMut<'py, Decoder>, mut records: usize, mut bytes: usize, mut last_end: u64,
                 mut end: u64, mut last_version: i64, batch_size: usize, batch_bytes: usize, prefix: &str)
                 -> PyResult<Bound<'py, PyTuple>> {
        let dec: &mut Decoder = &mut decoder;
        let default_table = dec.default_table.clone();
        let names = &mut dec.names;
        let mut acc: Option<&mut LineBatch> = batch.as_deref_mut();
        let me = &mut *self;
        let (kind, line_start, line, learned) = py.allow_threads(|| -> std::io::Result<_> {
            let mut learned: Vec<(String, Vec<String>)> = Vec::new();
            let mut seq = String::with_capacity(prefix.len() + 24);
            let mut spans: Vec<(usize, usize)> = Vec::with_capacity(GROUP);
            let mut spare: Vec<std::borrow::Cow<'static, str>> = Vec::with_capacity(64); // a line's names
            let threads = decode_threads();
            let file_ix = match acc.as_deref_mut() {
                Some(a) => a.file_index(me.id, &me.file),
                None => NO_FILE,
            };
            loop {
                let Some((a, b)) = me.next_line()? else { return Ok((EOF, 0, None, learned)) };
                let Some(acc) = acc.as_deref_mut() else {
                    return Ok((LINE, me.base + a as u64, Some(me.buf[a..b].to_vec()), learned));
                };
                // the lines already in the buffer join this one (up to the batch's cut, which needs
                // one line more: that line may be one for the Python code), decoded on two threads (or one by one)
                spans.clear();
                spans.push((a, b));
                let want = if threads < 2 { 1 } else { batch_size.saturating_sub(records).clamp(1, GROUP - 1) + 1 };
                while spans.len() < want {
                    match memchr::memchr(b'\n', &me.buf[me.pos..]) {
                        Some(n) => {
                            spans.push((me.pos, me.pos + n + 1));
                            me.pos += n + 1;
                        }
                        None => break,
                    }
                }
                // on one thread each line is decoded as it is folded (no vector of one envelope per line)
                let mut envs = if threads < 2 { Vec::new() } else { decode_lines(&me.buf, &spans, default_table.as_deref(), threads) }
                    .into_iter();
                for &(a, b) in spans.iter() {
                    let start = me.base + a as u64;
                    let raw = &me.buf[a..b];
                    let env = if threads < 2 {
                        decode_line_with(raw, default_table.as_deref(), envelope::recycle(std::mem::take(&mut spare)))
                    } else {
                        envs.next().flatten()
                    };
                    let Some((env, met)) = env.and_then(|env| names_met(names, &env).ok().map(|met| (env, met))) else {
                        me.pos = b; // consumed: the Python code decides it
                        return Ok((LINE, start, Some(raw.to_vec()), learned));
                    };
                    if (records >= batch_size || bytes >= batch_bytes) && start >= last_end {
                        me.pos = a; // read again by the next batch
                        return Ok((CUT, start, None, learned));
                    }
                    let new_names = learn_met(names, &env, met);
                    if new_names {
                        learned.push((env.table.to_string(), env.names.iter().map(|n| n.to_string()).collect()));
                    }
                    let version = env.version.unwrap_or(last_version);
                    last_version = version;
                    seq_into(&mut seq, prefix, start);
                    let body = &strip(raw)[env.image.0..env.image.1];
                    let body_at = start + (body.as_ptr() as usize - raw.as_ptr() as usize) as u64;
                    acc.add(Add {
                        table: &env.table,
                        op: env.op,
                        dist_key: &env.dist_key,
                        version,
                        seq: &seq,
                        event_id: &env.event_id,
                        ttl: env.ttl,
                        body: if file_ix == NO_FILE { Body::Bytes(body) } else { Body::File(file_ix, body_at, body.len()) },
                        whole: false,
                        renderable: true,
                        key_names: None,
                        keys: &env.keys,
                        names: new_names.then(|| env.names.iter().map(|n| n.as_ref()).collect()),
                    });
                    spare = envelope::recycle(env.names);
                    let stop = start + raw.len() as u64;
                    records += 1;
                    if stop > last_end {
                        bytes += (stop - last_end) as usize;
                        last_end = stop;
                    }
                    end = stop;
                }
            }
        }).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let line = line.map(|l| PyBytes::new(py, &l));
        (kind, records, bytes, last_end, end, last_version, line_start, line, learned).into_pyobject(py)
    }
}

#[pymethods]
impl LineBatch {
    #[new]
    #[pyo3(signature = (ttl_ignore, default_table=None))]
    fn new(ttl_ignore: bool, default_table: Option<String>) -> Self {
        LineBatch { tables: Vec::new(), index: FxHashMap::default(), arena: Vec::new(), files: Vec::new(), ttl_ignore,
                    ttl_ignored: 0, default_table }
    }

    /// A change the Python decoder made (a line the native one left to it). `raw`: the record
    /// its row is rendered from, None when only the Python path can render it; `names`: the
    /// attribute names planning counts as met for it.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (table, op, dist_key, version, seq, event_id, ttl, raw, key_names, names))]
    fn add_foreign(&mut self, table: &str, op: &str, dist_key: &str, version: i64, seq: &str, event_id: &str,
                   ttl: bool, raw: Option<&[u8]>, key_names: Vec<String>, names: Option<Vec<String>>) -> PyResult<()> {
        let op = OPS.iter().position(|o| *o == op).ok_or_else(|| PyValueError::new_err("unknown op"))? as u8;
        self.add(Add {
            table,
            op,
            dist_key,
            version,
            seq,
            event_id,
            ttl,
            body: Body::Bytes(raw.unwrap_or_default()),
            whole: true,
            renderable: raw.is_some(),
            key_names: Some(key_names),
            keys: &[],
            names: names.as_ref().map(|n| n.iter().map(String::as_str).collect()),
        });
        Ok(())
    }

    /// Changes skipped as ignored TTL expiries.
    #[getter]
    fn ttl_ignored(&self) -> usize {
        self.ttl_ignored
    }

    /// Each table's winners rendered, without the GIL, in shares of at least `share` winners on
    /// up to `threads` threads: [(table, key names, rows, [(rows, columns as `render` returns
    /// them)] per share, (dist_key, op, version, seq, event), attribute names met, duplicates,
    /// stale, superseded)], or None when the Python path must plan this batch. `ops`: the staged
    /// codes of an upsert and a hard delete; `typed`: columns carry typed mode's per-row facts.
    #[pyo3(signature = (ops, threads, share, typed=false))]
    fn render<'py>(&self, py: Python<'py>, ops: (String, String), threads: usize, share: usize, typed: bool)
                   -> PyResult<Option<Bound<'py, PyList>>> {
        if self.tables.iter().any(|t| t.winners.iter().any(|w| !w.renderable)) {
            return Ok(None);
        }
        let mut keys = Vec::with_capacity(self.tables.len());
        for t in &self.tables {
            match self.key_names(&t.winners[0]) {
                Some(k) => keys.push(k),
                None => return Ok(None),
            }
        }
        type Meta = (Strings, Strings, Ints, Strings, Strings);
        let me = self;
        let done: Option<Vec<(Vec<rendering::Rendered>, Meta)>> = py.allow_threads(|| {
            me.tables.iter().map(|t| {
                let n = t.winners.len();
                let parts = threads.min(n / share.max(1)).max(1);
                let shares = parallel(n, parts, |r| {
                    // a chunk of winners at a time: their bodies are read back, rendered, let go
                    let mut out = if typed { rendering::Renderer::typed() } else { rendering::Renderer::default() };
                    out.expect(r.len());
                    let mut scratch = Vec::new();
                    for ws in t.winners[r].chunks(READ_ROWS) {
                        let slices = me.bodies(ws, &mut scratch)?;
                        let whole: Vec<bool> = ws.iter().map(|w| w.whole).collect();
                        let which: Vec<u8> = ws.iter().map(|w| if w.op == REMOVE { 2 } else { 0 }).collect();
                        out.add(&slices, &whole, &which).ok()?;
                    }
                    out.finish().ok()
                });
                let shares: Vec<rendering::Rendered> = shares.into_iter().collect::<Option<_>>()?;
                let (dist_bytes, seq_bytes, event_bytes) = t.winners.iter().fold((0, 0, 0), |(d, s, e), w| {
                    (d + w.dist.1 - w.dist.0, s + w.seq_len, e + w.event_len)
                });
                let op_bytes = n * ops.0.len().max(ops.1.len());
                let (mut dist, mut op, mut version, mut seq, mut event) = (Strings::sized(n, dist_bytes),
                    Strings::sized(n, op_bytes), Ints::new(n), Strings::sized(n, seq_bytes), Strings::sized(n, event_bytes));
                for w in &t.winners {
                    dist.push(Some(w.dist_key(&me.arena)));
                    op.push(Some(if w.op == REMOVE { ops.1.as_bytes() } else { ops.0.as_bytes() }));
                    version.push(Some(w.version));
                    seq.push(Some(w.seq(&me.arena)));
                    event.push(Some(w.event_id(&me.arena)));
                }
                if [&dist, &seq, &event].iter().any(|s| s.too_long()) {
                    return None;
                }
                Some((shares, (dist, op, version, seq, event)))
            }).collect()
        });
        let Some(done) = done else { return Ok(None) };
        let out = PyList::empty(py);
        for ((t, (shares, meta)), k) in self.tables.iter().zip(done).zip(keys) {
            let parts = PyList::empty(py);
            for rendered in shares {
                parts.append((rendered.rows, crate::columns_to_py(py, rendered.columns)?))?;
            }
            let (dist, op, version, seq, event) = meta;
            let meta = (dist.into_py(py)?, op.into_py(py)?, version.into_py(py)?, seq.into_py(py)?, event.into_py(py)?);
            out.append((t.name.as_str(), k, t.winners.len(), parts, meta, t.names.clone(), t.duplicates, t.stale,
                        t.superseded))?;
        }
        Ok(Some(out))
    }
}
