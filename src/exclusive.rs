//! Exclusive access to a core context's TX state with no locked instruction on the owner's path.
//!
//! A context has at most one *owner*, the thread that claimed it (the first to call it, usually
//! the core's own thread). The owner enters with a plain store of the `BUSY` bit of its own record, the light
//! barrier ([`crate::sync::light_barrier`]: a compiler fence, inlined; where the kernel refused
//! membarrier, the context carries `FENCED` and the owner takes the full fence on its slow path)
//! and two plain loads ([`Exclusive::try_enter_owner`] is that entry alone, for the owner's quick
//! path: it backs off where the full entry would look further). Anyone else who needs the state
//! (the flusher thread
//! for an idle owner, a thread whose hand-off queue is full, `shutdown`, the exit flush) is a
//! *taker*: it sets `TAKEN`, runs the [`heavy_barrier`] and waits, with a deadline, until the
//! owner is not inside.
//!
//! Invariants (checked by the loom model in `core_ctx::model`):
//! 1. At most one party holds the state: the owner between a successful [`Exclusive::enter`] and
//!    the drop of its guard (set aside in between, see [`Inside`], it is still inside), or the
//!    single taker (takers serialize on `taker`) between a successful [`Exclusive::take`] and the
//!    drop of its guard.
//! 2. A thread's `state` (its `BUSY` and `IN_CALL` bits) is written by that thread only. The owner's `BUSY` store and a
//!    taker's `TAKEN` are each followed by a barrier of the pair and then a load of the other's
//!    flag: one of the two sees the other (an asymmetric Dekker), and the one that sees backs off.
//! 3. `owner` changes only null → T by T's compare-and-swap (a claim), T → null by T after it
//!    cleared `BUSY` (a release), or → null by a taker holding the state (an eviction). The owner
//!    re-reads `owner` after its barrier, so a thread evicted while entering backs off.
//! 4. `CLOSED` is never cleared. Once it is set, only its setter ever holds the state.
//! 5. A thread enters nothing while its `state` says it is inside already: a call from a signal
//!    handler that interrupted the library on the same thread ([`CallGuard`], the quick path's
//!    check in [`Exclusive::try_enter_owner`], the owner's entry) is refused before it touches
//!    anything (its record's `state` is not written either).

use std::mem::ManuallyDrop;

#[cfg(loom)]
use crate::sync::AtomicUsize;
use crate::sync::{
    fence, heavy_barrier, AtomicBool, AtomicPtr, AtomicU8, Backoff, CellMut, Deadline, ExclusiveCell,
    Ordering,
};

/// A taker holds, or is acquiring, the state.
const TAKEN: u8 = 1;
/// Shut down (or in a forked child): nobody but the closer gets the state again.
const CLOSED: u8 = 2;
/// Set for good when the context was made while the kernel refused membarrier: the owner's
/// light barrier must then be a full fence, which its fast path (a compiler fence) leaves to
/// `enter_owned_slow`. Among the flags, so that the owner's one load of them tells it.
const FENCED: u8 = 4;

/// The thread is inside a context as its owner (of any context): takers wait for it to clear.
const BUSY: u8 = 1;
/// The thread is inside a call of the library (its full path, see [`CallGuard`]).
const IN_CALL: u8 = 2;
/// What [`Exclusive::try_enter_owned`] answers when the thread is inside a context already (a
/// signal handler's call): not a flag of the context.
const REENTERED: u8 = 0x80;

