//! The per-core context (one per `mctx->cpu`): TX queue `cpu` of every port, the frames staged
//! for them, one hand-off queue per port for frames from threads that do not own the context, and
//! the counters.
//!
//! Who sends (the access protocol itself is in `exclusive`):
//! - The *owner* thread builds its frame into a spare mbuf, stages it and bursts once `burst`
//!   frames are staged for a port; first it moves frames other threads handed over into staging.
//!   Its common call ([`CoreContext::try_send_quick`]) does that in straight-line code that calls
//!   nothing (but what its build calls: the payload's copy-and-sum, the route cache's refill
//!   from the full path's entry), and declines, before any effect but the route cache's refill,
//!   whenever something is not at hand (the full path, [`CoreContext::send`], then takes the
//!   call); a batch's start and end, and new spares, are left to [`Finish`], out of line, before
//!   the owner leaves.
//! - Any other thread (a *guest*) builds its frame into an mbuf from the pool and pushes it onto
//!   its port's hand-off queue; if that queue is full it waits for room, with a deadline. The
//!   owner's next call, or the flusher, sends what was handed over.
//! - The flusher thread (`flusher`) takes over a context whose staged batch is older than the
//!   flush interval or whose hand-offs the owner did not collect, sends them, and makes an owner
//!   that stopped calling while guests keep sending give the context up.
//! - [`CoreContext::close`] (shutdown, process exit) shuts everyone out, waits for the calls in
//!   flight, and puts everything accepted on the TX queues.
//!
//! Invariants (the loom model in `model` checks them):
//! 1. An accepted frame is in exactly one place until a TX queue takes it: a hand-off queue or a
//!    port's staging. So `accepted = transmitted + staged + handed over + dropped_at_shutdown`.
//! 2. No work waits unseen: whoever makes staging non-empty or pushes a hand-off then wakes the
//!    flusher if it dozes, after a barrier; the flusher announces that it dozes, runs the other
//!    barrier of the pair, and looks once more before sleeping. Awake, it looks again within
//!    the flush interval.
//! 3. A port's staging holds at most `staging_limit` frames: a port that stops draining fills only
//!    its own staging and hand-off queue, and its callers get `EAGAIN` after `tx_wait`.
//! 4. Counters written under exclusive access are plain stores (one writer at a time); those of
//!    guests are atomic read-modify-writes.

#[cfg(all(test, loom))]
mod model;

use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Duration;

use crate::abi::mtcp_sendpkt_stats;
use crate::error::SendError;
use crate::exclusive::{Entry, Exclusive, Inside, OwnerGuard, TakeError, ThreadRec};
use crate::flush_signal::FlushSignal;
use crate::sync::{
    clock, heavy_barrier, light_barrier, AtomicBool, AtomicU64, AtomicUsize, Backoff, Deadline, HandoffQueue,
    Ordering,
};

/// What a core context needs from the packet I/O layer: DPDK (`port`) in the library, a
/// recording fake in the loom model.
pub(crate) trait PacketIo: Sync {
    /// An owned packet buffer; dropping it gives it back to its pool.
    type Buf: Send;
    /// A TX queue, used by one context only.
    type Queue: Send;
    /// One buffer from the pool.
    fn alloc(&self) -> Option<Self::Buf>;
    /// Appends `n` buffers from the pool to `out`: all of them, or none (false).
    fn alloc_bulk(&self, out: &mut Vec<Self::Buf>, n: usize) -> bool;
    /// Gives the leading buffers of `bufs` to `queue`, removes them, and returns how many.
    fn burst(queue: &mut Self::Queue, bufs: &mut Vec<Self::Buf>) -> usize;
}

/// Mbufs a context takes from the pool at once.
const SPARE_MBUFS: usize = if cfg!(loom) { 2 } else { 32 };
/// The most mbufs a context holds for one port, outside its TX queue, with `burst`: a full
/// staging and its spares.
pub(crate) fn mbufs_held(burst: usize) -> usize {
    MIN_STAGING.max(2 * burst) + SPARE_MBUFS
}

/// Frames one port's staging may hold (like mOS's 64 TX slots), or twice the burst if larger.
const MIN_STAGING: usize = 64;
/// Frames that can wait in one port's hand-off queue.
pub(crate) const HANDOFF_CAPACITY: usize = if cfg!(loom) { 2 } else { 1024 };
/// The longest the flusher waits before retrying a TX queue that refused frames.
const MAX_RETRY_INTERVAL: Duration = Duration::from_millis(10);
/// How long a call waits for another thread that holds the TX side (the owner inside a call, or
/// a taker), when the TX queue itself is not refusing. That thread is only preempted (for many
/// scheduler time slices on an overloaded machine), so this bound only rules out waiting
/// forever (a thread stopped inside a call); `tx_wait` bounds waiting for a TX queue.
const HOLDER_WAIT: Duration = Duration::from_secs(1);

/// How a context sends (from `Settings`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxParams {
    /// Frames staged for a port before the burst.
    pub burst: usize,
    /// How long a call waits for a TX queue that does not take frames, before `EAGAIN`.
    pub tx_wait: Duration,
    /// The longest a staged frame may wait (`MTCP_SENDPKT_FLUSH_US`). The flusher sends a
    /// batch (or collects hand-offs) at half that age, leaving the rest for its own wake-up;
    /// and a frame that starts a batch this long after the previous one began (a quiet spell)
    /// is sent at once, since batching pays only while frames keep coming.
    pub flush_interval: Duration,
}

impl TxParams {
    fn staging_limit(&self) -> usize {
        MIN_STAGING.max(2 * self.burst)
    }

    /// The age at which the flusher acts (see `flush_interval`).
    fn flush_after(&self) -> Duration {
        self.flush_interval / 4
    }

    /// The deadline for waiting on another thread (see [`HOLDER_WAIT`]); none with `tx_wait` 0.
    fn holder_deadline(&self) -> Deadline {
        if self.tx_wait.is_zero() {
            Deadline::now()
        } else {
            Deadline::after(self.tx_wait.max(HOLDER_WAIT))
        }
    }
}

/// One port's TX queue and the frames staged for it, oldest first. Cache lines of its own, as
/// [`PortPublished`]: the owner writes it on every call, and another context's heap blocks
/// must not share its lines (false sharing between two cores' owners).
#[repr(align(128))]
struct PortTx<I: PacketIo> {
    queue: I::Queue,
    staged: Vec<I::Buf>,
}

/// What a context keeps between its owner's calls (the route cache), handed to each frame
/// builder. `Default` makes the one a guest's call builds with: it must be cheap to make.
pub(crate) trait Scratch: Default + Send {
    /// The owner's, made once with the context.
    fn for_owner() -> Self {
        Self::default()
    }

    /// Runs `f` with the scratch of a guest's call: a fresh one, unless the implementation keeps
    /// what the calling thread's last guest call left (it must allocate nothing; the thread's
    /// calls never overlap, a signal handler's being refused while the thread is inside).
    fn with_guest<R>(f: impl FnOnce(&mut Self) -> R) -> R {
        f(&mut Self::default())
    }
}

impl Scratch for () {}

/// What only the holder of the context's exclusive access touches. Cache lines of its own: the
/// owner writes it on every call (its spares, its staging), while guests and the flusher read
/// the context's other fields (its queues, parameters, signal) on every call of theirs; sharing
/// a line, each of those reads would miss.
#[repr(align(128))]
struct TxState<I: PacketIo, S> {
    /// Whatever the frame builder wants to keep between the owner's calls (the route cache).
    scratch: S,
    ports: Vec<PortTx<I>>,
    /// Free buffers taken from the pool in bulk, for the next frames.
    spare: Vec<I::Buf>,
    /// Hand-offs moved into staging so far (compared with `CoreContext::handed_off`).
    drained: u64,
}

