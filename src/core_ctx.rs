//! The per-core context (one per `mctx->cpu`): owns TX queue `cpu` on every port, a staging batch,
//! a hand-off queue for frames from threads that find the TX side busy, and the counters.
//!
//! Thread safety without waiting: the TX side (staging + the TX queues) is guarded by a try-lock
//! that is never waited on. A caller that gets it stages its frame and bursts; a caller that does
//! not pushes its ready mbuf onto the lock-free hand-off queue (`crossbeam_queue::ArrayQueue`) and
//! returns. Whoever releases the lock looks at the hand-off queue again afterwards and sends what
//! it finds; for that look to be sure to see a concurrent push, release and push must be
//! sequentially consistent (a locked instruction each). A context only one thread ever used does
//! not need that: it releases with a plain store. The first hand-off marks the context shared
//! (from then on releases are sequentially consistent) and, since a release racing with that very
//! first hand-off may miss it, also asks the flusher thread (`runtime`) for a pass. A handed-off
//! frame is never stranded, and frames left over when a TX queue is full are retried by the
//! flusher too, so nothing waits for a later call.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use dpdk_sys::rte_mbuf;

use crate::abi::mtcp_sendpkt_stats;
use crate::error::SendError;
use crate::port::{self, Mbuf, Mempool, PortInfo};

/// Mbufs a context takes from the mempool at once (and keeps at hand under its TX lock).
const SPARE_MBUFS: usize = 32;
/// Frames that can wait in the hand-off queue of one context.
const HANDOFF_CAPACITY: usize = 1024;
/// Frames the staging of one port may hold before a call must wait for the TX queue (like mOS's
/// 64 TX slots), or twice the burst size if that is larger.
const MIN_STAGING: usize = 64;

/// A frame handed over by a thread that found the TX side busy.
struct Handoff {
    port_idx: usize,
    mbuf: Mbuf,
}

/// Per-port staging: mbufs accepted but not yet taken by the TX queue, oldest first; and free
/// mbufs taken from the mempool in bulk, for the next frames.
struct Staging {
    per_port: Vec<Vec<*mut rte_mbuf>>,
    spare: Vec<*mut rte_mbuf>,
}

/// Monotonic counters; see [`mtcp_sendpkt_stats`] for their meaning.
#[derive(Default)]
struct Counters {
    /// Written only under the TX lock (plain load + store: no locked instruction).
    accepted_direct: AtomicU64,
    accepted_handoff: AtomicU64,
    transmitted: AtomicU64,
    rejected: AtomicU64,
    no_mbuf: AtomicU64,
    tx_busy: AtomicU64,
    dropped_at_shutdown: AtomicU64,
}

fn bump_owned(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// How the TX side of a context behaves (from `Settings`).
#[derive(Debug, Clone, Copy)]
pub struct TxParams {
    pub burst: usize,
    pub tx_wait: Duration,
}

pub struct CoreContext {
    queue: u16,
    params: TxParams,
    staging_limit: usize,
    locked: AtomicBool,
    /// Set, for good, the first time a thread hands a frame over (see the module docs).
    shared: AtomicBool,
    staging: UnsafeCell<Staging>,
    handoff: ArrayQueue<Handoff>,
    counters: Counters,
}

// SAFETY: `staging` is only touched while `locked` is held (TxGuard), the raw mbuf pointers in it
// are owned by the context, and every other field is thread-safe.
unsafe impl Sync for CoreContext {}
// SAFETY: as above; nothing in the context is tied to the creating thread.
unsafe impl Send for CoreContext {}

/// Exclusive access to a context's staging and TX queues.
struct TxGuard<'a> {
    ctx: &'a CoreContext,
}

impl TxGuard<'_> {
    fn staging(&mut self) -> &mut Staging {
        // SAFETY: the guard holds `locked`, so no one else has a reference to the staging.
        unsafe { &mut *self.ctx.staging.get() }
    }
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        if self.ctx.shared.load(Ordering::SeqCst) {
            self.ctx.locked.swap(false, Ordering::SeqCst);
        } else {
            self.ctx.locked.store(false, Ordering::Release);
        }
    }
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushOutcome {
    /// Frames the TX queues took during this flush.
    pub transmitted: usize,
    /// Accepted frames still staged or handed over afterwards (TX queue full).
    pub left: usize,
}

