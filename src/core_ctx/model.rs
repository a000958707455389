//! The loom model of the TX protocol (`make loom`: `RUSTFLAGS="--cfg loom" cargo test --release
//! --lib model`). Loom runs each scenario under every interleaving (up to a preemption bound) and
//! every outcome the C++ memory model allows for the atomics; the membarrier pair is modelled as
//! two `SeqCst` fences (`sync`). The real `CoreContext`, `Exclusive` and `Flusher` code runs
//! against a fake packet I/O that records what reached the "wire". Every call is made as
//! `mtcp_sendpkt` makes it: the owner's quick path (`try_send_quick`, then its `Finish` when it
//! asks) first, the full path when the quick one declines.
//!
//! Checked in every execution:
//! - exclusive access (loom's cell tracking fails on any overlapping access to the TX state);
//! - no frame sent twice, none lost: every call that returned `Ok` has its frame on the wire once
//!   everything settled, and only those;
//! - no frame stranded: if the flusher dozed and nobody woke it, nothing is pending;
//! - no buffer leaked, and none touched after a complete `close` (the "pool" is then released);
//! - no wait without a deadline (a deadline is a budget of checks here: a wait that ignored it
//!   would never end, and loom would report the execution as not terminating).
//!
//! The negative control skips the owner's barrier and must make loom find a race.

use std::sync::atomic::{AtomicBool as StdBool, AtomicUsize as StdUsize, Ordering as Std};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use super::*;
use crate::exclusive::{Entry, Exclusive, ThreadRec};
use crate::flusher::{FlushSignal, Flusher, Step};
use crate::sync::Deadline;

/// What reached the wire, and the fake pool's bookkeeping. Plain std atomics: they are not part
/// of the protocol under test, only the observer's record (loom runs one thread at a time, so
/// they read in schedule order).
#[derive(Default)]
struct Wire {
    sent: StdMutex<Vec<u32>>,
    live: StdUsize,
    released: StdBool,
}

impl Wire {
    fn check_alive(&self) {
        assert!(
            !self.released.load(Std::SeqCst),
            "the pool was used after a complete close"
        );
    }
}

struct Frame {
    id: u32,
    wire: Arc<Wire>,
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.wire.check_alive();
        self.wire.live.fetch_sub(1, Std::SeqCst);
    }
}

struct FakeQueue {
    wire: Arc<Wire>,
    /// How many frames it takes per burst.
    room: usize,
}

struct FakeIo {
    wire: Arc<Wire>,
}

impl PacketIo for FakeIo {
    type Buf = Frame;
    type Queue = FakeQueue;

    fn alloc(&self) -> Option<Frame> {
        self.wire.check_alive();
        self.wire.live.fetch_add(1, Std::SeqCst);
        Some(Frame {
            id: 0,
            wire: self.wire.clone(),
        })
    }

    fn alloc_bulk(&self, out: &mut Vec<Frame>, n: usize) -> bool {
        for _ in 0..n {
            out.push(self.alloc().expect("unlimited"));
        }
        true
    }

    fn burst(q: &mut FakeQueue, bufs: &mut Vec<Frame>) -> usize {
        q.wire.check_alive();
        let n = bufs.len().min(q.room);
        for f in bufs.drain(..n) {
            q.wire.sent.lock().unwrap().push(f.id);
        }
        n
    }
}

/// The quick path's frame: numbered, on port 0.
struct QuickFrame(u32);

// SAFETY: the frame returned is the one `take(0)` gave, for port 0.
unsafe impl QuickBuild<FakeIo, ()> for QuickFrame {
    fn try_build(self, _: &mut (), take: impl FnOnce(usize) -> Option<Frame>) -> Option<(usize, Frame)> {
        let mut f = take(0)?;
        f.id = self.0;
        Some((0, f))
    }
}

/// A burst's packet: one the owner's quick path builds (any other caller builds it as the
/// full path does), one only the full path builds, one whose build fails, one refused before.
enum Pkt {
    Quick(u32),
    Full(u32),
    BuildFails,
    Refused(SendError),
}

