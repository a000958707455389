//! Exclusive access to a core context's TX state with no locked instruction on the owner's path.
//!
//! A context has at most one *owner*, the thread that claimed it (the first to call it, usually
//! the core's own thread). The owner enters with a plain store to its own `busy` flag, the light
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
//! 2. A thread's `busy` flag is written by that thread only. The owner's `busy = true` and a
//!    taker's `TAKEN` are each followed by a barrier of the pair and then a load of the other's
//!    flag: one of the two sees the other (an asymmetric Dekker), and the one that sees backs off.
//! 3. `owner` changes only null → T by T's compare-and-swap (a claim), T → null by T after it
//!    cleared `busy` (a release), or → null by a taker holding the state (an eviction). The owner
//!    re-reads `owner` after its barrier, so a thread evicted while entering backs off.
//! 4. `CLOSED` is never cleared. Once it is set, only its setter ever holds the state.

use std::mem::ManuallyDrop;

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

/// One thread's flag "I am inside as an owner" (of any context), and which thread that is.
/// Threads get one each, recycled but never freed (see `runtime`); a cache line of its own so
/// that no one else's writes slow the owner's store.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(crate) struct ThreadRec {
    busy: AtomicBool,
    /// The thread's [`thread_id`] while it holds this record, else 0. Written by that thread.
    #[cfg(not(loom))]
    tid: std::sync::atomic::AtomicUsize,
}

impl ThreadRec {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Marks this record as the calling thread's (`None`: as nobody's, before it is recycled).
    #[cfg(not(loom))]
    pub(crate) fn bind(&self, to_caller: bool) {
        let tid = if to_caller { thread_id() } else { 0 };
        self.tid.store(tid, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this is the calling thread's record. A live thread's id is unique, and a record
    /// is bound to one thread at a time, so a match cannot be someone else's record.
    #[inline]
    pub(crate) fn is_callers(&self) -> bool {
        #[cfg(not(loom))]
        {
            self.tid.load(std::sync::atomic::Ordering::Relaxed) == thread_id()
        }
        // The model passes records explicitly.
        #[cfg(loom)]
        false
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
        let owner = self.owner.load(Ordering::Relaxed);
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
            // the state the taker left.
            if !owner.is_null()
                || self
                    .owner
                    .compare_exchange(std::ptr::null_mut(), mine, Ordering::Acquire, Ordering::Relaxed)
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
        let owner = self.owner.load(Ordering::Relaxed);
        // SAFETY: a non-null `owner` points to a ThreadRec, which lives as long as the process.
        let me: &'static ThreadRec = unsafe { owner.as_ref() }?;
        if !is_me(me) {
            return None;
        }
        match self.try_enter_owned(me) {
            Ok(guard) => Some(guard),
            Err(_) => {
                // Backs off as `enter_owned_slow` does; the full path looks again.
                me.busy.store(false, Ordering::Release);
                None
            }
        }
    }

    /// Enters as the owner `me` was seen to be (invariant 3: it is re-checked after the barrier).
    #[inline(always)]
    fn enter_owned(&self, me: &'static ThreadRec) -> Entry<'_, S> {
        match self.try_enter_owned(me) {
            Ok(guard) => Entry::Owner(guard),
            Err(flags) => self.enter_owned_slow(me, flags),
        }
    }

    /// The owner's entry proper: `busy`, the barrier, the flags and `owner` again. On `Err` (the
    /// flags as loaded) `busy` is still set: the caller backs off or looks again.
    #[inline(always)]
    fn try_enter_owned(&self, me: &'static ThreadRec) -> Result<OwnerGuard<'_, S>, u8> {
        let mine = me as *const ThreadRec as *mut ThreadRec;
        debug_assert!(
            !me.busy.load(Ordering::Relaxed),
            "a thread inside a context enters again (an Inside not resumed?)"
        );
        me.busy.store(true, Ordering::Relaxed);
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
            me.busy.store(false, Ordering::Release);
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
        // Acquire pairs with the owner's Release of `busy`: its writes to the state are visible.
        let owner = self.owner.load(Ordering::Acquire);
        if !owner.is_null() {
            // SAFETY: `owner` points to a ThreadRec, which lives as long as the process.
            let owner = unsafe { &*owner };
            let mut backoff = Backoff::new();
            while owner.busy.load(Ordering::Acquire) {
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
    /// Ended explicitly in `drop`, before `busy` is cleared.
    state: ManuallyDrop<CellMut<'a, S>>,
}

impl<'a, S> OwnerGuard<'a, S> {
    /// Sets the guard aside, the owner staying inside (`busy` set) until [`Inside::resume`]
    /// gives it back: for passing the owner's access on in as few words as possible.
    #[inline(always)]
    pub(crate) fn set_aside(self) -> Inside<'a, S> {
        #[cfg(not(loom))]
        {
            // Nothing to keep: the context says where the state is, `owner` whose it is. (The
            // guard holds no resource but the access, which goes on.)
            std::mem::forget(self);
            Inside {
                _guard: std::marker::PhantomData,
            }
        }
        // The model keeps the guard itself: loom's cell tracks the borrow.
        #[cfg(loom)]
        Inside {
            guard: ManuallyDrop::new(self),
        }
    }
}

/// An owner's guard set aside ([`OwnerGuard::set_aside`]): the owner is still inside, and the
/// thread must not enter any context before it takes the guard back with [`Inside::resume`]
/// (its `busy` flag is one for all contexts). Nothing at all outside the model. Dropped, it does
/// nothing: the owner would stay inside for good, and every taker would wait for it in vain.
#[must_use]
pub(crate) struct Inside<'a, S> {
    #[cfg(not(loom))]
    _guard: std::marker::PhantomData<OwnerGuard<'a, S>>,
    /// Not dropped with the Inside: as outside the model.
    #[cfg(loom)]
    guard: ManuallyDrop<OwnerGuard<'a, S>>,
}

impl<'a, S> Inside<'a, S> {
    /// The guard again.
    ///
    /// # Safety
    /// `ex` is the `Exclusive` whose guard was set aside.
    #[inline(always)]
    pub(crate) unsafe fn resume(self, ex: &'a Exclusive<S>) -> OwnerGuard<'a, S> {
        #[cfg(not(loom))]
        {
            OwnerGuard {
                ex,
                // SAFETY: invariant 1: the owner set its guard of `ex` aside (the caller's
                // contract) and is still inside; this is that access, given back once.
                state: ManuallyDrop::new(unsafe { ex.cell.borrow_mut() }),
            }
        }
        #[cfg(loom)]
        {
            assert!(std::ptr::eq(self.guard.ex, ex), "resumed on another context");
            ManuallyDrop::into_inner(self.guard)
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
        // Release: a taker that sees `false` sees everything done inside.
        me.busy.store(false, Ordering::Release);
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
}