impl CoreContext {
    /// The context of core `queue`, sending on TX queue `queue` of each of `num_ports` ports.
    pub fn new(queue: u16, num_ports: usize, params: TxParams) -> Self {
        let staging_limit = MIN_STAGING.max(2 * params.burst);
        // Reserved once. A port's staging never exceeds `staging_limit` (a submit waits below it,
        // a drain stops at it), so no path reallocates; the extra room is a margin.
        let per_port = (0..num_ports)
            .map(|_| Vec::with_capacity(staging_limit + HANDOFF_CAPACITY))
            .collect();
        Self {
            queue,
            params,
            staging_limit,
            locked: AtomicBool::new(false),
            shared: AtomicBool::new(false),
            staging: UnsafeCell::new(Staging {
                per_port,
                spare: Vec::with_capacity(SPARE_MBUFS),
            }),
            handoff: ArrayQueue::new(HANDOFF_CAPACITY),
            counters: Counters::default(),
        }
    }

    #[inline]
    fn try_lock(&self) -> Option<TxGuard<'_>> {
        if self.locked.load(Ordering::Relaxed) {
            return None;
        }
        self.locked
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .ok()
            .map(|_| TxGuard { ctx: self })
    }

    /// Spins for the lock until `deadline`; holders keep it only for a bounded time.
    fn lock_until(&self, deadline: Instant) -> Option<TxGuard<'_>> {
        loop {
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::hint::spin_loop();
        }
    }

    /// Has `write` build a frame into an mbuf and accepts it for port `port_idx`. Returns whether
    /// frames were left staged because a TX queue was full (the caller then wakes the flusher).
    ///
    /// With the TX lock, the mbuf comes from the context's spares (refilled from `pool` in bulk);
    /// without it, from `pool` directly, and the frame is handed over.
    #[inline]
    pub fn send(
        &self,
        ports: &[PortInfo],
        pool: &Mempool,
        port_idx: usize,
        write: impl FnOnce(&mut [u8]) -> Result<usize, SendError>,
    ) -> Result<bool, SendError> {
        let offload = ports[port_idx].checksum_offload;
        let left = match self.try_lock() {
            Some(mut g) => {
                let mut mbuf = Self::take_spare(&mut g, pool)?;
                match write(mbuf.room()) {
                    // len <= the port's max frame <= the mbuf data room, which fits in u16.
                    Ok(len) => mbuf.finish(len as u16, offload),
                    Err(e) => {
                        g.staging().spare.push(mbuf.into_raw());
                        return Err(e);
                    }
                }
                self.submit_locked(&mut g, ports, port_idx, mbuf)?
            }
            None => {
                port::ensure_lcore();
                let mut mbuf = pool.alloc().ok_or(SendError::NoMbuf)?;
                let len = write(mbuf.room())?;
                mbuf.finish(len as u16, offload);
                let first = !self.shared.load(Ordering::Relaxed) && !self.shared.swap(true, Ordering::SeqCst);
                self.hand_off(ports, port_idx, mbuf)?;
                first
            }
        };
        // Only a shared context can have frames handed over (see the module docs).
        Ok(left || (self.shared.load(Ordering::SeqCst) && self.help(ports)))
    }

    /// A free mbuf from the spares, refilled from `pool` in one bulk allocation (or a single one
    /// when the pool has fewer left).
    #[inline]
    fn take_spare(g: &mut TxGuard<'_>, pool: &Mempool) -> Result<Mbuf, SendError> {
        let spare = &mut g.staging().spare;
        if spare.is_empty() {
            port::ensure_lcore();
            spare.resize(SPARE_MBUFS, std::ptr::null_mut());
            if !pool.alloc_bulk(spare) {
                spare.clear();
                return pool.alloc().ok_or(SendError::NoMbuf);
            }
        }
        let raw = spare.pop().expect("refilled above");
        // SAFETY: the spares are mbufs this context owns and hands out once.
        Ok(unsafe { Mbuf::from_raw(raw) })
    }

    /// Gives the spare mbufs back to the mempool.
    fn release_spares(g: &mut TxGuard<'_>) {
        let spare = &mut g.staging().spare;
        port::free_all(spare);
        spare.clear();
    }

    /// How many free mbufs this context keeps at hand.
    pub fn spare_mbufs(&self) -> u64 {
        let deadline = Instant::now() + self.params.tx_wait;
        self.lock_until(deadline)
            .map_or(0, |mut g| g.staging().spare.len() as u64)
    }

    #[inline]
    fn submit_locked(
        &self,
        g: &mut TxGuard<'_>,
        ports: &[PortInfo],
        port_idx: usize,
        mbuf: Mbuf,
    ) -> Result<bool, SendError> {
        self.drain_handoff(g);
        if g.staging().per_port[port_idx].len() >= self.staging_limit {
            let deadline = Instant::now() + self.params.tx_wait;
            while g.staging().per_port[port_idx].len() >= self.staging_limit {
                self.flush_port(g, ports, port_idx);
                if Instant::now() >= deadline {
                    self.counters.tx_busy.fetch_add(1, Ordering::Relaxed);
                    return Err(SendError::TxBusy);
                }
            }
        }
        g.staging().per_port[port_idx].push(mbuf.into_raw());
        bump_owned(&self.counters.accepted_direct, 1);
        let mut left = false;
        if g.staging().per_port[port_idx].len() >= self.params.burst {
            left |= self.flush_port(g, ports, port_idx) > 0;
        }
        // Frames drained from the hand-off queue for other ports go out now too in the default mode.
        if self.params.burst == 1 {
            left |= self.flush_all_once(g, ports).left > 0;
        }
        Ok(left)
    }

    /// Pushes a frame for the lock holder to send; if the queue is full, drains it itself when the
    /// TX side is free, and gives up (EAGAIN) only if it stays full for `tx_wait`.
    fn hand_off(&self, ports: &[PortInfo], port_idx: usize, mbuf: Mbuf) -> Result<(), SendError> {
        // Counted before the push: once pushed, the holder may transmit it at once.
        self.counters.accepted_handoff.fetch_add(1, Ordering::Relaxed);
        let mut item = Handoff { port_idx, mbuf };
        let mut deadline = None;
        loop {
            match self.handoff.push(item) {
                Ok(()) => return Ok(()),
                Err(back) => item = back,
            }
            // The queue is full: if the TX side is free now, empty the queue ourselves.
            if let Some(mut g) = self.try_lock() {
                self.drain_handoff(&mut g);
                self.flush_all_once(&mut g, ports);
                continue;
            }
            let d = *deadline.get_or_insert_with(|| Instant::now() + self.params.tx_wait);
            if Instant::now() >= d {
                self.counters.accepted_handoff.fetch_sub(1, Ordering::Relaxed);
                self.counters.tx_busy.fetch_add(1, Ordering::Relaxed);
                return Err(SendError::TxBusy);
            }
            std::hint::spin_loop();
        }
    }

    /// After releasing the lock: if frames were handed over meanwhile and nobody holds the lock,
    /// send them. Returns whether frames were left staged.
    #[inline]
    fn help(&self, ports: &[PortInfo]) -> bool {
        let mut left = false;
        while !self.handoff.is_empty() {
            let Some(mut g) = self.try_lock() else { break };
            self.drain_handoff(&mut g);
            left = self.flush_all_once(&mut g, ports).left > 0;
        }
        left
    }

    #[inline]
    fn drain_handoff(&self, g: &mut TxGuard<'_>) {
        // The common case, no hand-off: two loads instead of a pop attempt.
        if self.handoff.is_empty() {
            return;
        }
        // Bounded: at most one queue's worth, and only while every port's staging is below its
        // limit. Draining until the queue is empty would never end while other threads keep
        // pushing, and staging (holding mbufs) would grow until the mempool ran dry; with the
        // bound, a TX side that cannot keep up fills the hand-off queue and pushers get EAGAIN.
        for _ in 0..HANDOFF_CAPACITY {
            if g.staging().per_port.iter().any(|v| v.len() >= self.staging_limit) {
                return;
            }
            let Some(Handoff { port_idx, mbuf }) = self.handoff.pop() else {
                return;
            };
            // Below the limit before this push: within the capacity reserved in new().
            g.staging().per_port[port_idx].push(mbuf.into_raw());
        }
    }

    /// One `rte_eth_tx_burst` of everything staged for one port; returns how many are left.
    #[inline]
    fn flush_port(&self, g: &mut TxGuard<'_>, ports: &[PortInfo], port_idx: usize) -> usize {
        let staged = &mut g.staging().per_port[port_idx];
        if staged.is_empty() {
            return 0;
        }
        let took = port::tx_burst(ports[port_idx].id, self.queue, staged);
        staged.drain(..took);
        let left = staged.len();
        bump_owned(&self.counters.transmitted, took as u64);
        left
    }

    fn flush_all_once(&self, g: &mut TxGuard<'_>, ports: &[PortInfo]) -> FlushOutcome {
        let before = self.counters.transmitted.load(Ordering::Relaxed);
        let mut left = 0;
        for p in 0..ports.len() {
            left += self.flush_port(g, ports, p);
        }
        let transmitted = (self.counters.transmitted.load(Ordering::Relaxed) - before) as usize;
        FlushOutcome { transmitted, left }
    }

    /// Pushes everything staged or handed over to the TX queues, retrying a full queue until
    /// `tx_wait` has passed. `None` if the TX side stayed busy for that long.
    pub fn flush(&self, ports: &[PortInfo]) -> Option<FlushOutcome> {
        let deadline = Instant::now() + self.params.tx_wait;
        let mut g = self.lock_until(deadline)?;
        Self::release_spares(&mut g);
        let mut transmitted = 0;
        // A drain takes at most what staging has room for: repeat until staging and the hand-off
        // queue are both empty, or the deadline passes.
        loop {
            self.drain_handoff(&mut g);
            let o = self.flush_all_once(&mut g, ports);
            transmitted += o.transmitted;
            let left = o.left + self.handoff.len();
            if left == 0 || Instant::now() >= deadline {
                return Some(FlushOutcome { transmitted, left });
            }
            std::hint::spin_loop();
        }
    }

    /// The flusher thread's pass: one burst per port if the TX side is free. Returns whether
    /// anything is still pending (so the flusher should come back soon).
    pub fn flush_if_free(&self, ports: &[PortInfo]) -> bool {
        match self.try_lock() {
            Some(mut g) => {
                self.drain_handoff(&mut g);
                let o = self.flush_all_once(&mut g, ports);
                drop(g);
                self.help(ports) || o.left > 0
            }
            None => true,
        }
    }

    /// Shutdown: flush with the bounded wait, then free what the TX queues never took.
    pub fn flush_and_release(&self, ports: &[PortInfo]) -> u64 {
        self.flush(ports);
        let deadline = Instant::now() + self.params.tx_wait;
        let Some(mut g) = self.lock_until(deadline) else {
            return 0;
        };
        Self::release_spares(&mut g);
        let mut dropped = 0u64;
        for staged in &mut g.staging().per_port {
            port::free_all(staged);
            dropped += staged.len() as u64;
            staged.clear();
        }
        // No one sends any more (shutdown's contract): whatever is still handed over goes too.
        while let Some(h) = self.handoff.pop() {
            drop(h.mbuf);
            dropped += 1;
        }
        bump_owned(&self.counters.dropped_at_shutdown, dropped);
        dropped
    }

    /// Counts a call that returned -1 for this context.
    pub fn note_rejected(&self, e: SendError) {
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        if e == SendError::NoMbuf {
            self.counters.no_mbuf.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> mtcp_sendpkt_stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let accepted = get(&c.accepted_direct) + get(&c.accepted_handoff);
        let transmitted = get(&c.transmitted);
        let dropped_at_shutdown = get(&c.dropped_at_shutdown);
        mtcp_sendpkt_stats {
            accepted,
            transmitted,
            pending: accepted.saturating_sub(transmitted + dropped_at_shutdown),
            rejected: get(&c.rejected),
            no_mbuf: get(&c.no_mbuf),
            tx_busy: get(&c.tx_busy),
            dropped_at_shutdown,
        }
    }
}

