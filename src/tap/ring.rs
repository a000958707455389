//! One TX queue's tap ring: a single-producer, single-consumer ring of bytes that holds copies of
//! the frames the queue took, each behind a small header, until the tap's writer turns them into
//! pcapng blocks. The producer is whoever bursts on the queue (one thread at a time: the queue
//! sits behind its core context's exclusive access, whose hand-over orders one holder's writes
//! before the next one's); the consumer is the writer thread.
//!
//! Invariants:
//! 1. `tail <= head <= tail + capacity` (positions only grow; a position's byte is at
//!    `position % capacity`). Bytes in `tail..head` are published records; the producer writes
//!    only in `head..tail + capacity`, the consumer reads only in `tail..head`.
//! 2. The producer stores `head` with Release after writing a record's bytes; the consumer loads
//!    it with Acquire before reading them. The consumer stores `tail` with Release after it is
//!    done reading; the producer loads it with Acquire before reusing those bytes.
//! 3. Records start at multiples of 8, and the capacity is a power of two (>= 64): a header (24
//!    bytes) may wrap around the end, and is copied in and out in two pieces when it does.
//!
//! Nothing here touches DPDK: the bytes outlive any mempool, and the writer may still hold the
//! ring after the library shut down.

use std::cell::UnsafeCell;

use crate::sync::{AtomicUsize, Ordering};

/// The header in front of every record, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// The frame's length (captured whole).
    pub len: u32,
    /// When the frame went to the queue, nanoseconds since the epoch.
    pub ts_ns: u64,
    /// The tap session the record belongs to.
    pub session: u32,
}

pub(crate) const HEADER_LEN: usize = 24;

impl RecordHeader {
    fn encode(&self, record_len: u32) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&record_len.to_ne_bytes());
        b[4..8].copy_from_slice(&self.len.to_ne_bytes());
        b[8..16].copy_from_slice(&self.ts_ns.to_ne_bytes());
        b[16..20].copy_from_slice(&self.session.to_ne_bytes());
        b
    }

    fn decode(b: &[u8; HEADER_LEN]) -> (usize, Self) {
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[8..16]);
        (
            u32_at(0) as usize,
            Self {
                len: u32_at(4),
                ts_ns: u64::from_ne_bytes(ts),
                session: u32_at(16),
            },
        )
    }
}

/// A record's whole length in the ring: header and frame, rounded up to 8.
fn record_len(frame_len: usize) -> usize {
    (HEADER_LEN + frame_len + 7) & !7
}

pub(crate) struct Ring {
    buf: Box<[UnsafeCell<u8>]>,
    mask: usize,
    /// The producer's published end (invariant 2).
    head: AtomicUsize,
    /// The consumer's published start (invariant 2).
    tail: AtomicUsize,
}

// SAFETY: the bytes are reached only through `Batch` (the one producer, in `head..tail + cap`)
// and `drain` (the one consumer, in `tail..head`), which never overlap (invariant 1), with the
// Release/Acquire pairs of invariant 2 ordering each side's accesses before the other's.
unsafe impl Sync for Ring {}
// SAFETY: as above; the ring owns its bytes.
unsafe impl Send for Ring {}

impl Ring {
    /// A ring of `capacity` bytes (rounded up to a power of two, at least 64).
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = capacity.max(64).next_power_of_two();
        Self {
            buf: (0..cap).map(|_| UnsafeCell::new(0)).collect(),
            mask: cap - 1,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Bytes published and not yet drained (an estimate while the two sides run).
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn pending(&self) -> usize {
        self.head.load(Ordering::Acquire) - self.tail.load(Ordering::Acquire)
    }

    fn ptr(&self, pos: usize) -> *mut u8 {
        self.buf[pos & self.mask].get()
    }

    /// Copies `bytes` into the ring at `pos`, wrapping at the end.
    ///
    /// # Safety
    /// `pos..pos + bytes.len()` is the caller's to write (invariant 1) and no longer than the
    /// capacity.
    unsafe fn write_at(&self, pos: usize, bytes: &[u8]) {
        let at = pos & self.mask;
        let first = bytes.len().min(self.capacity() - at);
        // SAFETY: both pieces lie inside the buffer (`at + first <= capacity`, the rest from 0,
        // shorter than the capacity); the caller owns those bytes; `UnsafeCell<u8>` has u8's
        // layout, so the buffer is contiguous bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr(at), first);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first), self.ptr(0), bytes.len() - first);
        }
    }