// SAFETY: the frame returned is the one `take(0)` gave, for port 0.
unsafe impl BurstItem<FakeIo, ()> for Pkt {
    fn try_quick(&self, _: &mut (), take: impl FnOnce(usize) -> Option<Frame>) -> Option<(usize, Frame)> {
        let Pkt::Quick(id) = *self else {
            return None;
        };
        let mut f = take(0)?;
        f.id = id;
        Some((0, f))
    }

    fn full(self) -> Result<impl Build<FakeIo, ()>, SendError> {
        let id = match self {
            Pkt::Quick(id) | Pkt::Full(id) => Some(id),
            Pkt::BuildFails => None,
            Pkt::Refused(e) => return Err(e),
        };
        Ok(move |_: &mut (), f: &mut Frame| {
            f.id = id.ok_or(SendError::NoRoute)?;
            Ok(0)
        })
    }
}

struct Setup {
    wire: Arc<Wire>,
    signal: Arc<FlushSignal>,
    ctxs: Arc<Vec<CoreContext<FakeIo>>>,
}

impl Setup {
    /// One context with one port whose queue takes `room` frames per burst.
    fn new(burst: usize, room: usize) -> Self {
        Self::with_contexts(1, burst, room)
    }

    /// `n` contexts (a core context and its lanes), each with one port on the same wire.
    fn with_contexts(n: usize, burst: usize, room: usize) -> Self {
        let wire = Arc::new(Wire::default());
        let signal = Arc::new(FlushSignal::default());
        let params = TxParams {
            burst,
            tx_wait: Duration::from_micros(1),
            flush_interval: Duration::from_micros(2),
        };
        let ctxs = (0..n)
            .map(|_| {
                let queue = FakeQueue {
                    wire: wire.clone(),
                    room,
                };
                CoreContext::new(FakeIo { wire: wire.clone() }, vec![queue], params, signal.clone())
            })
            .collect();
        Setup {
            wire,
            signal,
            ctxs: Arc::new(ctxs),
        }
    }

    fn ctx(&self) -> &CoreContext<FakeIo> {
        &self.ctxs[0]
    }

    /// A call as `mtcp_sendpkt` makes it, from the thread `me` is bound to: the owner's quick
    /// path first (which knows the owner by the thread's id, as outside the model), the full
    /// path if that declines.
    fn send(&self, me: &'static ThreadRec, id: u32) -> Result<(), SendError> {
        self.send_on(0, me, id)
    }

    /// [`Setup::send`] on context `k`.
    fn send_on(&self, k: usize, me: &'static ThreadRec, id: u32) -> Result<(), SendError> {
        let ctx = &self.ctxs[k];
        // A record of a scenario that models identity is known by its thread's id; the others
        // are passed explicitly (see `ThreadRec::with_identity`).
        let is_me = |r: &ThreadRec| r.is_callers() || std::ptr::eq(r, me);
        match ctx.try_send_quick(is_me, QuickFrame(id)) {
            Quick::Staged => return Ok(()),
            Quick::Finish(f) => {
                f.finish();
                return Ok(());
            }
            Quick::Declined => {}
        }
        ctx.send(
            || me,
            |_: &mut (), f: &mut Frame| {
                f.id = id;
                Ok(0)
            },
        )
    }