/// One thread's record: whether it is inside (as an owner, of any context, or in a call at
/// all), and which thread that is. Threads get one each, recycled but never freed (see
/// `runtime`); a cache line of its own so that no one else's writes slow the owner's store.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct ThreadRec {
    /// `BUSY` and `IN_CALL` (invariant 2: written by its thread only, so plain stores of a value
    /// it loaded; takers read `BUSY`).
    state: AtomicU8,
    /// The thread's [`thread_id`] while it holds this record, else 0. Written by that thread.
    /// Under loom a model atomic: the model checks that no thread takes another's record for
    /// its own, a recycled record and a reused thread id included.
    #[cfg(not(loom))]
    tid: std::sync::atomic::AtomicUsize,
    #[cfg(loom)]
    tid: AtomicUsize,
    /// Whether the model checks this record's identity (its scenarios bind records to model
    /// threads); else [`ThreadRec::is_callers`] is false and the scenario passes records
    /// explicitly, which keeps the other scenarios' state space small.
    #[cfg(loom)]
    models_identity: bool,
}

impl ThreadRec {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A record whose identity the model checks (see `models_identity`).
    #[cfg(loom)]
    pub(crate) fn with_identity() -> Self {
        Self {
            models_identity: true,
            ..Self::default()
        }
    }

    /// Marks this record as the calling thread's (`false`: as nobody's, before it is
    /// recycled). Relaxed: a thread compares a record's `tid` with its own id, which no other
    /// live thread has; a thread that reuses a dead thread's id was created after that thread
    /// unbound its record, so it cannot read the old binding.
    pub(crate) fn bind(&self, to_caller: bool) {
        #[cfg(loom)]
        if !self.models_identity {
            return;
        }
        let tid = if to_caller { thread_id() } else { 0 };
        self.tid.store(tid, Ordering::Relaxed);
    }

    /// Whether the thread is inside the library (for a caller that is that thread).
    #[inline(always)]
    pub(crate) fn inside(&self) -> bool {
        self.state.load(Ordering::Relaxed) != 0
    }

    /// Sets `BUSY` (the owner enters), unless it is set already (a reentry).
    #[inline(always)]
    fn set_busy(&self) -> Result<(), u8> {
        let before = self.state.load(Ordering::Relaxed);
        if before & BUSY != 0 {
            return Err(REENTERED);
        }
        self.state.store(before | BUSY, Ordering::Relaxed);
        Ok(())
    }

    /// Clears `BUSY` (the owner leaves, or backs off). Release: a taker that sees it clear sees
    /// everything done inside.
    #[inline(always)]
    fn clear_busy(&self) {
        let s = self.state.load(Ordering::Relaxed);
        self.state.store(s & !BUSY, Ordering::Release);
    }

    fn is_busy(&self) -> bool {
        // Acquire pairs with `clear_busy`'s Release.
        self.state.load(Ordering::Acquire) & BUSY != 0
    }

    /// Whether this is the calling thread's record. A live thread's id is unique, and a record
    /// is bound to one thread at a time, so a match cannot be someone else's record.
    #[inline]
    pub(crate) fn is_callers(&self) -> bool {
        #[cfg(loom)]
        if !self.models_identity {
            return false;
        }
        self.tid.load(Ordering::Relaxed) == thread_id()
    }
}

/// A thread inside a call of the library (its full path): its record says `IN_CALL` until the
/// guard drops. A call made while the thread is inside already (from a signal handler that
/// interrupted the library on this thread) is refused instead (invariant 5): the interrupted
/// call may hold a context, a mempool cache or a lock that the handler's call would then use as
/// if nobody did.
pub(crate) struct CallGuard {
    rec: &'static ThreadRec,
}

impl CallGuard {
    /// Enters a call on `rec` (the calling thread's record); `None` when the thread is inside.
    #[inline]
    pub(crate) fn enter(rec: &'static ThreadRec) -> Option<Self> {
        if rec.inside() {
            return None;
        }
        rec.state.store(IN_CALL, Ordering::Relaxed);
        // A signal handler on this thread sees the store before anything the call does (it
        // runs on the same thread: only the compiler could reorder them).
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        Some(Self { rec })
    }

    pub(crate) fn rec(&self) -> &'static ThreadRec {
        self.rec
    }
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
        // Relaxed: only this thread reads IN_CALL (BUSY is clear again: every guard the call
        // took has dropped).
        self.rec.state.store(0, Ordering::Relaxed);
    }
}