/// Written under exclusive access only (plain stores), read by anyone: counters and what the
/// flusher needs to know. A cache line of its own, apart from the guests' counters.
///
/// Ordering: a writer stores a port's `batch_start`, then its `staged`, then `drained`, each with
/// Release; the flusher loads them in the opposite order with Acquire, so that whatever it sees
/// of a later store, it sees the earlier ones too.
#[repr(align(128))]
#[derive(Default)]
struct Published {
    accepted: AtomicU64,
    /// Raw frames the owner's quick path staged (the others count in `Rare::raw_frames`).
    raw_frames: AtomicU64,
    transmitted: AtomicU64,
    dropped_at_shutdown: AtomicU64,
    spares: AtomicUsize,
    drained: AtomicU64,
    ports: Box<[PortPublished]>,
}

#[repr(align(128))]
#[derive(Default)]
struct PortPublished {
    staged: AtomicUsize,
    /// When the port's staging last went from empty to not empty (`clock::now_ns`).
    batch_start: AtomicU64,
    /// Hand-offs of this port moved into its staging so far.
    drained: AtomicU64,
    /// The last burst left frames: the TX queue refuses (what makes callers wait only `tx_wait`).
    refusing: AtomicBool,
}

/// A value on cache lines of its own.
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Written by guests (and by anyone for errors): atomic read-modify-writes. Apart from
/// `CoreContext::handed_off`, which the owner reads on every call: a guest's call writes these
/// several times, and each write would otherwise take that line from the owner's CPU.
#[repr(align(128))]
#[derive(Default)]
struct Guests {
    /// Calls by non-owners that are past the closed check (`close` waits for them).
    in_flight: AtomicUsize,
    accepted: AtomicU64,
    rejected: AtomicU64,
    no_mbuf: AtomicU64,
    tx_busy: AtomicU64,
}

/// Counted on rare paths only (errors, RST and raw frames), for telemetry: kept apart from the
/// counters the sending paths touch.
#[derive(Default)]
struct Rare {
    /// Rejected calls by errno, in [`REJECT_ERRNOS`] order.
    rejected_by: [AtomicU64; REJECT_ERRNOS.len()],
    /// Frames `mtcp_sendpkt_reset`, `mtcp_sendpkt_segment` and `mtcp_sendpkt_raw` put on a TX queue.
    resets: AtomicU64,
    raw_frames: AtomicU64,
}

/// The errno values a call on a context can fail with, as the telemetry names them.
pub(crate) const REJECT_ERRNOS: [(libc::c_int, &str); 10] = [
    (libc::EACCES, "EACCES"),
    (libc::EBADF, "EBADF"),
    (libc::ENODATA, "ENODATA"),
    (libc::EINVAL, "EINVAL"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::EIO, "EIO"),
];

/// What a context counted, beyond the C ABI's `mtcp_sendpkt_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub stats: mtcp_sendpkt_stats,
    /// Rejected calls by errno, in [`REJECT_ERRNOS`] order.
    pub rejected_by: [u64; REJECT_ERRNOS.len()],
    pub resets: u64,
    pub raw_frames: u64,
}

impl Counters {
    /// Adds `other`'s counts (a core context's lanes to the core's, see `runtime`).
    pub(crate) fn add(&mut self, other: &Counters) {
        let (s, o) = (&mut self.stats, &other.stats);
        s.accepted += o.accepted;
        s.transmitted += o.transmitted;
        s.pending += o.pending;
        s.rejected += o.rejected;
        s.no_mbuf += o.no_mbuf;
        s.tx_busy += o.tx_busy;
        s.dropped_at_shutdown += o.dropped_at_shutdown;
        for (a, b) in self.rejected_by.iter_mut().zip(other.rejected_by) {
            *a += b;
        }
        self.resets += other.resets;
        self.raw_frames += other.raw_frames;
    }
}

/// A plain increment of a counter that has one writer at a time: no locked instruction.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Records whether a port's TX queue refused frames at its last burst (stored only on change).
#[inline(always)]
fn note_refusal(p: &PortPublished, refused: bool) {
    if p.refusing.load(Ordering::Relaxed) != refused {
        p.refusing.store(refused, Ordering::Relaxed);
    }
}

/// Counts a non-owner call in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    /// Enters, unless the context is closed: `close` then waits for the calls it let in.
    fn enter<I: PacketIo, S>(ctx: &'a CoreContext<I, S>) -> Result<Self, SendError> {
        ctx.guests.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(&ctx.guests.in_flight);
        // Pairs with the heavy barrier in `close` between setting CLOSED and reading
        // `in_flight`: the guest's half of the asymmetric pair, as the owner's entry has it (a
        // guest calls often, close runs once).
        light_barrier();
        if ctx.tx.is_closed() {
            return Err(SendError::NotInitialized);
        }
        Ok(guard)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        // Release: `close` sees everything this call did once it sees the count drop.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

pub(crate) struct CoreContext<I: PacketIo, S = ()> {
    /// The packet I/O layer's handle (its pool), for the buffers of this context's frames.
    io: I,
    tx: Exclusive<TxState<I, S>>,
    handoff: Box<[HandoffQueue<I::Buf>]>,
    params: TxParams,
    staging_limit: usize,
    /// `burst - 2`: the quick path's frame needs no [`Finish`] when the port had 1 to this many
    /// staged (0 starts a batch, one more fills it).
    quick_span: usize,
    signal: Arc<FlushSignal>,
    published: Published,
    /// Frames guests pushed onto the hand-off queues so far (compared with `TxState::drained`).
    handed_off: Padded<AtomicU64>,
    guests: Guests,
    rare: Box<Rare>,
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlushOutcome {
    /// Frames the TX queues took during this flush.
    pub transmitted: usize,
    /// Accepted frames still staged or handed over afterwards (a TX queue kept refusing).
    pub left: usize,
}

/// What [`CoreContext::close`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CloseOutcome {
    /// Accepted frames the TX queues refused until the deadline, freed.
    pub dropped: u64,
    /// Everyone left and everything was sent or freed: nothing can reach the context's
    /// queues or buffers any more. False when a call stayed inside past the deadline.
    pub complete: bool,
}

/// What the flusher should do about a context after a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Nothing staged or handed over.
    Idle,
    /// Look again at this time (`clock::now_ns`): work is pending that is not due yet.
    At(u64),
    /// A TX queue refuses frames: retry at this time (new work wakes the flusher earlier).
    Retry(u64),
}

/// What the flusher remembers of a context between visits.
#[derive(Debug, Default, Clone)]
pub(crate) struct VisitMemo {
    /// The owner's `accepted` and the guests' `handed_off` at the previous take-over.
    progress: (u64, u64),
    ports: Vec<PortMemo>,
}

#[derive(Debug, Default, Clone, Copy)]
struct PortMemo {
    /// The batch (its start) the flusher last saw waiting on this port. When the next look
    /// finds a newer batch, the owner sent that one itself: it is active.
    batch_seen: Option<u64>,
    /// The port's `drained` count, and when hand-offs were first seen waiting with that count.
    handoffs_seen: Option<(u64, u64)>,
    /// The retry interval and next retry time of a TX queue that refused frames. Hand-offs for
    /// the port wait for it too: they cannot move into its full staging before.
    retry: Option<(Duration, u64)>,
}

/// Builds one frame: given the context's scratch and a buffer, writes the frame into the buffer
/// and returns the index of the port it goes to. (A trait rather than a closure so that the
/// library's builder can be forced inline into the owner's path.)
pub(crate) trait Build<I: PacketIo, S> {
    fn build(self, scratch: &mut S, buf: &mut I::Buf) -> Result<usize, SendError>;
}

impl<I: PacketIo, S, F: FnOnce(&mut S, &mut I::Buf) -> Result<usize, SendError>> Build<I, S> for F {
    #[inline(always)]
    fn build(self, scratch: &mut S, buf: &mut I::Buf) -> Result<usize, SendError> {
        self(scratch, buf)
    }
}