    /// The `len` bytes at `pos`, as one or two slices (wrapping at the end).
    ///
    /// # Safety
    /// `pos..pos + len` is the caller's to read (invariant 1), no longer than the capacity, and
    /// not written while the slices live.
    unsafe fn read_at(&self, pos: usize, len: usize) -> (&[u8], &[u8]) {
        let at = pos & self.mask;
        let first = len.min(self.capacity() - at);
        // SAFETY: as in `write_at`; nobody writes these bytes meanwhile (the caller's contract).
        unsafe {
            (
                std::slice::from_raw_parts(self.ptr(at), first),
                std::slice::from_raw_parts(self.ptr(0), len - first),
            )
        }
    }

    /// Starts adding records (the producer's side).
    ///
    /// # Safety
    /// Only one `Batch` of a ring exists at a time, and whoever makes the next one is ordered
    /// after this one's end (the TX queue's exclusive access does both).
    pub(crate) unsafe fn batch(&self) -> Batch<'_> {
        let head = self.head.load(Ordering::Relaxed);
        // Acquire: the consumer's reads of the bytes before `tail` are done (invariant 2).
        let tail = self.tail.load(Ordering::Acquire);
        Batch {
            ring: self,
            start: head,
            end: head,
            limit: tail + self.capacity(),
            records: 0,
        }
    }

    /// Hands every published record to `each` (its header and its frame, in one or two pieces),
    /// oldest first, then frees their room. Returns how many there were.
    ///
    /// # Safety
    /// Only one thread drains a ring at a time, each drain ordered after the previous one.
    pub(crate) unsafe fn drain(&self, mut each: impl FnMut(&RecordHeader, &[u8], &[u8])) -> usize {
        let mut pos = self.tail.load(Ordering::Relaxed);
        // Acquire: the records' bytes before `head` are written (invariant 2).
        let head = self.head.load(Ordering::Acquire);
        let mut n = 0;
        while pos < head {
            let mut h = [0u8; HEADER_LEN];
            // SAFETY: `pos..head` holds published records (invariant 1), each starting with its
            // header; only this consumer reads them.
            let (a, b) = unsafe { self.read_at(pos, HEADER_LEN) };
            h[..a.len()].copy_from_slice(a);
            h[a.len()..].copy_from_slice(b);
            let (rec_len, header) = RecordHeader::decode(&h);
            // SAFETY: the frame's bytes follow its header inside the record.
            let (a, b) = unsafe { self.read_at(pos + HEADER_LEN, header.len as usize) };
            each(&header, a, b);
            pos += rec_len;
            n += 1;
        }
        // Release: done with those bytes; the producer may reuse them (invariant 2).
        self.tail.store(pos, Ordering::Release);
        n
    }
}

/// Records being added to a ring, published by [`Batch::commit`] (the producer's side).
pub(crate) struct Batch<'a> {
    ring: &'a Ring,
    start: usize,
    end: usize,
    limit: usize,
    records: usize,
}