/// The calling thread's identity, in a couple of instructions: the x86-64 thread pointer
/// (`%fs:0` holds the thread control block's own address, by the ABI), or `pthread_self()`.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn thread_id() -> usize {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let tp: usize;
        // SAFETY: reads the TCB self-pointer every x86-64 Linux thread has at %fs:0; no side
        // effects.
        unsafe {
            std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags));
        }
        tp
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        // SAFETY: pthread_self has no preconditions.
        unsafe { libc::pthread_self() as usize }
    }
}

/// The model thread's identity: unique unless the scenario gives a thread a dead thread's id
/// ([`set_model_thread_id`], as Linux reuses an exited thread's control block).
#[cfg(loom)]
pub(crate) fn thread_id() -> usize {
    MODEL_TID.with(std::cell::Cell::get)
}

#[cfg(loom)]
static NEXT_MODEL_TID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1 << 20);

#[cfg(loom)]
loom::thread_local! {
    static MODEL_TID: std::cell::Cell<usize> =
        std::cell::Cell::new(NEXT_MODEL_TID.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
}

/// Gives the calling model thread the id `id` (non-zero).
#[cfg(loom)]
pub(crate) fn set_model_thread_id(id: usize) {
    assert_ne!(id, 0, "0 is nobody's id");
    MODEL_TID.with(|t| t.set(id));
}

/// The TX state `S` of one context and who may touch it.
pub(crate) struct Exclusive<S> {
    owner: AtomicPtr<ThreadRec>,
    flags: AtomicU8,
    /// Held by the one taker at a time.
    taker: AtomicBool,
    cell: ExclusiveCell<S>,
    /// The model's negative control: the owner skips its barrier (loom must then find a race).
    #[cfg(loom)]
    pub(crate) skip_light_barrier: bool,
}

// SAFETY: the state is only reached through the guards, which invariant 1 makes exclusive; the
// state itself must be Send to be used from whichever thread holds it.
unsafe impl<S: Send> Sync for Exclusive<S> {}
// SAFETY: as above.
unsafe impl<S: Send> Send for Exclusive<S> {}

/// What [`Exclusive::enter`] found.
pub(crate) enum Entry<'a, S> {
    /// The caller owns the context and is inside.
    Owner(OwnerGuard<'a, S>),
    /// The caller (whose record this is) owns the context, but a taker is inside (for a
    /// short, bounded time).
    Taken(&'static ThreadRec),
    /// Someone else owns it: hand over instead.
    Elsewhere,
    /// Closed for good.
    Closed,
    /// The calling thread is inside a context already (a signal handler's call): refused,
    /// nothing touched.
    Reentered,
}

/// Why [`Exclusive::take`] did not get the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeError {
    /// Another taker, or the owner, stayed inside until the deadline.
    Busy,
    Closed,
}

impl<S> Exclusive<S> {
    /// Access to `state`, nobody's yet. `fenced`: the owner's light barrier must be a full fence
    /// (the kernel refused membarrier, see `sync::light_barrier_is_fence`).
    pub(crate) fn with_fence(state: S, fenced: bool) -> Self {
        Self {
            owner: AtomicPtr::new(std::ptr::null_mut()),
            flags: AtomicU8::new(if fenced { FENCED } else { 0 }),
            taker: AtomicBool::new(false),
            cell: ExclusiveCell::new(state),
            #[cfg(loom)]
            skip_light_barrier: false,
        }
    }

    /// [`Exclusive::enter`] for the calling thread: the current owner's record if it is the
    /// caller's (two loads and a compare, no thread-local lookup), else `me()`.
    #[inline(always)]
    pub(crate) fn enter_with(&self, me: impl FnOnce() -> &'static ThreadRec) -> Entry<'_, S> {
        // Acquire (a plain load on x86): pairs with the claim's Release, so the record it
        // points to is seen as its thread made it (it may be fresh) before it is read.
        let owner = self.owner.load(Ordering::Acquire);
        // SAFETY: a non-null `owner` points to a ThreadRec, which lives as long as the process.
        if let Some(rec) = unsafe { owner.as_ref() } {
            if rec.is_callers() {
                return self.enter_owned(rec);
            }
        }
        self.enter(me())
    }

    /// The owner's way in: claims the context if it has no owner, then enters if no taker holds
    /// it. No locked instruction unless this call claims.
    #[inline(always)]
    pub(crate) fn enter(&self, me: &'static ThreadRec) -> Entry<'_, S> {
        let mine = me as *const ThreadRec as *mut ThreadRec;
        let owner = self.owner.load(Ordering::Relaxed);
        if owner != mine {
            // Acquire pairs with an evicting taker's Release: a claim after an eviction sees
            // the state the taker left. Release: a taker that loads this `owner` (Acquire) sees
            // the record as its thread made it (a fresh or recycled `ThreadRec`).
            if !owner.is_null()
                || self
                    .owner
                    .compare_exchange(std::ptr::null_mut(), mine, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
            {
                return self.elsewhere_or_closed();
            }
        }
        self.enter_owned(me)
    }

    /// The owner's quick way in, for a caller that has a full path to fall back on: enters only
    /// if `is_me` says the current owner is the caller and no flag is set (with `FENCED` it
    /// never enters: the full path has the fence). Calls nothing; on `None` nothing is held.
    #[inline(always)]
    pub(crate) fn try_enter_owner(
        &self,
        is_me: impl FnOnce(&ThreadRec) -> bool,
    ) -> Option<OwnerGuard<'_, S>> {
        // Acquire, as in `enter_with`: the record is read next.
        let owner = self.owner.load(Ordering::Acquire);
        // SAFETY: a non-null `owner` points to a ThreadRec, which lives as long as the process.
        let me: &'static ThreadRec = unsafe { owner.as_ref() }?;
        // Inside already (a signal handler's call, invariant 5), or another thread's context.
        if !is_me(me) || me.inside() {
            return None;
        }
        match self.try_enter_owned(me) {
            Ok(guard) => Some(guard),
            Err(_) => {
                // Backs off as `enter_owned_slow` does; the full path looks again.
                me.clear_busy();
                None
            }
        }
    }

    /// Enters as the owner `me` was seen to be (invariant 3: it is re-checked after the barrier).
    #[inline(always)]
    fn enter_owned(&self, me: &'static ThreadRec) -> Entry<'_, S> {
        match self.try_enter_owned(me) {
            Ok(guard) => Entry::Owner(guard),
            Err(REENTERED) => Entry::Reentered,
            Err(flags) => self.enter_owned_slow(me, flags),
        }
    }

    /// The owner's entry proper: `BUSY`, the barrier, the flags and `owner` again. On `Err` (the
    /// flags as loaded) `BUSY` is still set: the caller backs off or looks again; but on
    /// `Err(REENTERED)` (the thread is inside a context already: a signal handler's call, or an
    /// `Inside` not resumed) nothing was written.
    #[inline(always)]
    fn try_enter_owned(&self, me: &'static ThreadRec) -> Result<OwnerGuard<'_, S>, u8> {
        let mine = me as *const ThreadRec as *mut ThreadRec;
        me.set_busy()?;
        // Pairs with the taker's heavy barrier (invariant 2). Outside the model this is the
        // barrier of the asymmetric pair (a compiler fence); where the kernel refused membarrier,
        // FENCED is set and the full fence follows in `enter_owned_slow`, before anything read
        // here is relied on.
        #[cfg(loom)]
        if !self.skip_light_barrier {
            crate::sync::light_barrier();
        }
        #[cfg(not(loom))]
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        // Acquire pairs with the Release that clears TAKEN: what the taker did (including an
        // eviction) is visible, and the re-read of `owner` below sees an eviction.
        let flags = self.flags.load(Ordering::Acquire);
        if flags != 0 || self.owner.load(Ordering::Relaxed) != mine {
            return Err(flags);
        }
        Ok(OwnerGuard {
            ex: self,
            // SAFETY: invariant 1: we are the owner, inside, and no taker holds the state.
            state: ManuallyDrop::new(unsafe { self.cell.borrow_mut() }),
        })
    }

    /// [`Exclusive::enter_owned`] when a flag was set or `owner` changed: with FENCED, the full
    /// fence and a second look; else the owner backs off.
    #[cold]
    #[inline(never)]
    fn enter_owned_slow(&self, me: &'static ThreadRec, mut flags: u8) -> Entry<'_, S> {
        let mine = me as *const ThreadRec as *mut ThreadRec;
        if flags & FENCED != 0 {
            fence(Ordering::SeqCst);
            flags = self.flags.load(Ordering::Acquire) & !FENCED;
        }
        if flags != 0 || self.owner.load(Ordering::Relaxed) != mine {
            me.clear_busy();
            if flags == TAKEN && self.owner.load(Ordering::Relaxed) == mine {
                return Entry::Taken(me);
            }
            return self.elsewhere_or_closed();
        }
        Entry::Owner(OwnerGuard {
            ex: self,
            // SAFETY: invariant 1: we are the owner, inside, and no taker holds the state.
            state: ManuallyDrop::new(unsafe { self.cell.borrow_mut() }),
        })
    }

    #[cold]
    #[inline(never)]
    fn elsewhere_or_closed(&self) -> Entry<'_, S> {
        if self.is_closed() {
            Entry::Closed
        } else {
            Entry::Elsewhere
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.flags.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// Closes the context for good without waiting for anyone (see [`Exclusive::close`]).
    pub(crate) fn mark_closed(&self) {
        self.flags.fetch_or(CLOSED, Ordering::SeqCst);
    }

    /// Whether `me` owns this context (it may still be kept out by a taker).
    pub(crate) fn is_owner(&self, me: &'static ThreadRec) -> bool {
        std::ptr::eq(self.owner.load(Ordering::Relaxed), me)
    }

    /// Whether the calling thread owns this context (two loads and a compare, no thread-local
    /// lookup, as in [`Exclusive::enter_with`]).
    #[inline(always)]
    pub(crate) fn owned_by_caller(&self) -> bool {
        let owner = self.owner.load(Ordering::Relaxed);
        // SAFETY: a non-null `owner` points to a ThreadRec, which lives as long as the process.
        unsafe { owner.as_ref() }.is_some_and(ThreadRec::is_callers)
    }

    /// Makes `me` the owner if the context has none, without entering (the claim of
    /// [`Exclusive::enter`], invariant 3); true if `me` owns it afterwards.
    pub(crate) fn claim(&self, me: &'static ThreadRec) -> bool {
        let mine = me as *const ThreadRec as *mut ThreadRec;
        // As in `enter`: Acquire pairs with an evicting taker's Release, Release with a taker's
        // Acquire load of `owner`.
        // A failure that finds `me` is a claim made meanwhile by a signal handler on this thread.
        self.owner.load(Ordering::Relaxed) == mine
            || self
                .owner
                .compare_exchange(std::ptr::null_mut(), mine, Ordering::AcqRel, Ordering::Relaxed)
                .map_or_else(|now| now == mine, |_| true)
    }

    /// The rare path's way in: waits (until `deadline`) for the previous taker and for the owner
    /// to leave, keeping the owner out meanwhile.
    pub(crate) fn take(&self, deadline: &Deadline) -> Result<TakerGuard<'_, S>, TakeError> {
        self.take_with(deadline, 0)
    }

    /// As [`Exclusive::take`], and closes the context for good: the guard keeps everyone else
    /// out forever. On `Busy`, the context is closed all the same (nobody new enters), but
    /// whoever is inside has not left yet: its state must not be touched; a later `close` may
    /// wait again.
    pub(crate) fn close(&self, deadline: &Deadline) -> Result<TakerGuard<'_, S>, TakeError> {
        self.take_with(deadline, CLOSED)
    }

    fn take_with(&self, deadline: &Deadline, close: u8) -> Result<TakerGuard<'_, S>, TakeError> {
        if close != 0 {
            // Before waiting for the taker lock: nobody new gets in while we wait.
            self.flags.fetch_or(CLOSED, Ordering::SeqCst);
        }
        let mut backoff = Backoff::new();
        // Acquire pairs with the previous taker's Release. A compare-exchange, not a swap: a
        // failed attempt writes nothing (loom 0.7 lets a later release slip between a failed
        // swap's read and write and the lock stay held, tokio-rs/loom#254).
        while self
            .taker
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            if deadline.expired() {
                return Err(TakeError::Busy);
            }
            backoff.wait();
        }
        if close == 0 && self.flags.load(Ordering::Relaxed) & CLOSED != 0 {
            self.taker.store(false, Ordering::Release);
            return Err(TakeError::Closed);
        }
        self.flags.fetch_or(TAKEN, Ordering::Relaxed);
        // Pairs with the owner's light barrier (invariant 2).
        heavy_barrier();
        // Acquire pairs with the owner's Release of `BUSY`: its writes to the state are visible.
        let owner = self.owner.load(Ordering::Acquire);
        if !owner.is_null() {
            // SAFETY: `owner` points to a ThreadRec, which lives as long as the process.
            let owner = unsafe { &*owner };
            let mut backoff = Backoff::new();
            while owner.is_busy() {
                if deadline.expired() {
                    // CLOSED (when closing) stays: it alone keeps everyone out; a later close
                    // may wait again.
                    self.flags.fetch_and(!TAKEN, Ordering::Release);
                    self.taker.store(false, Ordering::Release);
                    return Err(TakeError::Busy);
                }
                backoff.wait();
            }
        }
        Ok(TakerGuard {
            ex: self,
            keep_closed: close != 0,
            // SAFETY: invariant 1: TAKEN is set, the taker lock is ours and the owner is out.
            state: ManuallyDrop::new(unsafe { self.cell.borrow_mut() }),
        })
    }

    /// Gives up ownership for good (the owner's thread is exiting). Only if `me` still owns it.
    pub(crate) fn release(&self, me: &'static ThreadRec) {
        let mine = me as *const ThreadRec as *mut ThreadRec;
        // Release: a later claimant sees everything this owner did.
        let _ = self
            .owner
            .compare_exchange(mine, std::ptr::null_mut(), Ordering::Release, Ordering::Relaxed);
    }
}

/// The owner, inside. Its record is the context's `owner`, which nobody else changes while it is
/// inside (invariant 3: only it, or a taker holding the state, would): read when it leaves,
/// rather than kept.
pub(crate) struct OwnerGuard<'a, S> {
    ex: &'a Exclusive<S>,
    /// Ended explicitly in `drop`, before `BUSY` is cleared.
    state: ManuallyDrop<CellMut<'a, S>>,
}

impl<'a, S> OwnerGuard<'a, S> {
    /// Sets the guard aside, the owner staying inside (`BUSY` set) until [`Inside::resume`]
    /// gives it back: for passing the owner's access on in as few words as possible.
    #[inline(always)]
    pub(crate) fn set_aside(self) -> Inside<'a, S> {
        let mut this = ManuallyDrop::new(self);
        // The access ends here and starts anew in `resume` (outside the model both are no-ops;
        // in it, loom's cell tracking then sees anyone who enters in between). `BUSY` stays set:
        // the guard's own drop does not run.
        // SAFETY: the state is dropped once, here; the guard itself is never dropped.
        unsafe { ManuallyDrop::drop(&mut this.state) };
        Inside {
            #[cfg(loom)]
            ex: this.ex,
            _guard: std::marker::PhantomData,
        }
    }
}

/// An owner's guard set aside ([`OwnerGuard::set_aside`]): the owner is still inside, and the
/// thread must not enter any context before it takes the guard back with [`Inside::resume`]
/// (its `BUSY` bit is one for all contexts). Nothing at all outside the model. Dropped, it does
/// nothing: the owner would stay inside for good, and every taker would wait for it in vain.
#[must_use]
pub(crate) struct Inside<'a, S> {
    /// The model checks that the guard is resumed on the context it was set aside from.
    #[cfg(loom)]
    ex: &'a Exclusive<S>,
    _guard: std::marker::PhantomData<OwnerGuard<'a, S>>,
}