/// Builds one frame on the owner's quick path ([`CoreContext::try_send_quick`]): from the
/// context's scratch (the route cache), which it may refill as the full path would, calling
/// nothing else but the payload's copy. It finds the frame's port, takes a buffer for it with
/// `take` (`None`: that port's staging is full, or no spare is at hand), writes the frame and
/// returns both. `None` when the scratch does not suffice or `take` has nothing (the full path
/// then takes the call, finding the scratch as a refill left it); a buffer taken is then
/// dropped (back to its pool).
///
/// # Safety
/// `Some((port, _))` only after `take(port)` returned `Some` for that same `port` (it checked
/// the port and its staging's room): the quick path then stages the buffer without checking
/// them again.
pub(crate) unsafe trait QuickBuild<I: PacketIo, S> {
    /// Its frames count as raw frames (`raw_frames_sent`) too: the replay of a held frame.
    const RAW: bool = false;
    fn try_build(
        self,
        scratch: &mut S,
        take: impl FnOnce(usize) -> Option<I::Buf>,
    ) -> Option<(usize, I::Buf)>;
}

/// One packet of a burst ([`CoreContext::send_burst`]): the owner tries the quick path's build
/// first, as its single calls do; anything that declines is checked and built as a single call's
/// full path builds it.
///
/// # Safety
/// As for [`QuickBuild`]: [`BurstItem::try_quick`] returns `Some((port, _))` only after
/// `take(port)` returned `Some` for that same `port`.
pub(crate) unsafe trait BurstItem<I: PacketIo, S> {
    /// The quick path's build ([`QuickBuild::try_build`]); `None` leaves the packet to
    /// [`BurstItem::full`] (a buffer taken is then dropped, back to its pool).
    fn try_quick(
        &self,
        scratch: &mut S,
        take: impl FnOnce(usize) -> Option<I::Buf>,
    ) -> Option<(usize, I::Buf)>;
    /// The packet checked as the full path checks it: its refusal, or its build.
    fn full(self) -> Result<impl Build<I, S>, SendError>;
}

// SAFETY: never quick.
unsafe impl<I: PacketIo, S, B: Build<I, S>> BurstItem<I, S> for Result<B, SendError> {
    fn try_quick(&self, _: &mut S, _: impl FnOnce(usize) -> Option<I::Buf>) -> Option<(usize, I::Buf)> {
        None
    }

    fn full(self) -> Result<impl Build<I, S>, SendError> {
        self
    }
}

/// A burst's item as a quick build, for [`CoreContext::stage_built`].
struct QuickItem<'b, B>(&'b B);

// SAFETY: `try_quick` has `try_build`'s contract (BurstItem's).
unsafe impl<I: PacketIo, S, B: BurstItem<I, S>> QuickBuild<I, S> for QuickItem<'_, B> {
    #[inline(always)]
    fn try_build(
        self,
        scratch: &mut S,
        take: impl FnOnce(usize) -> Option<I::Buf>,
    ) -> Option<(usize, I::Buf)> {
        self.0.try_quick(scratch, take)
    }
}

/// What [`CoreContext::try_send_quick`] did.
pub(crate) enum Quick<'a, I: PacketIo, S> {
    /// Nothing: the full path ([`CoreContext::send`]) must take the call.
    Declined,
    /// The frame is staged and everything is done.
    Staged,
    /// The frame is staged (the call succeeded); [`Finish::finish`] must run next: a batch
    /// starts or is full, or the spares ran out. The owner is still inside until then: the
    /// thread must not enter any context before.
    Finish(Finish<'a, I, S>),
}

/// The rest of a quick call, out of line (see [`Quick::Finish`]). Two words (the owner's guard
/// is set aside, see `exclusive::Inside`), so that it goes to [`Finish::finish`] in registers:
/// the quick path calls nothing itself. Dropped unfinished, it publishes the staging (the frame
/// is sent later) and the owner leaves.
pub(crate) struct Finish<'a, I: PacketIo, S> {
    ctx: &'a CoreContext<I, S>,
    port: usize,
    inside: ManuallyDrop<Inside<'a, TxState<I, S>>>,
}

impl<'a, I: PacketIo, S> Finish<'a, I, S> {
    /// The owner's guard again.
    ///
    /// # Safety
    /// Once per Finish: `finish` (which keeps its Finish from being dropped) or `drop`.
    unsafe fn resume(&mut self) -> OwnerGuard<'a, TxState<I, S>> {
        // SAFETY: `inside` is taken once (the caller's contract); only `try_send_quick` makes a
        // Finish, with the guard of `ctx.tx` set aside.
        unsafe { ManuallyDrop::take(&mut self.inside).resume(&self.ctx.tx) }
    }
}

impl<I: PacketIo, S> Drop for Finish<'_, I, S> {
    /// Unfinished (not on the library's paths): the staged frame is published, and the flusher
    /// woken if it dozes, so that it is sent (invariant 2); then the owner leaves.
    fn drop(&mut self) {
        // SAFETY: `finish` does not drop its Finish: this is the one resume.
        let st = unsafe { self.resume() };
        let staged = st.ports.get(self.port).map_or(0, |p| p.staged.len());
        if staged > 0 {
            self.ctx.publish_port(&st, self.port, staged == 1);
            self.ctx.signal.notify();
        }
    }
}

impl<I: PacketIo, S: Scratch> Finish<'_, I, S> {
    /// Does for the port what the full path does after staging a frame: stamps a batch that
    /// starts, sends a full one, publishes the count, wakes the flusher; and takes new spares if
    /// they ran out (if the pool has none, the next call's full path says so). Then the owner
    /// leaves.
    #[inline(never)]
    pub(crate) fn finish(self) {
        let mut this = std::mem::ManuallyDrop::new(self);
        let (ctx, port) = (this.ctx, this.port);
        // SAFETY: `this` is never dropped: this is the one resume.
        let mut st = unsafe { this.resume() };
        let st = &mut *st;
        let (p, published) = (&mut st.ports[port], &ctx.published.ports[port]);
        let staged = p.staged.len();
        ctx.staged_one(p, published, staged, staged == 1);
        if st.spare.is_empty() && ctx.io.alloc_bulk(&mut st.spare, SPARE_MBUFS) {
            ctx.published.spares.store(st.spare.len(), Ordering::Relaxed);
        }
    }
}

impl<I: PacketIo, S> CoreContext<I, S> {
    /// Publishes a port's staged count for the flusher; when its staging just became non-empty,
    /// stamps the batch first. The caller then wakes the flusher if it dozes (invariant 2).
    #[inline(always)]
    fn publish_port(&self, st: &TxState<I, S>, port: usize, was_empty: bool) {
        let n = st.ports[port].staged.len();
        let p = &self.published.ports[port];
        if was_empty && n > 0 {
            p.batch_start.store(clock::now_ns(), Ordering::Release);
        }
        p.staged.store(n, Ordering::Release);
    }
}

impl<I: PacketIo, S: Scratch> CoreContext<I, S> {
    /// A context sending on `queues` (one per port, in port order).
    pub(crate) fn new(io: I, queues: Vec<I::Queue>, params: TxParams, signal: Arc<FlushSignal>) -> Self {
        Self::with_fence(io, queues, params, signal, crate::sync::light_barrier_is_fence())
    }

    /// [`CoreContext::new`], the owner's barrier a full fence (`fenced`, see `exclusive`) or not.
    fn with_fence(
        io: I,
        queues: Vec<I::Queue>,
        params: TxParams,
        signal: Arc<FlushSignal>,
        fenced: bool,
    ) -> Self {
        let staging_limit = params.staging_limit();
        let ports: Vec<PortTx<I>> = queues
            .into_iter()
            .map(|queue| PortTx {
                queue,
                // Reserved once: staging never exceeds its limit, so no path reallocates.
                staged: Vec::with_capacity(staging_limit),
            })
            .collect();
        let n_ports = ports.len();
        let handoff = (0..n_ports)
            .map(|_| HandoffQueue::new(HANDOFF_CAPACITY))
            .collect();
        Self {
            io,
            tx: Exclusive::with_fence(
                TxState {
                    scratch: S::for_owner(),
                    ports,
                    spare: Vec::with_capacity(SPARE_MBUFS),
                    drained: 0,
                },
                fenced,
            ),
            handoff,
            params,
            staging_limit,
            quick_span: params.burst.saturating_sub(2),
            signal,
            published: Published {
                ports: (0..n_ports).map(|_| PortPublished::default()).collect(),
                ..Published::default()
            },
            handed_off: Padded::default(),
            guests: Guests::default(),
            rare: Box::default(),
        }
    }

