//! How pending work reaches a dozing flusher (`flusher`): the other half of its doze handshake,
//! run by whoever makes work pending (`core_ctx`). In a room of its own so that the contexts
//! need nothing of the flusher itself.

use crate::sync::{light_barrier, AtomicBool, Ordering};

/// How pending work reaches a dozing flusher.
#[derive(Default)]
pub(crate) struct FlushSignal {
    /// The flusher's announcement that it parks (written by the flusher, read by notifiers).
    pub(crate) dozing: AtomicBool,
    #[cfg(not(loom))]
    thread: std::sync::OnceLock<std::thread::Thread>,
    /// Under loom: set by an unpark (the model checks that a dozing flusher was woken).
    #[cfg(loom)]
    pub(crate) woken: AtomicBool,
}

impl FlushSignal {
    /// After a store that made work pending (staging became non-empty, a hand-off pushed): the
    /// light barrier, paired with the heavy one the flusher runs between announcing that it
    /// dozes and its last look, then a wake-up if it dozes. Whoever stored (the owner, a guest,
    /// the flusher) needs no more than that: the heavy barrier reaches every thread.
    #[inline]
    pub(crate) fn notify(&self) {
        light_barrier();
        self.wake_if_dozing();
    }

    #[inline]
    fn wake_if_dozing(&self) {
        if self.dozing.load(Ordering::Relaxed) && self.dozing.swap(false, Ordering::Relaxed) {
            self.unpark();
        }
    }

    #[cold]
    pub(crate) fn unpark(&self) {
        #[cfg(not(loom))]
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
        #[cfg(loom)]
        self.woken.store(true, Ordering::SeqCst);
    }

    /// Records the flusher thread, for [`FlushSignal::unpark`].
    #[cfg(not(loom))]
    pub(crate) fn set_thread(&self, t: std::thread::Thread) {
        let _ = self.thread.set(t);
    }
}