impl Batch<'_> {
    /// Adds a record of `frame` with `header`'s timestamp and session; false (nothing added)
    /// when the ring has no room for it.
    pub(crate) fn push(&mut self, header: &RecordHeader, frame: &[u8]) -> bool {
        let len = record_len(frame.len());
        if self.limit - self.end < len || len > u32::MAX as usize {
            return false;
        }
        // SAFETY: `end..end + len` lies below `limit` = tail + capacity and above head: the
        // producer's bytes (invariant 1), this batch the only producer.
        unsafe {
            self.ring.write_at(self.end, &header.encode(len as u32));
            self.ring.write_at(self.end + HEADER_LEN, frame);
        }
        self.end += len;
        self.records += 1;
        true
    }

    /// Records added so far.
    pub(crate) fn len(&self) -> usize {
        self.records
    }

    /// Publishes the first `keep` records added (the others are forgotten, their room reused).
    pub(crate) fn commit(self, keep: usize) {
        let mut pos = self.start;
        for _ in 0..keep.min(self.records) {
            let mut h = [0u8; HEADER_LEN];
            // SAFETY: this batch wrote a record at `pos` (it walks the records it added), and
            // nobody else reads or writes the unpublished bytes.
            let (a, b) = unsafe { self.ring.read_at(pos, HEADER_LEN) };
            h[..a.len()].copy_from_slice(a);
            h[a.len()..].copy_from_slice(b);
            pos += RecordHeader::decode(&h).0;
        }
        // Release: the records' bytes are written before the consumer sees them (invariant 2).
        self.ring.head.store(pos, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn frame(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|k| (i * 31 + k) as u8).collect()
    }

    fn header(i: usize, len: usize) -> RecordHeader {
        RecordHeader {
            len: len as u32,
            ts_ns: 1_000_000 + i as u64,
            session: 7,
        }
    }

    fn drained(r: &Ring) -> Vec<(RecordHeader, Vec<u8>)> {
        let mut out = Vec::new();
        // SAFETY: the test is the only consumer.
        unsafe { r.drain(|h, a, b| out.push((*h, [a, b].concat()))) };
        out
    }

    #[test]
    fn records_come_out_as_they_went_in_across_the_wrap() {
        let r = Ring::new(256);
        let mut want = Vec::new();
        let mut got = Vec::new();
        // Many rounds through a small ring: every alignment of header and frame at the wrap.
        for i in 0..300 {
            let len = 1 + (i * 7) % 60;
            // SAFETY: one producer.
            let mut b = unsafe { r.batch() };
            if !b.push(&header(i, len), &frame(i, len)) {
                b.commit(0);
                got.extend(drained(&r));
                // SAFETY: one producer.
                let mut b = unsafe { r.batch() };
                assert!(b.push(&header(i, len), &frame(i, len)), "room once drained");
                b.commit(1);
            } else {
                b.commit(1);
            }
            want.push((header(i, len), frame(i, len)));
        }
        got.extend(drained(&r));
        assert_eq!(got, want);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn only_the_committed_prefix_is_published() {
        let r = Ring::new(1024);
        // SAFETY: one producer.
        let mut b = unsafe { r.batch() };
        for i in 0..5 {
            assert!(b.push(&header(i, 10 + i), &frame(i, 10 + i)));
        }
        assert_eq!(b.len(), 5);
        b.commit(3);
        let got = drained(&r);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (header(2, 12), frame(2, 12)));
        // The two forgotten records' room is reused by the next batch.
        // SAFETY: one producer.
        let mut b = unsafe { r.batch() };
        assert!(b.push(&header(9, 4), &frame(9, 4)));
        b.commit(1);
        assert_eq!(drained(&r), [(header(9, 4), frame(9, 4))]);
    }

    #[test]
    fn a_full_ring_refuses_without_overwriting() {
        let r = Ring::new(128);
        // SAFETY: one producer.
        let mut b = unsafe { r.batch() };
        assert!(b.push(&header(0, 60), &frame(0, 60)), "88 bytes of 128");
        assert!(!b.push(&header(1, 60), &frame(1, 60)), "no room for another 88");
        assert!(b.push(&header(2, 10), &frame(2, 10)), "40 more fit exactly");
        b.commit(2);
        assert_eq!(r.pending(), 128);
        let got = drained(&r);
        assert_eq!(
            got,
            [(header(0, 60), frame(0, 60)), (header(2, 10), frame(2, 10))]
        );
    }

    #[test]
    fn producer_and_consumer_on_two_threads_lose_and_reorder_nothing() {
        let r = std::sync::Arc::new(Ring::new(4096));
        let n = 50_000;
        let p = r.clone();
        let producer = std::thread::spawn(move || {
            let mut i = 0;
            while i < n {
                // SAFETY: this thread is the only producer.
                let mut b = unsafe { p.batch() };
                let mut added = 0;
                while added < 8
                    && i + added < n
                    && b.push(
                        &header(i + added, 1 + (i + added) % 90),
                        &frame(i + added, 1 + (i + added) % 90),
                    )
                {
                    added += 1;
                }
                b.commit(added);
                i += added;
                if added == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut got = 0;
        while got < n {
            // SAFETY: this thread is the only consumer.
            unsafe {
                r.drain(|h, a, b| {
                    let i = (h.ts_ns - 1_000_000) as usize;
                    assert_eq!(i, got, "in order");
                    assert_eq!([a, b].concat(), frame(i, 1 + i % 90));
                    got += 1;
                })
            };
        }
        producer.join().unwrap();
    }
}