impl<'a, S> Inside<'a, S> {
    /// The guard again: the same code in the model as outside it.
    ///
    /// # Safety
    /// `ex` is the `Exclusive` whose guard was set aside.
    #[inline(always)]
    pub(crate) unsafe fn resume(self, ex: &'a Exclusive<S>) -> OwnerGuard<'a, S> {
        #[cfg(loom)]
        assert!(std::ptr::eq(self.ex, ex), "resumed on another context");
        OwnerGuard {
            ex,
            // SAFETY: invariant 1: the owner set its guard of `ex` aside (the caller's contract)
            // and is still inside; this is that access, given back once.
            state: ManuallyDrop::new(unsafe { ex.cell.borrow_mut() }),
        }
    }
}

impl<S> std::ops::Deref for OwnerGuard<'_, S> {
    type Target = S;
    #[inline]
    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> std::ops::DerefMut for OwnerGuard<'_, S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

impl<S> Drop for OwnerGuard<'_, S> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: dropped once, here; the access ends before others may start theirs.
        unsafe { ManuallyDrop::drop(&mut self.state) };
        // SAFETY: `owner` is this guard's thread's record (see OwnerGuard), and records live as
        // long as the process.
        let me = unsafe { &*self.ex.owner.load(Ordering::Relaxed) };
        me.clear_busy();
    }
}

