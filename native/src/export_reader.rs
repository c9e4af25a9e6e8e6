//! A full export's data file decompressed on a thread of its own into blocks of whole lines
//! (export.rs moves them into batches).
//!
//! `ExportReader` decompresses one data file (gzip through flate2, pulling the compressed bytes
//! from a Python file object, the GIL taken for each read only) into blocks of whole lines; `take`
//! moves lines into an `ExportLines` batch, cutting where the Python reader cuts.
//!
//! Blocks' buffers are reused (`BlockPool`): a fresh 4 MB block per 4 MB of text cost the gzip
//! thread a page fault per page and std's zeroing of the spare capacity before each read (1M
//! export: ~10% of that thread's samples; 1.1 GB of text is ~280 fresh blocks).

use crate::export::ExportLines;
use flate2::read::MultiGzDecoder;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

const BLOCK: usize = 4 << 20; // decompressed bytes handed over at a time (whole lines)
const READ: usize = 1 << 20; // compressed bytes read from Python at a time
const AHEAD: usize = 8; // blocks decompressed ahead of the reader (32 MB: on while a batch renders)
// spare buffers a pool keeps: a chunk of 16,384 lines lets go of ~5 blocks at once, the pump takes
// one at a time; what is not kept goes back to the allocator
const SPARE: usize = 6;

/// Block buffers let go of, for the next blocks (of this file or, shared, the load's next ones).
#[pyclass(module = "dynashift_native")]
#[derive(Clone, Default)]
pub struct BlockPool(Arc<Mutex<Vec<Vec<u8>>>>);

#[pymethods]
impl BlockPool {
    #[new]
    fn new() -> Self {
        BlockPool::default()
    }

    /// The spare buffers kept now.
    fn __len__(&self) -> usize {
        self.0.lock().map(|p| p.len()).unwrap_or(0)
    }
}

impl BlockPool {
    /// A buffer of BLOCK bytes (initialized: a reused one holds old text).
    fn take(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut p| p.pop()).unwrap_or_else(|| vec![0u8; BLOCK])
    }

    fn give(&self, buf: Vec<u8>) {
        if buf.len() == BLOCK {
            if let Ok(mut p) = self.0.lock() {
                if p.len() < SPARE {
                    p.push(buf);
                }
            }
        }
    }
}

/// Whole lines of decompressed text: the first `len` bytes of a pooled buffer, given back on drop.
pub struct Chunk {
    data: Vec<u8>,
    len: usize,
    pool: BlockPool,
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.data));
    }
}

pub type Block = Arc<Chunk>;

/// A Python file object read from the decompressing thread, the GIL held for each read only.
struct PyFile {
    obj: PyObject,
    stop: Arc<AtomicBool>,
}

impl Read for PyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("the reader was closed"));
        }
        Python::with_gil(|py| {
            let data = self.obj.call_method1(py, "read", (buf.len(),)).map_err(|e| io::Error::other(e.to_string()))?;
            let data = data.downcast_bound::<PyBytes>(py).map_err(|e| io::Error::other(e.to_string()))?;
            let b = data.as_bytes();
            let n = b.len().min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            Ok(n)
        })
    }
}

/// `buf` filled from `src` from `filled` on, until full, the end or an error. Returns (filled, eof, error).
fn fill(src: &mut dyn Read, buf: &mut [u8], mut filled: usize) -> (usize, bool, Option<String>) {
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => return (filled, true, None),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, false, Some(e.to_string())),
        }
    }
    (filled, false, None)
}

/// The decompressing thread: blocks of whole lines (the last one may lack its newline), then
/// the end of the channel; an error after the whole lines decoded before it.
fn pump(mut src: Box<dyn Read + Send>, tx: std::sync::mpsc::SyncSender<Result<Block, String>>, pool: BlockPool) {
    let mut carry: Vec<u8> = Vec::new(); // the text after the last block's last newline
    loop {
        let mut buf = pool.take();
        if carry.len() >= buf.len() {
            buf.resize(2 * carry.len(), 0);
        }
        buf[..carry.len()].copy_from_slice(&carry);
        let mut filled = carry.len();
        carry.clear();
        let (eof, failed, last) = loop {
            let (n, eof, failed) = fill(&mut *src, &mut buf, filled);
            filled = n;
            let last = memchr::memrchr(b'\n', &buf[..filled]);
            if eof || failed.is_some() || last.is_some() {
                break (eof, failed, last);
            }
            let grown = 2 * buf.len(); // one line longer than a block: read on
            buf.resize(grown, 0);
        };
        let block = |data: Vec<u8>, len: usize| Arc::new(Chunk { data, len, pool: pool.clone() });
        if eof {
            if filled > 0 {
                let _ = tx.send(Ok(block(buf, filled)));
            }
            return;
        }
        if let Some(msg) = failed {
            if let Some(last) = last {
                if tx.send(Ok(block(buf, last + 1))).is_err() {
                    return;
                }
            }
            let _ = tx.send(Err(msg));
            return;
        }
        let last = last.expect("a newline was found");
        carry.extend_from_slice(&buf[last + 1..filled]);
        if tx.send(Ok(block(buf, last + 1))).is_err() {
            return;
        }
    }
}