impl Drop for CoreContext {
    fn drop(&mut self) {
        while let Some(h) = self.handoff.pop() {
            drop(h.mbuf);
        }
        let staging = self.staging.get_mut();
        for staged in &staging.per_port {
            port::free_all(staged);
        }
        port::free_all(&staging.spare);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_reserves_room_for_a_full_handoff_queue() {
        let c = CoreContext::new(
            0,
            2,
            TxParams {
                burst: 32,
                tx_wait: Duration::ZERO,
            },
        );
        assert_eq!(c.staging_limit, 64);
        // SAFETY: no other reference exists in this test.
        let st = unsafe { &*c.staging.get() };
        assert!(st.per_port.iter().all(|v| v.capacity() >= 64 + HANDOFF_CAPACITY));
        assert!(st.per_port.iter().all(Vec::is_empty));
        let big = CoreContext::new(
            0,
            1,
            TxParams {
                burst: 100,
                tx_wait: Duration::ZERO,
            },
        );
        assert_eq!(big.staging_limit, 200);
    }

    #[test]
    fn try_lock_is_exclusive_and_released_on_drop() {
        let c = CoreContext::new(
            0,
            1,
            TxParams {
                burst: 1,
                tx_wait: Duration::ZERO,
            },
        );
        let g = c.try_lock().expect("free");
        assert!(c.try_lock().is_none());
        drop(g);
        assert!(c.try_lock().is_some());
    }
}