    /// Runs `f` on a new model thread with a clone of this set-up.
    fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Setup) -> T + Send + 'static,
    ) -> loom::thread::JoinHandle<T> {
        let s = Setup {
            wire: self.wire.clone(),
            signal: self.signal.clone(),
            ctxs: self.ctxs.clone(),
        };
        loom::thread::spawn(move || f(&s))
    }

    /// The flusher's step with everything due.
    fn flusher_step(&self) -> Step {
        Flusher::new([&self.ctxs, &[]], &self.signal).step(u64::MAX)
    }

    fn sent(&self) -> Vec<u32> {
        self.wire.sent.lock().unwrap().clone()
    }

    fn pending(&self) -> u64 {
        self.ctxs.iter().map(|c| c.stats().pending).sum()
    }

    /// Everything settled: the frames of exactly the calls that returned Ok are on the wire,
    /// once each.
    fn assert_sent_exactly(&self, ok_ids: &[u32]) {
        let mut sent = self.sent();
        sent.sort_unstable();
        let mut want = ok_ids.to_vec();
        want.sort_unstable();
        assert_eq!(sent, want, "frames on the wire vs calls that returned Ok");
    }

    /// After calls that cannot be refused (`results`) and a flusher step that ended as `step`:
    /// every call returned Ok; if the flusher dozes and nobody woke it, nothing is pending (no
    /// frame stranded); the flusher's next step sends the rest, each frame once; no leak.
    fn assert_none_stranded_then_settled(&self, results: &[(u32, Result<(), SendError>)], step: Step) {
        assert!(
            results.iter().all(|(_, r)| r.is_ok()),
            "nothing refuses here: {results:?}"
        );
        if step == Step::Doze(None) && !self.signal.woken.load(crate::sync::Ordering::SeqCst) {
            assert_eq!(
                self.pending(),
                0,
                "a frame is stranded: the flusher dozes and nobody woke it"
            );
        }
        // The flusher is awake (or was woken): its next step sends the rest.
        self.flusher_step();
        assert_eq!(self.pending(), 0, "the flusher's step left work");
        self.assert_sent_exactly(&ok_ids(results));
        self.close_and_assert_no_leak();
    }

    /// Closes (must complete now that every thread is done) and checks that no buffer is left.
    fn close_and_assert_no_leak(&self) {
        for ctx in self.ctxs.iter() {
            let o = ctx.close(&Deadline::after(Duration::from_micros(1)));
            assert!(o.complete, "nobody is inside any more");
        }
        assert_eq!(self.wire.live.load(Std::SeqCst), 0, "buffers leaked");
    }
}

fn rec() -> &'static ThreadRec {
    Box::leak(Box::new(ThreadRec::new()))
}

/// A record whose identity the model checks: found by the thread's id, as outside the model.
fn rec_with_identity() -> &'static ThreadRec {
    Box::leak(Box::new(ThreadRec::with_identity()))
}

/// `r`, bound to the calling model thread (as `runtime` binds a thread's record on its first
/// call): the thread the record stands for. A no-op for a record whose identity the model does
/// not check (see [`rec_with_identity`]).
fn mine(r: &'static ThreadRec) -> &'static ThreadRec {
    r.bind(true);
    r
}

/// Runs `f` under loom (preemption bound 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise) and
/// prints how many executions it explored.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    let runs = Arc::new(StdUsize::new(0));
    let counted = runs.clone();
    let started = std::time::Instant::now();
    b.check(move || {
        counted.fetch_add(1, Std::Relaxed);
        f()
    });
    println!(
        "loom: {} executions in {:.1} s (preemption bound {:?})",
        runs.load(Std::Relaxed),
        started.elapsed().as_secs_f64(),
        b.preemption_bound
    );
}

fn ok_ids(results: &[(u32, Result<(), SendError>)]) -> Vec<u32> {
    results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| *id)
        .collect()
}

/// Invariant 1 of `exclusive` on its own: an owner entering, a taker that evicts it, and a third
/// thread that then claims: never two inside at once (the cell tracking checks it), and every
/// increment made inside survives.
#[test]
fn exclusive_owner_taker_and_claimant() {
    owner_taker_and_claimant(false);
}

/// The same where the kernel refused membarrier: the context is FENCED and the owner's only
/// barrier is the full fence of its slow path (the light barrier of the fast path skipped).
#[test]
fn exclusive_without_membarrier_owner_taker_and_claimant() {
    owner_taker_and_claimant(true);
}

