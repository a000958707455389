//! The tap's gate between the senders that copy frames and whoever stops the tap.
//!
//! A sender passes the gate ([`Gate::enter`]) before it touches a ring and leaves it when its
//! copy is published or forgotten; a stopper shuts the gate ([`Gate::shut`]) and waits for those
//! inside. Invariant: once `shut` returned true, no sender is inside and none gets in until the
//! gate opens again, so the writer may drain the rings and close the file.
//!
//! How: a sender counts itself in `users`, then reads `open`; a stopper clears `open`, then
//! reads `users`. Each side has a `SeqCst` fence between its store and its load (a Dekker pair):
//! either the sender sees the gate shut and leaves without touching anything, or the stopper sees
//! it counted and waits. Fences rather than `SeqCst` accesses: the pair is then what the C++
//! model guarantees and what loom checks exactly (loom treats `SeqCst` accesses as `AcqRel`).
//! Checked by the loom model (`core_ctx::model`, `tap_gate_keeps_copies_out_of_a_drain`).

use crate::sync::{fence, AtomicBool, AtomicUsize, Backoff, Deadline, Ordering};

pub(crate) struct Gate {
    open: AtomicBool,
    users: AtomicUsize,
}

/// A sender inside the gate, until dropped.
pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            open: AtomicBool::new(false),
            users: AtomicUsize::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            open: AtomicBool::new(false),
            users: AtomicUsize::new(0),
        }
    }

    /// Whether senders copy: the sending path's one check while the tap is off (a hint: only
    /// [`Gate::enter`] decides).
    #[inline(always)]
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Opens the gate. Release: after whatever the opener prepared for the senders (the rings,
    /// the session), which a sender that gets in sees (its load of `open` is Acquire).
    pub(crate) fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// Lets a sender in, or `None` when the gate is shut.
    #[inline]
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        self.users.fetch_add(1, Ordering::Relaxed);
        // From here the pass (or its drop on the way out) leaves `users`.
        let pass = Pass(self);
        // Pairs with the fence in `shut` (the module's Dekker pair).
        fence(Ordering::SeqCst);
        // Acquire: pairs with `open`'s Release.
        self.open.load(Ordering::Acquire).then_some(pass)
    }

    /// Shuts the gate and waits, until `deadline`, for the senders inside to leave. True: none
    /// is inside and none gets in until the gate opens again; false: one stayed inside (its
    /// ring must not be taken from it).
    pub(crate) fn shut(&self, deadline: &Deadline) -> bool {
        self.open.store(false, Ordering::Relaxed);
        // Pairs with the fence in `enter` (the module's Dekker pair).
        fence(Ordering::SeqCst);
        let mut backoff = Backoff::new();
        // Acquire: pairs with the Release of a leaving pass, so what a sender did inside (its
        // copies, published or not) happens before whatever the stopper does next.
        while self.users.load(Ordering::Acquire) != 0 {
            if deadline.expired() {
                return false;
            }
            backoff.wait();
        }
        true
    }

    /// Shuts the gate without waiting (a forked child: the writer is the parent's).
    pub(crate) fn shut_now(&self) {
        self.open.store(false, Ordering::Relaxed);
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        // Release: the stopper that sees `users` drop sees what this sender published.
        self.0.users.fetch_sub(1, Ordering::Release);
    }
}