    /// Builds a frame with `build` and sends it on the port `build` names (see the module docs
    /// for the paths). `me` gives the calling thread's record when it is not the owner.
    #[inline(always)]
    pub(crate) fn send(
        &self,
        me: impl FnOnce() -> &'static ThreadRec,
        build: impl Build<I, S>,
    ) -> Result<(), SendError> {
        match self.tx.enter_with(me) {
            Entry::Owner(mut st) => self.send_owned(&mut st, build),
            Entry::Taken(me) => self.send_after_taker(me, build),
            Entry::Elsewhere => self.send_handed_off(build, None),
            Entry::Closed => Err(SendError::NotInitialized),
            Entry::Reentered => Err(SendError::Reentered),
        }
    }

    /// Sends the frames of `items` in order, each as [`CoreContext::send`] would, but entering
    /// the context once for all of them when the caller owns it (a guest hands each over, as it
    /// would one by one). The owner stages each item the quick path builds as its quick path
    /// does; every other item is checked first ([`BurstItem::full`]): a packet refused before
    /// any frame could be built is reported as such, before anything else is looked at for it,
    /// as a single call reports it. After a frame that fails, `carry_on(error)` decides whether
    /// the next ones are tried. Returns how many frames were accepted.
    ///
    /// The owner stays inside for the burst, draining the guests' hand-offs before each frame as
    /// its single calls do; it stops (each further frame refused as after shutdown) as soon as
    /// the context is closed, so that `close` never waits for a long burst.
    pub(crate) fn send_burst<B: BurstItem<I, S>>(
        &self,
        me: impl FnOnce() -> &'static ThreadRec,
        items: impl IntoIterator<Item = B>,
        mut carry_on: impl FnMut(SendError) -> bool,
    ) -> usize {
        let mut accepted = 0;
        let mut note = |r: Result<(), SendError>| match r {
            Ok(()) => {
                accepted += 1;
                true
            }
            Err(e) => carry_on(e),
        };
        let mut items = items.into_iter();
        match self.tx.enter_with(me) {
            Entry::Owner(mut st) => {
                for item in items.by_ref() {
                    let r = if self.tx.is_closed() {
                        item.full().and(Err(SendError::NotInitialized))
                    } else if self.stage_quick(&mut st, &item) {
                        Ok(())
                    } else {
                        item.full().and_then(|b| self.send_owned(&mut st, b))
                    };
                    if !note(r) {
                        break;
                    }
                }
            }
            Entry::Taken(me) => {
                let mut first = true;
                for item in items {
                    let r = match item.full() {
                        Err(e) => Err(e),
                        Ok(b) if std::mem::take(&mut first) => self.send_after_taker(me, b),
                        Ok(b) => self.send(|| me, b),
                    };
                    if !note(r) {
                        break;
                    }
                }
            }
            Entry::Elsewhere => {
                for item in items {
                    let r = item.full().and_then(|b| self.send_handed_off(b, None));
                    if !note(r) {
                        break;
                    }
                }
            }
            Entry::Closed => return self.refuse_burst(items, SendError::NotInitialized, carry_on),
            Entry::Reentered => return self.refuse_burst(items, SendError::Reentered, carry_on),
        }
        accepted
    }

    /// A burst refused as a whole with `e` (the context closed, the call re-entered): each item
    /// in turn reported with its own refusal if it has one, else with `e`, while `carry_on` says
    /// so. Returns 0 (accepted).
    pub(crate) fn refuse_burst<B: BurstItem<I, S>>(
        &self,
        items: impl IntoIterator<Item = B>,
        e: SendError,
        mut carry_on: impl FnMut(SendError) -> bool,
    ) -> usize {
        for item in items {
            if !carry_on(item.full().err().unwrap_or(e)) {
                break;
            }
        }
        0
    }

    /// A burst's item on the owner's quick path: staged as [`CoreContext::try_send_quick`] and
    /// its [`Finish`] together stage a frame, when `item` builds there; `false` (nothing done but
    /// the hand-offs drained and the route cache perhaps refilled) when it declines.
    #[inline(always)]
    fn stage_quick(&self, st: &mut TxState<I, S>, item: &impl BurstItem<I, S>) -> bool {
        if self.handoffs_waiting(st) {
            self.drain(st);
        }
        let Some((port, staged)) = self.stage_built(st, QuickItem(item)) else {
            return false;
        };
        // SAFETY: `stage_built` staged on `port`, so it is in bounds of `st.ports` and of
        // `published.ports` (one entry per port each, see `send_owned`).
        let (p, published) = unsafe {
            (
                st.ports.get_unchecked_mut(port),
                self.published.ports.get_unchecked(port),
            )
        };
        self.staged_one(p, published, staged + 1, staged == 0);
        if st.spare.is_empty() && self.io.alloc_bulk(&mut st.spare, SPARE_MBUFS) {
            self.published.spares.store(st.spare.len(), Ordering::Relaxed);
        }
        true
    }

    /// What both quick paths do: `build` from the scratch (see [`QuickBuild`]), with a spare for
    /// its port when that port's staging has room, and the frame staged with plain loads and stores,
    /// counted as accepted (and raw, for a [`QuickBuild::RAW`] build). Returns the port and how
    /// many frames were staged there before; `None` (nothing staged) when `build` declines.
    #[inline(always)]
    fn stage_built<B: QuickBuild<I, S>>(&self, st: &mut TxState<I, S>, build: B) -> Option<(usize, usize)> {
        let limit = self.staging_limit;
        let TxState {
            scratch,
            ports,
            spare,
            ..
        } = st;
        let take = |port: usize| match ports.get(port) {
            Some(p) if p.staged.len() < limit => spare.pop(),
            _ => None,
        };
        let (port, buf) = build.try_build(scratch, take)?;
        // SAFETY: `build` returned a buffer `take(port)` gave (QuickBuild's contract), so
        // `take` found `port` in bounds and its staging below the limit; only the frame was
        // written since.
        let p = unsafe { ports.get_unchecked_mut(port) };
        let staged = p.staged.len();
        debug_assert!(staged < limit && staged < p.staged.capacity());
        // SAFETY: as in `send_owned`: staged < staging_limit <= the capacity reserved in `new`.
        unsafe {
            p.staged.as_mut_ptr().add(staged).write(buf);
            p.staged.set_len(staged + 1);
        }
        bump(&self.published.accepted, 1);
        if B::RAW {
            bump(&self.published.raw_frames, 1);
        }
        Some((port, staged))
    }

    /// The owner found a taker inside: it waits for it to leave (takers stay a short, bounded
    /// time) rather than send its frame the long way; past the holder deadline, it hands over.
    #[cold]
    #[inline(never)]
    fn send_after_taker(&self, me: &'static ThreadRec, build: impl Build<I, S>) -> Result<(), SendError> {
        let deadline = self.params.holder_deadline();
        let mut backoff = Backoff::new();
        loop {
            backoff.wait();
            match self.tx.enter(me) {
                Entry::Owner(mut st) => return self.send_owned(&mut st, build),
                Entry::Taken(_) if !deadline.expired() => {}
                Entry::Taken(_) | Entry::Elsewhere => return self.send_handed_off(build, Some(deadline)),
                Entry::Closed => return Err(SendError::NotInitialized),
                Entry::Reentered => return Err(SendError::Reentered),
            }
        }
    }

    /// Guests handed frames over that the owner's `st` has not moved into staging yet (it must,
    /// before staging a frame of its own). Acquire pairs with the guests' increment after their
    /// push: a drain after this sees the frames counted.
    #[inline(always)]
    fn handoffs_waiting(&self, st: &TxState<I, S>) -> bool {
        self.handed_off.load(Ordering::Acquire) != st.drained
    }