fn owner_taker_and_claimant(fenced: bool) {
    model(move || {
        let mut ex = Exclusive::with_fence(0u32, fenced);
        ex.skip_light_barrier = fenced;
        let ex: Arc<Exclusive<u32>> = Arc::new(ex);
        let (owner, other) = (rec(), rec());
        if let Entry::Owner(mut g) = ex.enter(owner) {
            *g += 1;
        }
        let e = ex.clone();
        let a = loom::thread::spawn(move || match e.enter(owner) {
            Entry::Owner(mut g) => {
                *g += 1;
                1
            }
            _ => 0,
        });
        let e = ex.clone();
        let t = loom::thread::spawn(move || match e.take(&Deadline::after(Duration::from_micros(1))) {
            Ok(mut g) => {
                *g += 1;
                g.evict_owner();
                1
            }
            Err(_) => 0,
        });
        let e = ex.clone();
        let c = loom::thread::spawn(move || match e.enter(other) {
            Entry::Owner(mut g) => {
                *g += 1;
                1
            }
            _ => 0,
        });
        let inside = 1 + a.join().unwrap() + t.join().unwrap() + c.join().unwrap();
        let Ok(g) = ex.take(&Deadline::now()) else {
            panic!("everyone left")
        };
        assert_eq!(*g, inside, "an increment made inside was lost");
    });
}

/// The negative control: without the owner's barrier, loom finds the owner and a taker inside
/// at once. Proves the model can fail, and that the barrier is what makes the protocol work.
#[test]
fn without_the_owners_barrier_loom_finds_a_race() {
    let found = std::panic::catch_unwind(|| {
        model(|| {
            let mut ex = Exclusive::with_fence(0u32, false);
            ex.skip_light_barrier = true;
            let ex = Arc::new(ex);
            let owner = rec();
            if let Entry::Owner(mut g) = ex.enter(owner) {
                *g += 1;
            }
            let e = ex.clone();
            let a = loom::thread::spawn(move || {
                if let Entry::Owner(mut g) = e.enter(owner) {
                    *g += 1;
                }
            });
            if let Ok(mut g) = ex.take(&Deadline::after(Duration::from_micros(1))) {
                *g += 1;
            }
            a.join().unwrap();
        })
    });
    let why = found.expect_err("loom should have found overlapping access without the barrier");
    let why = why
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| why.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(
        why.contains("Causality violation"),
        "failed for another reason: {why}"
    );
}

/// An owner with a staged frame sends again while a guest hands a frame over and the flusher
/// runs one step: nothing lost, nothing twice, nothing stranded, no leak.
#[test]
fn owner_guest_and_flusher() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let (owner, guest) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| (2, s.send(mine(owner), 2)));
        let b = s.spawn(move |s| (3, s.send(mine(guest), 3)));
        let f = s.spawn(|s| s.flusher_step());
        let results = [(1, Ok(())), a.join().unwrap(), b.join().unwrap()];
        let step = f.join().unwrap();
        s.assert_none_stranded_then_settled(&results, step);
    });
}

/// A burst (`send_burst`, `mtcp_sendpkt_burst`): the owner inside once for four packets, the
/// first staged by the quick path's build (filling the batch: sent at once), the second's build
/// failing, the third refused before any build, each time the next still tried, the fourth
/// staged by the quick path's build again, alone (it must be published for the flusher);
/// beside a guest and the flusher. The burst's accepted frames and the guest's are on the wire once each, the
/// refused ones never; nothing stranded; no leak.
#[test]
fn owner_burst_guest_and_flusher() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let (owner, guest) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| {
            let me = mine(owner);
            let frames = [
                Pkt::Quick(2),
                Pkt::BuildFails,
                Pkt::Refused(SendError::BadSocket),
                Pkt::Quick(4),
            ];
            let mut refused = Vec::new();
            let accepted = s.ctx().send_burst(
                || me,
                frames,
                |e| {
                    refused.push(e);
                    true
                },
            );
            (accepted, refused)
        });
        let b = s.spawn(move |s| (10, s.send(mine(guest), 10)));
        let f = s.spawn(|s| s.flusher_step());
        assert_eq!(
            a.join().unwrap(),
            (2, vec![SendError::NoRoute, SendError::BadSocket])
        );
        let results = [(1, Ok(())), (2, Ok(())), (4, Ok(())), b.join().unwrap()];
        let step = f.join().unwrap();
        s.assert_none_stranded_then_settled(&results, step);
    });
}

