//! The library's own threads (the flusher, the tap's writer), started with every signal blocked.
//!
//! A signal handler of the application that calls the library must never run on one of them: it
//! could interrupt the flusher while it holds a core context or takes mbufs through its mempool
//! cache, and then use them as if nobody did (a call from a handler is refused only on a thread
//! that is inside a call, which these threads never are). Blocked there, a process-directed
//! signal goes to one of the application's threads instead, as if the library had no threads.

use std::io;
use std::thread::{Builder, JoinHandle};

/// Starts a thread named `name` running `f`, with every signal blocked from its first
/// instruction: the mask is set on the calling thread around the spawn (a new thread inherits
/// it) and restored at once, so no signal can reach the new thread before it could block it.
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    // SAFETY: sigset_t is plain data, valid when zeroed.
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigfillset fills a zeroed sigset_t; pthread_sigmask reads `all` and writes the
    // caller's previous mask into `previous`, both valid for the calls.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
    }
    let spawned = Builder::new().name(name.into()).spawn(f);
    // SAFETY: restores the mask read above, on the thread it was read from.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    spawned
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// The new thread starts with every signal blocked; the caller's mask is as it was.
    #[test]
    fn the_thread_blocks_every_signal_and_the_caller_keeps_its_mask() {
        fn mask() -> libc::sigset_t {
            // SAFETY: reads the calling thread's mask into a zeroed set.
            unsafe {
                let mut m: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut m);
                m
            }
        }
        let is_member = |m: &libc::sigset_t, s| {
            // SAFETY: a valid set and signal number.
            unsafe { libc::sigismember(m, s) == 1 }
        };
        let before = mask();
        let inner = super::spawn("t", mask).unwrap().join().unwrap();
        for s in [libc::SIGUSR1, libc::SIGALRM, libc::SIGPIPE, libc::SIGTERM] {
            assert!(is_member(&inner, s), "signal {s} not blocked in the thread");
        }
        let after = mask();
        for s in [libc::SIGUSR1, libc::SIGALRM, libc::SIGPIPE, libc::SIGTERM] {
            assert_eq!(
                is_member(&before, s),
                is_member(&after, s),
                "caller's mask changed"
            );
        }
    }
}