/// One data file's lines, decompressed ahead on a thread of its own.
#[pyclass(module = "dynashift_native")]
pub struct ExportReader {
    rx: Option<Mutex<Receiver<Result<Block, String>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    block: Option<Block>,
    pos: usize,
    skip: u64,
}

impl ExportReader {
    /// The next line (without its newline), or None at the end of the file.
    fn next_line(&mut self, py: Python<'_>) -> PyResult<Option<(Block, usize, usize)>> {
        loop {
            if let Some(block) = &self.block {
                if self.pos < block.len() {
                    let start = self.pos;
                    let end = match memchr::memchr(b'\n', &block[start..]) {
                        Some(n) => start + n,
                        None => block.len(),
                    };
                    self.pos = if end < block.len() { end + 1 } else { end };
                    return Ok(Some((block.clone(), start, end)));
                }
            }
            self.block = None;
            let Some(rx) = self.rx.take() else { return Ok(None) };
            let (rx, got) = py.allow_threads(move || {
                let got = rx.lock().map_err(|_| std::sync::mpsc::RecvError).and_then(|r| r.recv());
                (rx, got)
            });
            self.rx = Some(rx);
            match got {
                Ok(Ok(block)) => {
                    self.block = Some(block);
                    self.pos = 0;
                }
                Ok(Err(msg)) => {
                    self.rx = None;
                    return Err(PyValueError::new_err(msg));
                }
                Err(_) => {
                    self.rx = None;
                    return Ok(None);
                }
            }
        }
    }
}

#[pymethods]
impl ExportReader {
    /// `fileobj` has `read(n) -> bytes`; `gzip` says whether its bytes are gzip; the first `skip`
    /// lines are passed over (a checkpoint's position); `pool` (a load's, shared by its files)
    /// lends the blocks' buffers, else the reader keeps its own.
    #[new]
    #[pyo3(signature = (fileobj, gzip, skip, pool=None))]
    fn new(fileobj: PyObject, gzip: bool, skip: u64, pool: Option<BlockPool>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let file = PyFile { obj: fileobj, stop: stop.clone() };
        let src: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(BufReader::with_capacity(READ, file)))
        } else {
            Box::new(file)
        };
        let (tx, rx) = sync_channel(AHEAD);
        let pool = pool.unwrap_or_default();
        let thread = std::thread::Builder::new()
            .name("dynashift-export".into())
            .spawn(move || pump(src, tx, pool))
            .expect("cannot start a thread");
        ExportReader { rx: Some(Mutex::new(rx)), stop, thread: Some(thread), block: None, pos: 0, skip }
    }

    /// Move lines into `lines` (tagged `tag`) until the batch is full, as the Python reader cuts:
    /// before each line, stop when `records >= batch_size` or `bytes >= batch_bytes`. Each line
    /// counts its bytes (without \r\n, plus one) and its number `done`; blank lines are not records.
    /// Returns (records, bytes, done, full): `full` false means the file has ended.
    #[allow(clippy::too_many_arguments)]
    fn take(&mut self, py: Python<'_>, mut lines: PyRefMut<'_, ExportLines>, tag: u32, mut records: usize,
            mut bytes: usize, mut done: u64, batch_size: usize, batch_bytes: usize) -> PyResult<(usize, usize, u64, bool)> {
        while self.skip > 0 {
            if self.next_line(py)?.is_none() {
                return Ok((records, bytes, done, false));
            }
            self.skip -= 1;
        }
        loop {
            if records >= batch_size || bytes >= batch_bytes {
                // peek: a file that has ended is not a reason to cut
                match self.next_line(py)? {
                    None => return Ok((records, bytes, done, false)),
                    Some((block, start, _)) => {
                        self.block = Some(block);
                        self.pos = start;
                        return Ok((records, bytes, done, true));
                    }
                }
            }
            let Some((block, start, end)) = self.next_line(py)? else {
                return Ok((records, bytes, done, false));
            };
            let line = &block[start..end];
            let trimmed = line.len() - line.iter().rev().take_while(|&&c| c == b'\r' || c == b'\n').count();
            done += 1;
            bytes += trimmed + 1;
            if is_blank(&line[..trimmed]) {
                continue;
            }
            records += 1;
            lines.push(&block, start, start + trimmed, tag, done);
        }
    }

    /// Stop the decompressing thread (call before closing the file object).
    fn close(&mut self, py: Python<'_>) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None; // the thread's next send fails
        self.block = None;
        if let Some(t) = self.thread.take() {
            py.allow_threads(|| {
                let _ = t.join();
            });
        }
    }
}

impl Drop for ExportReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed); // (not joined here: the thread may wait for the GIL)
    }
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}