/// Shutdown (`close`) racing an owner's burst of three frames (the first and last staged by the quick
/// path's build): the burst stops at the close (its further frames refused as after shutdown);
/// every frame it accepted is on the wire once close completes, no other; nothing leaks; nobody
/// touches the pool after a complete close.
#[test]
fn close_stops_an_owners_burst() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let owner = rec();
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| {
            let me = mine(owner);
            let frames = [Pkt::Quick(2), Pkt::Full(3), Pkt::Quick(4)];
            let mut refused = Vec::new();
            let accepted = s.ctx().send_burst(
                || me,
                frames,
                |e| {
                    refused.push(e);
                    false
                },
            );
            (accepted, refused)
        });
        let c = s.spawn(|s| {
            let o = s.ctx().close(&Deadline::after(Duration::from_micros(1)));
            if o.complete {
                s.wire.released.store(true, Std::SeqCst);
            }
            o
        });
        let (accepted, refused) = a.join().unwrap();
        let first = c.join().unwrap();
        assert!(
            refused.iter().all(|e| *e == SendError::NotInitialized),
            "only the close refuses: {refused:?}"
        );
        // At most the one refusal the burst stopped at; without it, all three went in.
        assert!(refused.len() <= 1);
        if refused.is_empty() {
            assert_eq!(accepted, 3);
        }
        if !first.complete {
            let o = s.ctx().close(&Deadline::after(Duration::from_micros(1)));
            assert!(o.complete);
        }
        let mut ok: Vec<u32> = vec![1];
        ok.extend((2..).take(accepted));
        s.assert_sent_exactly(&ok);
        s.wire.released.store(false, Std::SeqCst);
        assert_eq!(s.wire.live.load(Std::SeqCst), 0, "buffers leaked");
    });
}

/// The quick path's two ends, a frame staged inline and one whose `Finish` starts a batch (after
/// the flush emptied the staging), while another thread flushes with no patience (a taker that
/// gives up while the owner is inside) and the flusher runs: nothing lost, nothing twice, nothing
/// stranded, no leak.
#[test]
fn quick_path_a_flush_that_gives_up_and_the_flusher() {
    model(|| {
        let s = Setup::new(4, usize::MAX);
        let (owner, other) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| [(2, s.send(mine(owner), 2)), (3, s.send(owner, 3))]);
        let b = s.spawn(move |s| {
            let _ = s.ctx().flush(|| other, &Deadline::now());
        });
        let f = s.spawn(|s| s.flusher_step());
        let [r2, r3] = a.join().unwrap();
        b.join().unwrap();
        let step = f.join().unwrap();
        let results = [(1, Ok(())), r2, r3];
        s.assert_none_stranded_then_settled(&results, step);
    });
}

/// Shutdown (`close`) racing an owner and a guest: every call that returned Ok has its frame on
/// the wire once close completes; calls it shut out fail; nobody touches the pool after a
/// complete close; nothing leaks.
#[test]
fn close_races_owner_and_guest() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let (owner, guest) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| (2, s.send(mine(owner), 2)));
        let b = s.spawn(move |s| (3, s.send(mine(guest), 3)));
        let c = s.spawn(|s| {
            let o = s.ctx().close(&Deadline::after(Duration::from_micros(1)));
            if o.complete {
                s.wire.released.store(true, Std::SeqCst);
            }
            o
        });
        let results = [(1, Ok(())), a.join().unwrap(), b.join().unwrap()];
        let first = c.join().unwrap();
        for (id, r) in &results {
            assert!(
                matches!(
                    r,
                    Ok(()) | Err(SendError::NotInitialized) | Err(SendError::TxBusy)
                ),
                "call {id}: {r:?}"
            );
        }
        if !first.complete {
            // Someone was inside past the deadline: a second close (everyone has left) completes.
            let o = s.ctx().close(&Deadline::after(Duration::from_micros(1)));
            assert!(o.complete);
        }
        assert_eq!(
            s.ctx().stats().dropped_at_shutdown,
            0,
            "the queue takes everything"
        );
        s.assert_sent_exactly(&ok_ids(&results));
        s.wire.released.store(false, Std::SeqCst);
        assert_eq!(s.wire.live.load(Std::SeqCst), 0, "buffers leaked");
        assert_eq!(
            s.send(mine(owner), 9),
            Err(SendError::NotInitialized),
            "calls after close are refused"
        );
    });
}