    #[inline(always)]
    fn send_owned(&self, st: &mut TxState<I, S>, build: impl Build<I, S>) -> Result<(), SendError> {
        if self.handoffs_waiting(st) {
            self.drain(st);
        }
        let mut buf = match st.spare.pop() {
            Some(b) => b,
            None => self.refill(st)?,
        };
        let port = match build.build(&mut st.scratch, &mut buf) {
            Ok(port) => port,
            Err(e) => {
                st.spare.push(buf);
                return Err(e);
            }
        };
        let Some(p) = st.ports.get_mut(port) else {
            st.spare.push(buf);
            return Err(SendError::Internal);
        };
        // SAFETY: `published.ports` and `st.ports` have one entry per port each, from `new`,
        // and neither is resized: `port` is in bounds of both.
        let published = unsafe { self.published.ports.get_unchecked(port) };
        let mut staged = p.staged.len();
        if staged >= self.staging_limit {
            self.wait_for_room(st, port)?;
            staged = st.ports[port].staged.len();
        }
        let was_empty = staged == 0;
        let p = &mut st.ports[port];
        debug_assert!(staged < p.staged.capacity());
        // SAFETY: staged < staging_limit (the check above) <= the capacity reserved in `new`,
        // which staging never exceeds: the slot at `staged` is allocated and past the length.
        unsafe {
            p.staged.as_mut_ptr().add(staged).write(buf);
            p.staged.set_len(staged + 1);
        }
        bump(&self.published.accepted, 1);
        self.staged_one(p, published, staged + 1, was_empty);
        Ok(())
    }

    /// After one frame was staged on port `p` (`staged` frames now; `was_empty` before it): a
    /// batch that starts is stamped, and after a quiet spell sent at once; a full one is sent;
    /// the count is published, and the flusher woken if staging became non-empty (invariant 2).
    #[inline(always)]
    fn staged_one(&self, p: &mut PortTx<I>, published: &PortPublished, mut staged: usize, was_empty: bool) {
        let mut flush = staged >= self.params.burst;
        if was_empty {
            // A new batch: stamped for the flusher. After a quiet spell it goes out at once.
            let now = clock::now_ns();
            let last = published.batch_start.load(Ordering::Relaxed);
            flush |= now.wrapping_sub(last) >= self.params.flush_interval.as_nanos() as u64;
            published.batch_start.store(now, Ordering::Release);
        }
        if flush {
            let took = I::burst(&mut p.queue, &mut p.staged);
            staged -= took;
            bump(&self.published.transmitted, took as u64);
            note_refusal(published, staged > 0);
        }
        published.staged.store(staged, Ordering::Release);
        if was_empty && staged > 0 {
            // Staging just became non-empty: wake the flusher if it dozes (invariant 2).
            self.signal.notify();
        }
    }

