//! The flusher thread, `mtcp-sendpkt-tx`: sends what no call will send (a staged batch older than
//! the flush interval, frames handed over to an owner that stopped calling, frames a TX queue
//! refused), and sleeps otherwise.
//!
//! While any context has work pending it *watches*: it sleeps until the earliest moment some work
//! is due, never longer than the flush interval. Otherwise it *dozes*: it announces that in the
//! [`FlushSignal`], runs the heavy barrier, looks once more, and parks. Whoever creates pending
//! work afterwards runs the other barrier of the pair, sees the announcement and unparks it
//! (`CoreContext` invariant 2). With only refused frames pending it dozes with a timeout, the
//! retry interval (doubling up to 10 ms), so a TX queue that stopped draining costs almost no CPU.

use crate::core_ctx::{CoreContext, PacketIo, Visit, VisitMemo};
pub(crate) use crate::flush_signal::FlushSignal;
use crate::sync::{heavy_barrier, Ordering};

/// What the flusher does until its next look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Sleep until this time (`clock::now_ns`); work is pending.
    Watch(u64),
    /// Park until woken, or until this time if refused frames wait for a retry.
    Doze(Option<u64>),
}

/// The flusher's view of the contexts.
pub(crate) struct Flusher<'a, I: PacketIo, S> {
    /// The core contexts, then their lanes (see `runtime`): the flusher treats them alike.
    contexts: [&'a [CoreContext<I, S>]; 2],
    memos: Vec<VisitMemo>,
    signal: &'a FlushSignal,
    dozing: bool,
}

impl<'a, I: PacketIo, S: crate::core_ctx::Scratch> Flusher<'a, I, S> {
    pub(crate) fn new(contexts: [&'a [CoreContext<I, S>]; 2], signal: &'a FlushSignal) -> Self {
        Self {
            contexts,
            memos: vec![VisitMemo::default(); contexts[0].len() + contexts[1].len()],
            signal,
            dozing: false,
        }
    }

    /// Looks at every context (sending what is due at `now`) and says what to do next.
    pub(crate) fn step(&mut self, now: u64) -> Step {
        loop {
            let (mut watch, mut retry): (Option<u64>, Option<u64>) = (None, None);
            let earliest = |a: Option<u64>, b: u64| Some(a.map_or(b, |a| a.min(b)));
            let all = self.contexts[0].iter().chain(self.contexts[1]);
            for (ctx, memo) in all.zip(self.memos.iter_mut()) {
                match ctx.visit(now, memo) {
                    Visit::Idle => {}
                    Visit::At(t) => watch = earliest(watch, t),
                    Visit::Retry(t) => retry = earliest(retry, t),
                }
            }
            if let Some(w) = watch {
                if self.dozing {
                    self.dozing = false;
                    self.signal.dozing.store(false, Ordering::Relaxed);
                }
                return Step::Watch(retry.map_or(w, |r| r.min(w)));
            }
            if !self.dozing {
                // Announce, then look once more: work published before the barrier is seen by
                // that look; work published after it sees the announcement (invariant 2).
                self.dozing = true;
                self.signal.dozing.store(true, Ordering::Relaxed);
                heavy_barrier();
                continue;
            }
            return Step::Doze(retry);
        }
    }

    /// After parking: a publisher that woke us cleared the announcement.
    pub(crate) fn woke(&mut self) {
        self.dozing = self.signal.dozing.load(Ordering::Relaxed);
    }
}

/// The flusher thread's body: steps until `stop`, sleeping between steps.
///
/// It runs at `MTCP_SENDPKT_FLUSHER_NICE` (19 by default): housekeeping must not take CPU from
/// the threads that send. Where a CPU is free it still runs within microseconds; measured on 2
/// CPUs with two threads sending flat out, at nice 0 its ~20K wake-ups a second preempted them
/// and cost 40% of their throughput.
#[cfg(not(loom))]
pub(crate) fn run<I: PacketIo, S: crate::core_ctx::Scratch>(
    contexts: [&[CoreContext<I, S>]; 2],
    signal: &FlushSignal,
    stop: &std::sync::atomic::AtomicBool,
    settings: &crate::settings::Settings,
) {
    use crate::sync::clock;
    use std::time::Duration;

    // It acts on a batch at a quarter of the flush interval (see TxParams::flush_interval).
    let flush_after = settings.flush_interval / 4;
    // Deadlines here are tens of microseconds: the default 50 µs timer slack would double them.
    // SAFETY: PR_SET_TIMERSLACK takes an integer and affects only the calling thread;
    // setpriority with the thread's own id changes only this thread's nice value.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            settings.flusher_nice,
        );
    }
    signal.set_thread(std::thread::current());
    let mut flusher = Flusher::new(contexts, signal);
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let now = clock::now_ns();
        match flusher.step(now) {
            Step::Watch(at) => {
                let wait = Duration::from_nanos(at.saturating_sub(clock::now_ns())).min(flush_after);
                if !wait.is_zero() {
                    std::thread::park_timeout(wait);
                }
            }
            Step::Doze(retry) => {
                match retry {
                    Some(at) => std::thread::park_timeout(Duration::from_nanos(at.saturating_sub(now))),
                    None => std::thread::park(),
                }
                flusher.woke();
            }
        }
    }
}