/// A TX queue that takes one frame per burst, so frames stay staged: the owner sends two more,
/// a guest hands one over, the flusher retries. All reach the wire once; one sender's frames in
/// the order it sent them.
#[test]
fn refusing_queue_owner_guest_and_flusher() {
    model(|| {
        let s = Setup::new(2, 1);
        let (owner, guest) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| [(2, s.send(mine(owner), 2)), (3, s.send(owner, 3))]);
        let b = s.spawn(move |s| (4, s.send(mine(guest), 4)));
        let f = s.spawn(|s| s.flusher_step());
        let [r2, r3] = a.join().unwrap();
        let r4 = b.join().unwrap();
        f.join().unwrap();
        let results = [(1, Ok(())), r2, r3, r4];
        for _ in 0..4 {
            s.flusher_step();
        }
        assert_eq!(s.pending(), 0);
        let sent = s.sent();
        let owners: Vec<u32> = sent.iter().copied().filter(|&id| id != 4).collect();
        assert!(
            owners.windows(2).all(|w| w[0] < w[1]),
            "the owner's frames out of order: {sent:?}"
        );
        s.assert_sent_exactly(&ok_ids(&results));
        s.close_and_assert_no_leak();
    });
}

/// The owner's thread exits (gives the context up) while another thread sends twice (it may
/// claim the context in between) and the flusher runs: exclusive access throughout, nothing
/// lost or doubled.
#[test]
fn owner_exits_while_another_thread_sends() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let (owner, other) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| s.ctx().owner_leaving(mine(owner)));
        let b = s.spawn(move |s| [(2, s.send(mine(other), 2)), (3, s.send(other, 3))]);
        let f = s.spawn(|s| s.flusher_step());
        a.join().unwrap();
        let [r2, r3] = b.join().unwrap();
        f.join().unwrap();
        s.flusher_step();
        assert_eq!(s.pending(), 0);
        s.assert_sent_exactly(&ok_ids(&[(1, Ok(())), r2, r3]));
        s.close_and_assert_no_leak();
    });
}

/// A thread calling the core context (context 0) with its lane (context 1), as `runtime` does:
/// it chooses once, at its first call that finds another owner, then sends where it chose.
struct Guest {
    me: &'static ThreadRec,
    /// `None`: not decided; `Some(k)`: context `k`.
    sends_on: Option<usize>,
}

impl Guest {
    fn new(me: &'static ThreadRec) -> Self {
        Self { me, sends_on: None }
    }

    fn send(&mut self, s: &Setup, id: u32) -> Result<(), SendError> {
        let k = match self.sends_on {
            Some(k) => k,
            None => match s.ctxs[0].choose_lane(&s.ctxs[1..], self.me) {
                None => 0,
                Some(choice) => {
                    let k = choice.map_or(0, |j| 1 + j);
                    self.sends_on = Some(k);
                    k
                }
            },
        };
        s.send_on(k, self.me, id)
    }

    /// The thread exits: it gives up every context it owns (`runtime`'s thread exit).
    fn exit(self, s: &Setup) {
        for ctx in s.ctxs.iter() {
            ctx.owner_leaving(self.me);
        }
    }
}