/// A taker, holding the state.
pub(crate) struct TakerGuard<'a, S> {
    ex: &'a Exclusive<S>,
    keep_closed: bool,
    /// Ended explicitly in `drop`, before TAKEN is cleared.
    state: ManuallyDrop<CellMut<'a, S>>,
}

impl<S> TakerGuard<'_, S> {
    /// Makes the context ownerless: the next caller claims it. For an owner that stopped calling
    /// while other threads keep handing frames over.
    pub(crate) fn evict_owner(&mut self) {
        // Release (with the one clearing TAKEN): a claimant sees the state as we leave it.
        self.ex.owner.store(std::ptr::null_mut(), Ordering::Release);
    }
}

impl<S> std::ops::Deref for TakerGuard<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> std::ops::DerefMut for TakerGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

impl<S> Drop for TakerGuard<'_, S> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here; the access ends before others may start theirs.
        unsafe { ManuallyDrop::drop(&mut self.state) };
        if self.keep_closed {
            return;
        }
        // Release pairs with the owner's Acquire of `flags` and the next taker's Acquire.
        self.ex.flags.fetch_and(!TAKEN, Ordering::Release);
        self.ex.taker.store(false, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn rec() -> &'static ThreadRec {
        Box::leak(Box::new(ThreadRec::new()))
    }

    /// Every way in, with the owner's barrier a compiler fence (membarrier) and a full fence (a
    /// kernel that refuses membarrier: FENCED sends every entry through the slow path).
    #[test]
    fn entries_are_the_same_with_and_without_membarrier() {
        for fenced in [false, true] {
            let ex = Exclusive::with_fence(0u32, fenced);
            let (owner, other) = (rec(), rec());
            let deadline = Deadline::after(std::time::Duration::from_millis(100));
            // The first caller claims and enters; the state is its own.
            match ex.enter(owner) {
                Entry::Owner(mut g) => *g += 1,
                _ => panic!("the first caller owns (fenced: {fenced})"),
            }
            assert!(ex.is_owner(owner));
            assert!(matches!(ex.enter(other), Entry::Elsewhere), "fenced: {fenced}");
            // The quick way in: the owner only, never FENCED; declining leaves nothing held.
            let is = |r: &'static ThreadRec| move |x: &ThreadRec| std::ptr::eq(x, r);
            assert_eq!(ex.try_enter_owner(is(owner)).map(|g| *g), (!fenced).then_some(1));
            assert!(ex.try_enter_owner(is(other)).is_none(), "fenced: {fenced}");
            drop(ex.take(&Deadline::now()).expect("a declined owner is out"));
            // A taker inside keeps the owner out (and says so); after it, the owner is back.
            {
                let mut t = ex.take(&deadline).expect("the owner is out");
                *t += 1;
                assert!(matches!(ex.enter(owner), Entry::Taken(_)), "fenced: {fenced}");
                assert!(ex.try_enter_owner(is(owner)).is_none(), "fenced: {fenced}");
            }
            match ex.enter(owner) {
                Entry::Owner(g) => assert_eq!(*g, 2),
                _ => panic!("the owner is back after the taker (fenced: {fenced})"),
            }
            // Evicted, the owner is somebody else's to claim.
            ex.take(&deadline).expect("the owner is out").evict_owner();
            assert!(matches!(ex.enter(other), Entry::Owner(_)), "fenced: {fenced}");
            assert!(matches!(ex.enter(owner), Entry::Elsewhere), "fenced: {fenced}");
            // Closed, nobody enters, the fence bit notwithstanding.
            drop(ex.close(&deadline).expect("nobody inside"));
            assert!(ex.is_closed());
            assert!(matches!(ex.enter(other), Entry::Closed), "fenced: {fenced}");
            assert!(matches!(ex.enter(rec()), Entry::Closed), "fenced: {fenced}");
            assert!(ex.try_enter_owner(is(other)).is_none(), "fenced: {fenced}");
        }
    }

    /// What loom cannot check: the owner's light barrier (a compiler fence once membarrier is
    /// registered) against a taker's heavy barrier (the membarrier system call), on this
    /// machine's real CPUs. The owner enters and leaves in a loop while a taker takes over and
    /// over for half a second; each does a read, a pause and a write of the state inside. If both
    /// were ever inside at once, an increment would be lost (with the taker's membarrier call
    /// left out, every one of three runs lost some). With and without membarrier (FENCED: full
    /// fences).
    #[test]
    fn owner_and_taker_never_overlap_on_real_cpus() {
        let asymmetric = crate::sync::enable_asymmetric_barrier();
        for fenced in [false, true] {
            let ex: &'static Exclusive<u64> = Box::leak(Box::new(Exclusive::with_fence(0, fenced)));
            let owner = rec();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let bump = |v: &mut u64| {
                let read = std::hint::black_box(*v);
                for _ in 0..std::hint::black_box(4) {
                    std::hint::spin_loop();
                }
                *v = read + 1;
            };
            let st = stop.clone();
            let taker = std::thread::spawn(move || {
                let mut n = 0u64;
                while !st.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(mut g) = ex.take(&Deadline::after(std::time::Duration::from_millis(100))) {
                        bump(&mut g);
                        n += 1;
                    }
                }
                n
            });
            let mut entered = 0u64;
            let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while std::time::Instant::now() < until {
                for _ in 0..1000 {
                    if let Entry::Owner(mut g) = ex.enter(owner) {
                        bump(&mut g);
                        entered += 1;
                    }
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let taken = taker.join().unwrap();
            let Ok(g) = ex.take(&Deadline::now()) else {
                panic!("everyone left")
            };
            assert!(entered > 0 && taken > 0, "both got in: {entered} / {taken}");
            assert_eq!(
                *g,
                entered + taken,
                "an increment was lost: owner and taker inside at once (fenced: {fenced}, membarrier: \
                 {asymmetric}; {entered} entries, {taken} takes)"
            );
        }
    }
}