    /// The owner's quick path, for a caller that falls back on [`CoreContext::send`]: when the
    /// caller (`is_me`) owns the context, nothing is handed over, a spare is at hand, `build`
    /// needs only the scratch and the port's staging has room, stages the frame with plain loads
    /// and stores and no call but the build's (what the full path does for such a call).
    /// Anything else is declined before any effect but a refill of the scratch's route cache
    /// (which the full path would make the same). The work of every `burst`-th call is left to
    /// [`Finish`].
    #[inline(always)]
    pub(crate) fn try_send_quick<B: QuickBuild<I, S>>(
        &self,
        is_me: impl FnOnce(&ThreadRec) -> bool,
        build: B,
    ) -> Quick<'_, I, S> {
        let Some(mut guard) = self.tx.try_enter_owner(is_me) else {
            return Quick::Declined;
        };
        let st = &mut *guard;
        if self.handoffs_waiting(st) {
            return Quick::Declined;
        }
        let Some((port, staged)) = self.stage_built(st, build) else {
            return Quick::Declined;
        };
        // Finish when a batch starts (staged was 0) or is full (staged + 1 >= burst).
        if staged.wrapping_sub(1) >= self.quick_span || st.spare.is_empty() {
            return Quick::Finish(Finish {
                ctx: self,
                port,
                inside: ManuallyDrop::new(guard.set_aside()),
            });
        }
        // SAFETY: `published.ports` has an entry per port, as `st.ports` (see `send_owned`).
        let published = unsafe { self.published.ports.get_unchecked(port) };
        published.staged.store(staged + 1, Ordering::Release);
        Quick::Staged
    }

    /// Takes spares from the pool in one bulk allocation (or one buffer when it has fewer).
    #[inline(never)]
    fn refill(&self, st: &mut TxState<I, S>) -> Result<I::Buf, SendError> {
        let r = if self.io.alloc_bulk(&mut st.spare, SPARE_MBUFS) {
            st.spare.pop().ok_or(SendError::NoMbuf)
        } else {
            self.io.alloc().ok_or(SendError::NoMbuf)
        };
        self.published.spares.store(st.spare.len(), Ordering::Relaxed);
        r
    }

    /// A port's staging is full: its TX queue is not taking frames. Retry until `tx_wait`.
    /// Meanwhile the other ports do not wait for this one: each retry also moves what was
    /// handed over into staging and bursts every port (the flusher cannot, while this owner is
    /// inside).
    #[cold]
    #[inline(never)]
    fn wait_for_room(&self, st: &mut TxState<I, S>, port: usize) -> Result<(), SendError> {
        let deadline = Deadline::after(self.params.tx_wait);
        let mut backoff = Backoff::new();
        loop {
            self.drain_and_burst(st);
            if st.ports[port].staged.len() < self.staging_limit {
                return Ok(());
            }
            if deadline.expired() {
                self.guests.tx_busy.fetch_add(1, Ordering::Relaxed);
                return Err(SendError::TxBusy);
            }
            backoff.wait();
        }
    }

    /// One `rte_eth_tx_burst` of everything staged for `port`.
    #[inline]
    fn burst(&self, st: &mut TxState<I, S>, port: usize) {
        let p = &mut st.ports[port];
        if p.staged.is_empty() {
            return;
        }
        let took = I::burst(&mut p.queue, &mut p.staged);
        bump(&self.published.transmitted, took as u64);
        note_refusal(&self.published.ports[port], !p.staged.is_empty());
    }

    /// Moves handed-over frames into staging, as far as each port's staging has room.
    #[cold]
    #[inline(never)]
    fn drain(&self, st: &mut TxState<I, S>) {
        for port in 0..st.ports.len() {
            let p = &mut st.ports[port];
            let was_empty = p.staged.is_empty();
            let mut moved = 0;
            while p.staged.len() < self.staging_limit {
                let Some(buf) = self.handoff[port].pop() else {
                    break;
                };
                p.staged.push(buf);
                moved += 1;
            }
            st.drained += moved as u64;
            if moved > 0 {
                self.publish_port(st, port, was_empty);
                bump(&self.published.ports[port].drained, moved as u64);
            }
        }
        self.published.drained.store(st.drained, Ordering::Release);
    }

    /// Drains the hand-offs and bursts every port, repeating while hand-offs remain and the TX
    /// queues take everything (at most a full hand-off queue's worth). Returns the frames left.
    fn drain_and_burst(&self, st: &mut TxState<I, S>) -> FlushOutcome {
        let before = self.published.transmitted.load(Ordering::Relaxed);
        let mut refused = false;
        for _ in 0..=HANDOFF_CAPACITY / self.staging_limit {
            self.drain(st);
            refused = false;
            for port in 0..st.ports.len() {
                let was_empty = st.ports[port].staged.is_empty();
                self.burst(st, port);
                self.publish_port(st, port, was_empty);
                refused |= !st.ports[port].staged.is_empty();
            }
            if refused || self.queued() == 0 {
                break;
            }
        }
        if refused {
            // Frames are left (a TX queue refused): the flusher must come back for them.
            self.signal.notify();
        }
        FlushOutcome {
            transmitted: (self.published.transmitted.load(Ordering::Relaxed) - before) as usize,
            left: st.ports.iter().map(|p| p.staged.len()).sum::<usize>() + self.queued(),
        }
    }

    /// Frames waiting in the hand-off queues (an estimate while guests push).
    fn queued(&self) -> usize {
        let handed = self.handed_off.load(Ordering::Acquire);
        handed.saturating_sub(self.published.drained.load(Ordering::Relaxed)) as usize
    }

    /// A frame from a thread that does not own the context (or an owner kept out): onto the
    /// hand-off queue. While it is full, waits for room until `deadline` (the holder deadline),
    /// or only `tx_wait` while the port's TX queue refuses frames.
    #[inline(never)]
    fn send_handed_off(&self, build: impl Build<I, S>, deadline: Option<Deadline>) -> Result<(), SendError> {
        let _in = InFlight::enter(self)?;
        let mut buf = self.io.alloc().ok_or(SendError::NoMbuf)?;
        let port = S::with_guest(|scratch| build.build(scratch, &mut buf))?;
        // Counted before the push: once pushed, the frame may be transmitted at once.
        self.guests.accepted.fetch_add(1, Ordering::Relaxed);
        // The deadlines start at the first push that finds the queue full (`deadline`: the
        // holder deadline, unless the caller's started earlier): a push that succeeds reads no
        // clock.
        let (mut deadline, mut refusing) = (deadline, None);
        let mut backoff = Backoff::new();
        let queue = &self.handoff[port];
        let mut item = buf;
        loop {
            match queue.push(item) {
                Ok(()) => break,
                Err(back) => item = back,
            }
            // Full. The owner empties it on its next call, or the flusher within the flush
            // interval if the owner went idle: wait for room. (Taking over here would make an
            // active owner wait for us, and for as long as we are preempted.)
            self.signal.notify();
            let stalled = self.published.ports[port].refusing.load(Ordering::Relaxed);
            let deadline = deadline.get_or_insert_with(|| self.params.holder_deadline());
            let refusing = refusing.get_or_insert_with(|| Deadline::after(self.params.tx_wait));
            let refused = if self.tx.is_closed() {
                Some(SendError::NotInitialized)
            } else if deadline.expired() || (stalled && refusing.expired()) {
                self.guests.tx_busy.fetch_add(1, Ordering::Relaxed);
                Some(SendError::TxBusy)
            } else {
                None
            };
            if let Some(e) = refused {
                self.guests.accepted.fetch_sub(1, Ordering::Relaxed);
                return Err(e);
            }
            backoff.wait();
        }
        // Release pairs with the Acquire loads of the owner and the flusher: they see the push.
        self.handed_off.fetch_add(1, Ordering::Release);
        self.signal.notify();
        Ok(())
    }

    /// Pushes everything staged or handed over to the TX queues now, retrying refusing queues
    /// until `deadline`, and gives the spare buffers back to the pool.
    pub(crate) fn flush(
        &self,
        me: impl FnOnce() -> &'static ThreadRec,
        deadline: &Deadline,
    ) -> Result<FlushOutcome, SendError> {
        // The owner enters; anyone else takes the context over, never claiming it: a flush
        // changes no ownership (a thread flushing its core would otherwise own, and so
        // keep from guests, every free lane; see `runtime`).
        let me = me();
        let entry = if self.tx.is_owner(me) {
            self.tx.enter(me)
        } else {
            Entry::Elsewhere
        };
        match entry {
            Entry::Owner(mut st) => Ok(self.flush_all(&mut st, deadline)),
            Entry::Closed => Err(SendError::NotInitialized),
            Entry::Reentered => Err(SendError::Reentered),
            Entry::Taken(_) | Entry::Elsewhere => {
                let _in = InFlight::enter(self)?;
                match self.tx.take(deadline) {
                    Ok(mut st) => Ok(self.flush_all(&mut st, deadline)),
                    Err(TakeError::Busy) => Err(SendError::TxBusy),
                    Err(TakeError::Closed) => Err(SendError::NotInitialized),
                }
            }
        }
    }

    fn flush_all(&self, st: &mut TxState<I, S>, deadline: &Deadline) -> FlushOutcome {
        st.spare.clear();
        self.published.spares.store(0, Ordering::Relaxed);
        let mut total = 0;
        let mut backoff = Backoff::new();
        loop {
            let o = self.drain_and_burst(st);
            total += o.transmitted;
            if o.left == 0 || deadline.expired() {
                return FlushOutcome {
                    transmitted: total,
                    left: o.left,
                };
            }
            backoff.wait();
        }
    }

    /// The flusher's look at this context (`now` from `clock::now_ns`): sends what is due,
    /// and says when to look again.
    pub(crate) fn visit(&self, now: u64, memo: &mut VisitMemo) -> Visit {
        let flush_after = self.params.flush_after().as_nanos() as u64;
        memo.ports.resize(self.published.ports.len(), PortMemo::default());
        // In the order that makes them consistent (see `Published`).
        let handed = self.handed_off.load(Ordering::Acquire);
        let any_handoffs = handed > self.published.drained.load(Ordering::Acquire);
        // When each port's pending work becomes due: its batch start plus the interval, and when
        // its hand-offs were first seen not collected plus the interval; or its next retry.
        let mut due: Option<u64> = None;
        let mut retry_due: Option<u64> = None;
        let earliest = |a: Option<u64>, b: u64| Some(a.map_or(b, |a| a.min(b)));
        let ports = self.published.ports.iter().zip(self.handoff.iter());
        for ((p, queue), m) in ports.zip(memo.ports.iter_mut()) {
            let drained = p.drained.load(Ordering::Acquire);
            let staged = p.staged.load(Ordering::Acquire);
            let handoffs = any_handoffs && !queue.is_empty();
            if !handoffs {
                m.handoffs_seen = None;
            }
            if staged == 0 && !handoffs {
                m.retry = None;
                m.batch_seen = None;
                continue;
            }
            if let Some((_, at)) = m.retry {
                retry_due = earliest(retry_due, at);
                continue;
            }
            if staged > 0 {
                // A batch behind one the owner sent itself (an active owner) is looked at after
                // half the interval; others (a first batch, one the owner left) after a quarter.
                let start = p.batch_start.load(Ordering::Relaxed);
                let active = m.batch_seen.is_some_and(|seen| seen != start);
                let after = if active { 2 * flush_after } else { flush_after };
                m.batch_seen = Some(start);
                due = earliest(due, start.saturating_add(after));
            } else {
                m.batch_seen = None;
            }
            if handoffs {
                let since = match m.handoffs_seen {
                    Some((d, since)) if d == drained => since,
                    _ => now,
                };
                m.handoffs_seen = Some((drained, since));
                due = earliest(due, since.saturating_add(flush_after));
            }
        }
        let next = match (due, retry_due) {
            (None, None) => return Visit::Idle,
            (Some(d), None) => Visit::At(d),
            (None, Some(r)) => Visit::Retry(r),
            (Some(d), Some(r)) if d <= r => Visit::At(d),
            (Some(_), Some(r)) => Visit::Retry(r),
        };
        if let Visit::At(t) | Visit::Retry(t) = next {
            if now < t {
                return next;
            }
        }
        // Due. Take over, unless the owner is inside: it is active then, and likely to send the
        // batch itself; look again one interval later (sooner would keep the flusher busy on
        // the CPU the owner needs).
        let Ok(mut st) = self.tx.take(&Deadline::now()) else {
            return Visit::At(now.saturating_add(flush_after));
        };
        let progress = (self.published.accepted.load(Ordering::Relaxed), handed);
        if progress.0 == memo.progress.0 && progress.1 != memo.progress.1 {
            // The owner accepted nothing since the last take-over while others kept handing
            // frames over: it stopped calling. The next caller claims the context.
            st.evict_owner();
        }
        memo.progress = progress;
        self.drain_and_burst(&mut st);
        // A port that still has frames staged refuses them: retry it later, doubling the
        // interval up to MAX_RETRY_INTERVAL; the others are looked at as usual.
        let mut next = Visit::Idle;
        for (p, m) in st.ports.iter().zip(memo.ports.iter_mut()) {
            m.handoffs_seen = None;
            if p.staged.is_empty() {
                m.retry = None;
                continue;
            }
            let interval = m.retry.map_or(self.params.flush_after(), |(i, _)| {
                (i * 2).min(MAX_RETRY_INTERVAL)
            });
            let at = now.saturating_add(interval.as_nanos() as u64);
            m.retry = Some((interval, at));
            next = match next {
                Visit::Retry(t) => Visit::Retry(t.min(at)),
                _ => Visit::Retry(at),
            };
        }
        next
    }

    /// Closes the context for good and sends everything accepted: shuts new calls out, waits
    /// until `deadline` for the calls inside, sends what is staged or handed over (retrying a
    /// refusing TX queue until `deadline`), then frees what is left and the spare buffers.
    pub(crate) fn close(&self, deadline: &Deadline) -> CloseOutcome {
        self.tx.mark_closed();
        // Pairs with the light barrier in `InFlight::enter`: a guest either sees CLOSED or is
        // counted.
        heavy_barrier();
        let mut backoff = Backoff::new();
        while self.guests.in_flight.load(Ordering::Acquire) != 0 {
            if deadline.expired() {
                return CloseOutcome {
                    dropped: 0,
                    complete: false,
                };
            }
            backoff.wait();
        }
        let Ok(mut st) = self.tx.close(deadline) else {
            return CloseOutcome {
                dropped: 0,
                complete: false,
            };
        };
        let o = self.flush_all(&mut st, deadline);
        let mut dropped = 0;
        for p in st.ports.iter_mut() {
            dropped += p.staged.len() as u64;
            p.staged.clear();
        }
        for q in self.handoff.iter() {
            while q.pop().is_some() {
                dropped += 1;
            }
        }
        bump(&self.published.dropped_at_shutdown, dropped);
        for p in self.published.ports.iter() {
            p.staged.store(0, Ordering::Release);
        }
        debug_assert!(o.left as u64 <= dropped);
        CloseOutcome {
            dropped,
            complete: true,
        }
    }

    /// Shuts everyone out for good, without waiting (a forked child: nothing may be sent).
    pub(crate) fn mark_closed(&self) {
        self.tx.mark_closed();
    }

    /// The owner's thread is exiting: send what it staged (one burst per port) and give the
    /// context up, so that the next caller claims it.
    pub(crate) fn owner_leaving(&self, me: &'static ThreadRec) {
        if !self.tx.is_owner(me) {
            return;
        }
        /// Gives the context up whatever happens before (a panic in the burst included).
        struct Release<'a, I: PacketIo, S>(&'a CoreContext<I, S>, &'static ThreadRec);
        impl<I: PacketIo, S> Drop for Release<'_, I, S> {
            fn drop(&mut self) {
                // Whatever is left (a taker was inside, or a TX queue refused) is the flusher's.
                self.0.tx.release(self.1);
                self.0.signal.notify();
            }
        }
        let _release = Release(self, me);
        if let Entry::Owner(mut st) = self.tx.enter(me) {
            self.drain_and_burst(&mut st);
        }
    }

    /// Whether the calling thread owns the context (cheap: no thread-local lookup).
    #[inline(always)]
    pub(crate) fn owned_by_caller(&self) -> bool {
        self.tx.owned_by_caller()
    }

    /// Where `me`, calling this context, should send (`runtime::Runtime::sender` decides it once
    /// per thread): `None` when `me` owns the context, claiming it now if nobody does (its
    /// owner's path: nothing to decide); else the index of the first of `lanes` that `me` owns
    /// or claims now, or `Some(None)` when every lane is taken (`me` hands over to this
    /// context). Claims as `enter`'s, without entering. A thread gives up what it owns at exit,
    /// through [`CoreContext::owner_leaving`].
    pub(crate) fn choose_lane(&self, lanes: &[Self], me: &'static ThreadRec) -> Option<Option<usize>> {
        // Claiming the context first: two threads calling a context nobody owns yet decide
        // at once, one its owner, the other a lane (else the other's first frame would be
        // handed over, and its next ones sent on a lane, possibly before it).
        if self.tx.claim(me) {
            return None;
        }
        Some(lanes.iter().position(|lane| lane.tx.claim(me)))
    }

    /// Runs `f` as a call of this context that shutdown waits for (`close` does not complete
    /// while it runs), or fails when the context is closed.
    pub(crate) fn while_open<R>(&self, f: impl FnOnce() -> R) -> Result<R, SendError> {
        let _in = InFlight::enter(self)?;
        Ok(f())
    }

    /// Counts a call that returned -1 for this context.
    #[cold]
    #[inline(never)]
    pub(crate) fn note_rejected(&self, e: SendError) {
        self.guests.rejected.fetch_add(1, Ordering::Relaxed);
        if e == SendError::NoMbuf {
            self.guests.no_mbuf.fetch_add(1, Ordering::Relaxed);
        }
        let errno = e.errno();
        if let Some(i) = REJECT_ERRNOS.iter().position(|&(n, _)| n == errno) {
            self.rare.rejected_by[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts frames a reset (`reset`) or raw call put on a TX queue.
    #[cold]
    pub(crate) fn note_segments(&self, reset: bool, frames: usize) {
        let c = if reset {
            &self.rare.resets
        } else {
            &self.rare.raw_frames
        };
        c.fetch_add(frames as u64, Ordering::Relaxed);
    }

    /// Everything this context counted.
    pub(crate) fn counters(&self) -> Counters {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            stats: self.stats(),
            rejected_by: std::array::from_fn(|i| get(&self.rare.rejected_by[i])),
            resets: get(&self.rare.resets),
            raw_frames: get(&self.rare.raw_frames) + get(&self.published.raw_frames),
        }
    }

    /// How many free buffers this context keeps at hand.
    pub(crate) fn spare_buffers(&self) -> usize {
        self.published.spares.load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> mtcp_sendpkt_stats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let accepted = get(&self.published.accepted) + get(&self.guests.accepted);
        let transmitted = get(&self.published.transmitted);
        let dropped_at_shutdown = get(&self.published.dropped_at_shutdown);
        mtcp_sendpkt_stats {
            accepted,
            transmitted,
            pending: accepted.saturating_sub(transmitted + dropped_at_shutdown),
            rejected: get(&self.guests.rejected),
            no_mbuf: get(&self.guests.no_mbuf),
            tx_busy: get(&self.guests.tx_busy),
            dropped_at_shutdown,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A pool of numbered buffers and queues that take up to `room` frames, for unit tests.
    struct Fake;
    impl PacketIo for Fake {
        type Buf = u32;
        type Queue = (usize, Vec<u32>);
        fn alloc(&self) -> Option<u32> {
            Some(0)
        }
        fn alloc_bulk(&self, out: &mut Vec<u32>, n: usize) -> bool {
            out.extend(std::iter::repeat_n(0, n));
            true
        }
        fn burst(q: &mut (usize, Vec<u32>), bufs: &mut Vec<u32>) -> usize {
            let n = bufs.len().min(q.0.saturating_sub(q.1.len()));
            q.1.extend(bufs.drain(..n));
            n
        }
    }

    fn ctx(burst: usize, room: usize) -> CoreContext<Fake> {
        ctx_fenced(burst, room, true)
    }

    /// Unit tests register no membarrier: a context is FENCED unless `fenced` is false (then
    /// only single-threaded use is sound).
    fn ctx_fenced(burst: usize, room: usize, fenced: bool) -> CoreContext<Fake> {
        let params = TxParams {
            burst,
            tx_wait: Duration::ZERO,
            flush_interval: Duration::from_secs(1),
        };
        let queues = vec![(room, Vec::new()), (room, Vec::new())];
        CoreContext::with_fence(Fake, queues, params, Arc::default(), fenced)
    }

    /// The frames port `port`'s TX queue took, in order.
    fn sent(c: &CoreContext<Fake>, port: usize) -> Vec<u32> {
        let st =
            c.tx.take(&Deadline::after(Duration::from_millis(10)))
                .expect("nobody inside");
        st.ports[port].queue.1.clone()
    }

    /// The quick path's numbered frame, for a port.
    struct Quickly(usize, u32);

    // SAFETY: the buffer returned is the one `take(self.0)` gave, for port self.0.
    unsafe impl QuickBuild<Fake, ()> for Quickly {
        fn try_build(self, _: &mut (), take: impl FnOnce(usize) -> Option<u32>) -> Option<(usize, u32)> {
            // A buffer here is a number: the spare taken becomes frame self.1.
            take(self.0).map(|_spare| (self.0, self.1))
        }
    }

    /// A call as `mtcp_sendpkt` makes it: what the quick path did, or the full path's result.
    fn call(
        c: &CoreContext<Fake>,
        t: &'static ThreadRec,
        port: usize,
        n: u32,
    ) -> Result<&'static str, SendError> {
        match c.try_send_quick(|r| std::ptr::eq(r, t), Quickly(port, n)) {
            Quick::Staged => Ok("staged"),
            Quick::Finish(f) => {
                f.finish();
                Ok("finished")
            }
            Quick::Declined => c.send(|| t, on(port, n)).map(|()| "full path"),
        }
    }

    /// A frame builder that numbers the frame, for port 0.
    fn id(n: u32) -> impl FnOnce(&mut (), &mut u32) -> Result<usize, SendError> {
        on(0, n)
    }

    /// A frame builder that numbers the frame, for `port`.
    fn on(port: usize, n: u32) -> impl FnOnce(&mut (), &mut u32) -> Result<usize, SendError> {
        move |_, b| {
            *b = n;
            Ok(port)
        }
    }

    fn me() -> &'static ThreadRec {
        Box::leak(Box::new(ThreadRec::new()))
    }

    #[test]
    fn staging_limit_is_64_or_twice_the_burst() {
        assert_eq!(ctx(32, 0).staging_limit, 64);
        assert_eq!(ctx(100, 0).staging_limit, 200);
    }

    #[test]
    fn the_owner_bursts_at_the_burst_size_and_a_stalled_port_stops_at_its_limit() {
        let c = ctx(4, 6);
        let t = me();
        c.send(|| t, on(0, 0)).unwrap();
        assert_eq!(
            c.stats().transmitted,
            1,
            "the first frame after a quiet spell goes at once"
        );
        for i in 1..4u32 {
            c.send(|| t, on(0, i)).unwrap();
        }
        assert_eq!(
            (c.stats().accepted, c.stats().transmitted),
            (4, 1),
            "the next ones are staged"
        );
        c.send(|| t, on(0, 4)).unwrap();
        assert_eq!(c.stats().transmitted, 5, "one burst of 4");
        // The queue holds 6: one more goes out, then staging fills to its limit of 64, then EAGAIN.
        let mut ok = 0;
        while c.send(|| t, on(0, 9)).is_ok() {
            ok += 1;
        }
        assert_eq!(ok, 1 + 64);
        let s = c.stats();
        assert_eq!((s.transmitted, s.pending, s.tx_busy), (6, 64, 1));
        // The other port is not blocked by the stalled one.
        c.send(|| t, on(1, 1)).unwrap();
    }

    /// The quick path stages the owner's frames as the full path would (bursts of `burst`, in
    /// order, spares taken again when they run out) and declines everything else: no owner yet,
    /// another thread, a port out of range, hand-offs to collect, a full staging, a closed
    /// context, and any FENCED context (the full path has the fence).
    #[test]
    fn the_quick_path_stages_as_the_full_path_and_declines_the_rest() {
        for fenced in [false, true] {
            let c = ctx_fenced(4, 1000, fenced);
            let (t, other) = (me(), me());
            let mut want = vec![0];
            assert_eq!(call(&c, t, 0, 0), Ok("full path"), "nobody owns the context yet");
            if fenced {
                assert_eq!(call(&c, t, 0, 1), Ok("full path"), "FENCED");
                continue;
            }
            // A batch starts (Finish stamps it), two join it, the fourth sends it.
            assert_eq!(call(&c, t, 0, 1), Ok("finished"));
            assert_eq!(call(&c, t, 0, 2), Ok("staged"));
            assert_eq!(call(&c, t, 0, 3), Ok("staged"));
            assert_eq!(call(&c, t, 0, 4), Ok("finished"));
            want.extend(1..=4);
            assert_eq!(sent(&c, 0), want, "one burst of four, in order");
            assert_eq!(
                call(&c, other, 0, 5),
                Ok("full path"),
                "another thread hands over"
            );
            assert_eq!(
                call(&c, t, 0, 6),
                Ok("full path"),
                "the owner collects the hand-off first"
            );
            assert_eq!(call(&c, t, 2, 7), Err(SendError::Internal), "no port 2");
            // Past the first spares (32): Finish took more, and the quick path goes on.
            let quick = (8..48)
                .map(|n| call(&c, t, 0, n).unwrap())
                .filter(|&r| r != "full path")
                .count();
            assert_eq!(quick, 40);
            want.extend([5, 6]);
            want.extend(8..48);
            assert_eq!(c.flush(|| t, &Deadline::now()).unwrap().left, 0);
            assert_eq!(sent(&c, 0), want);
            let st = c.stats();
            assert_eq!((st.accepted, st.transmitted, st.pending), (47, 47, 0));
            assert!(c.close(&Deadline::now()).complete);
            assert_eq!(call(&c, t, 0, 99), Err(SendError::NotInitialized), "closed");
        }
        // A port whose queue takes nothing: staging fills to its limit (64), then the quick path
        // declines and the full path says EAGAIN; the other port goes on.
        let c = ctx_fenced(4, 0, false);
        let t = me();
        let ok = (0..100).take_while(|&n| call(&c, t, 0, n).is_ok()).count();
        assert_eq!(ok, 64);
        assert_eq!(call(&c, t, 0, 100), Err(SendError::TxBusy));
        assert_eq!(call(&c, t, 1, 101), Ok("finished"), "a batch starts on port 1");
        assert_eq!(call(&c, t, 1, 102), Ok("staged"));
    }

    /// A Finish dropped unfinished publishes the frame it staged (the flusher can see it) and
    /// the owner leaves (a taker gets in); the frame is sent.
    #[test]
    fn a_finish_dropped_unfinished_publishes_and_leaves() {
        let c = ctx_fenced(4, 1000, false);
        let t = me();
        c.send(|| t, on(0, 0)).unwrap();
        let Quick::Finish(f) = c.try_send_quick(|r| std::ptr::eq(r, t), Quickly(0, 1)) else {
            panic!("a batch starts: Finish")
        };
        drop(f);
        assert_eq!(c.published.ports[0].staged.load(Ordering::Relaxed), 1);
        assert_eq!(sent(&c, 0), [0], "a taker gets in");
        assert_eq!(c.flush(|| t, &Deadline::now()).unwrap().left, 0);
        assert_eq!(sent(&c, 0), [0, 1]);
    }

    #[test]
    fn a_second_thread_hands_over_and_the_owner_collects() {
        let c = ctx(1, 100);
        let (owner, guest) = (me(), me());
        c.send(|| owner, on(0, 1)).unwrap();
        c.send(|| guest, on(0, 2)).unwrap();
        assert_eq!(c.stats().transmitted, 1, "handed over, not sent yet");
        c.send(|| owner, on(0, 3)).unwrap();
        let st = c.stats();
        assert_eq!((st.accepted, st.transmitted, st.pending), (3, 3, 0));
    }

    #[test]
    fn close_sends_everything_and_refuses_afterwards() {
        let c = ctx(32, 100);
        let (owner, guest) = (me(), me());
        c.send(|| owner, on(0, 1)).unwrap();
        c.send(|| guest, on(1, 2)).unwrap();
        let o = c.close(&Deadline::after(Duration::from_millis(10)));
        assert_eq!(
            o,
            CloseOutcome {
                dropped: 0,
                complete: true
            }
        );
        assert_eq!(c.stats().transmitted, 2);
        assert_eq!(c.send(|| owner, id(7)), Err(SendError::NotInitialized));
        assert_eq!(c.send(|| guest, id(8)), Err(SendError::NotInitialized));
    }
}