/// Lanes: while the core's owner sends, two guests race for the core's one lane; one claims it
/// and sends there as its owner, then exits (gives it up); the other sends twice, handing over
/// to the core if it lost the race (its choice holds for its second frame), and the flusher
/// runs throughout. Never two owners of the lane at once (the cell tracking checks it), every
/// accepted frame on the wire once, nothing left staged or leaked.
#[test]
fn guests_race_for_a_lane_and_the_winner_exits() {
    model(|| {
        let s = Setup::with_contexts(2, 2, usize::MAX);
        let (owner, g1, g2) = (rec(), rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| {
            let mut g = Guest::new(mine(g1));
            let r = g.send(s, 2);
            g.exit(s);
            r
        });
        let b = s.spawn(move |s| {
            let mut g = Guest::new(mine(g2));
            [(3, g.send(s, 3)), (4, g.send(s, 4))]
        });
        let f = s.spawn(|s| s.flusher_step());
        let r2 = a.join().unwrap();
        let [r3, r4] = b.join().unwrap();
        f.join().unwrap();
        s.flusher_step();
        assert_eq!(s.pending(), 0, "the flusher's step left work");
        s.assert_sent_exactly(&ok_ids(&[(1, Ok(())), (2, r2), r3, r4]));
        s.close_and_assert_no_leak();
    });
}

/// Two takers with no patience while the owner is inside: each gets the state or gives up, and
/// either way leaves it free (a third take gets it).
#[test]
fn impatient_takers_leave_the_state_free() {
    model(|| {
        let ex = Arc::new(Exclusive::with_fence(0u32, false));
        let owner = rec();
        let e = ex.clone();
        let o = loom::thread::spawn(move || {
            if let Entry::Owner(mut g) = e.enter(owner) {
                *g += 1;
            }
        });
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let e = ex.clone();
                loom::thread::spawn(move || {
                    if let Ok(mut g) = e.take(&Deadline::now()) {
                        *g += 1;
                    }
                })
            })
            .collect();
        o.join().unwrap();
        for t in takers {
            t.join().unwrap();
        }
        assert!(ex.take(&Deadline::now()).is_ok(), "a taker left the state held");
    });
}

/// A thread's exit as `runtime`'s `ThreadExit` does it: the owner gives its context up, unbinds
/// its record and puts it with the spares; a new thread takes that record (or a fresh one) and
/// sends; a thread created after the first one exited, with the dead thread's id (Linux reuses
/// a thread control block), sends with a record of its own; then the flusher. Never two inside
/// at once (the recycled record's old binding is never taken for the new thread's), every record
/// read as its thread made it, nothing lost or doubled.
#[test]
fn thread_exit_recycles_its_record_and_a_reused_thread_id_is_nobodys_owner() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let spares = Arc::new(loom::sync::Mutex::new(Vec::<&'static ThreadRec>::new()));
        let (first, third) = (rec_with_identity(), rec_with_identity());
        let to_spares = spares.clone();
        let a = s.spawn(move |s| {
            crate::exclusive::set_model_thread_id(1);
            let r = s.send(mine(first), 1);
            // The thread exits.
            s.ctx().owner_leaving(first);
            first.bind(false);
            to_spares.lock().unwrap().push(first);
            (1, r)
        });
        let from_spares = spares.clone();
        let b = s.spawn(move |s| {
            crate::exclusive::set_model_thread_id(2);
            let me = from_spares
                .lock()
                .unwrap()
                .pop()
                .unwrap_or_else(rec_with_identity);
            (2, s.send(mine(me), 2))
        });
        let ra = a.join().unwrap();
        let c = s.spawn(move |s| {
            crate::exclusive::set_model_thread_id(1);
            (3, s.send(mine(third), 3))
        });
        let results = [ra, b.join().unwrap(), c.join().unwrap()];
        s.flusher_step();
        assert_eq!(s.pending(), 0, "the flusher's step left work");
        assert!(
            results.iter().all(|(_, r)| r.is_ok()),
            "nothing refuses here: {results:?}"
        );
        s.assert_sent_exactly(&ok_ids(&results));
        s.close_and_assert_no_leak();
    });
}

/// A call from a signal handler on the owner's thread while the owner is inside (its guard held,
/// as the full path holds it): refused with `Reentered` by the quick and the full path alike, its
/// record untouched (still inside), so a taker (the flusher) keeps waiting for the interrupted
/// owner and never overlaps it (loom's cell tracking would see it); a guest sends meanwhile.
/// Nothing lost or doubled, the refused frame never sent.
#[test]
fn a_reentrant_call_is_refused_and_touches_nothing() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let (owner, guest) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let a = s.spawn(move |s| {
            let me = mine(owner);
            let Entry::Owner(st) = s.ctx().tx.enter(me) else {
                // A taker holds the context: the owner would wait; nothing to interrupt.
                return None;
            };
            // The handler's call, while the interrupted owner is inside.
            let r = s.send(me, 2);
            assert!(me.inside(), "the refused call left the owner's record as it was");
            // The interrupted owner goes on with the state.
            let _ = st.ports.len();
            drop(st);
            Some(r)
        });
        let b = s.spawn(move |s| (3, s.send(mine(guest), 3)));
        let f = s.spawn(|s| s.flusher_step());
        if let Some(r) = a.join().unwrap() {
            assert_eq!(r, Err(SendError::Reentered));
        }
        let r3 = b.join().unwrap();
        f.join().unwrap();
        s.flusher_step();
        assert_eq!(s.pending(), 0, "the flusher's step left work");
        s.assert_sent_exactly(&ok_ids(&[(1, Ok(())), r3]));
        s.close_and_assert_no_leak();
    });
}

/// Shutdown against a late caller: a reader of the pool (`free_mbufs`, run as a call the close
/// waits for) and a guest race `close`; once a close is complete (the pool "released"), nobody
/// touches the pool (the fake pool asserts it), and every call that returned Ok has its frame on
/// the wire.
#[test]
fn shutdown_waits_for_a_late_caller_and_none_comes_after() {
    model(|| {
        let s = Setup::new(2, usize::MAX);
        let (owner, guest) = (rec(), rec());
        s.send(mine(owner), 1).unwrap();
        let r = s.spawn(|s| s.ctx().while_open(|| s.wire.check_alive()).is_ok());
        let g = s.spawn(move |s| (2, s.send(mine(guest), 2)));
        let c = s.spawn(|s| {
            let o = s.ctx().close(&Deadline::after(Duration::from_micros(1)));
            if o.complete {
                s.wire.released.store(true, Std::SeqCst);
            }
            o.complete
        });
        r.join().unwrap();
        let results = [(1, Ok(())), g.join().unwrap()];
        if !c.join().unwrap() {
            // Someone was inside past the deadline: a second close (everyone has left) completes.
            assert!(s.ctx().close(&Deadline::after(Duration::from_micros(1))).complete);
        }
        assert!(
            s.ctx().while_open(|| s.wire.check_alive()).is_err(),
            "a call after close is refused"
        );
        s.assert_sent_exactly(&ok_ids(&results));
        s.wire.released.store(false, Std::SeqCst);
        assert_eq!(s.wire.live.load(Std::SeqCst), 0, "buffers leaked");
    });
}

/// The tap's gate: a sender copies a frame into its queue's ring (a model cell) only inside the
/// gate, twice, while a stopper shuts the gate and, if every sender left in time, drains the
/// ring as the writer does. Never a copy during the drain (loom's cell tracking), and once the
/// gate is shut nobody gets in.
#[test]
fn tap_gate_keeps_copies_out_of_a_drain() {
    use crate::tap::gate::Gate;
    model(|| {
        let gate = Arc::new(Gate::new());
        let ring = Arc::new(loom::cell::UnsafeCell::new(Vec::<u32>::new()));
        gate.open();
        let (g, r) = (gate.clone(), ring.clone());
        let sender = loom::thread::spawn(move || {
            let mut copied = Vec::new();
            for id in [1, 2] {
                if let Some(_pass) = g.enter() {
                    // SAFETY: inside the gate, this thread is the ring's producer.
                    r.with_mut(|v| unsafe { (*v).push(id) });
                    copied.push(id);
                }
            }
            copied
        });
        let drained = gate
            .shut(&Deadline::after(Duration::from_micros(1)))
            // SAFETY: the gate is shut and nobody is inside: the writer's turn.
            .then(|| ring.with(|v| unsafe { (*v).clone() }));
        let copied = sender.join().unwrap();
        assert!(gate.enter().is_none(), "the shut gate lets nobody in");
        if let Some(d) = drained {
            assert_eq!(
                d, copied,
                "the drain saw every copy made, and no copy came after it"
            );
        }
    });
}
