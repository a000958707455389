//! The synchronization primitives the TX protocol is built from, in one place so that the loom
//! model (`--cfg loom`, see `core_ctx::model`) can substitute its own, as tokio does.
//!
//! - Atomics and the interior-mutable cell: std's, or loom's under `cfg(loom)`.
//! - The asymmetric barrier pair: [`light_barrier`] on the owner's fast path (a compiler fence),
//!   [`heavy_barrier`] on the rare path (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which
//!   makes every running thread of the process execute a full barrier). Together they order a
//!   store before a load on both sides, as a pair of `SeqCst` fences would; loom checks the
//!   protocol with exactly that pair. Where the kernel refuses membarrier, both are real fences
//!   (the owner's then on its slow path: `exclusive`'s `FENCED`).
//! - [`Deadline`] and [`Backoff`]: every wait in the library has a deadline and sleeps rather
//!   than spins once it has spun briefly. Under loom, time does not exist: a deadline is a budget
//!   of checks, and waiting yields to the model's scheduler.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// The owner's half of the asymmetric barrier: orders its preceding store before its following
/// load, against a concurrent [`heavy_barrier`].
#[inline(always)]
pub(crate) fn light_barrier() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
    #[cfg(not(loom))]
    {
        if membarrier::ASYMMETRIC.load(Ordering::Relaxed) {
            // membarrier turns this into a full barrier whenever a heavy barrier runs.
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }
}

/// Whether [`light_barrier`] is a full fence here (the kernel refused membarrier). The owner's
/// fast path inlines only the compiler fence and takes the full one on its slow path when this
/// was true as its context was made (`exclusive`'s FENCED). Never in the model, whose light
/// barrier is the fence the protocol is checked with.
#[inline]
pub(crate) fn light_barrier_is_fence() -> bool {
    #[cfg(loom)]
    return false;
    #[cfg(not(loom))]
    !membarrier::ASYMMETRIC.load(Ordering::Relaxed)
}

/// The rare path's half: after it returns, every other thread has passed a full barrier, so each
/// of them either had its store before its light barrier visible to us, or will see our store
/// from before this call with its load after its light barrier.
#[inline]
pub(crate) fn heavy_barrier() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
    #[cfg(not(loom))]
    {
        fence(Ordering::SeqCst);
        if membarrier::ASYMMETRIC.load(Ordering::Relaxed) {
            membarrier::private_expedited();
        }
    }
}

/// Enables the asymmetric barrier for this process; until it succeeds, light barriers are full
/// fences. Called once at initialization, before any core context exists. Returns whether the
/// kernel granted it.
#[cfg(not(loom))]
pub(crate) fn enable_asymmetric_barrier() -> bool {
    membarrier::register()
}

#[cfg(not(loom))]
mod membarrier {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Set once `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED` succeeded.
    pub(super) static ASYMMETRIC: AtomicBool = AtomicBool::new(false);

    // From <linux/membarrier.h> (the libc crate does not carry them).
    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn call(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes two integer arguments and touches no memory of ours.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long, 0 as libc::c_long) }
    }

    pub(super) fn register() -> bool {
        if ASYMMETRIC.load(Ordering::Acquire) {
            return true;
        }
        let supported = call(CMD_QUERY);
        let ok = supported >= 0
            && supported & CMD_PRIVATE_EXPEDITED != 0
            && call(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
            && call(CMD_PRIVATE_EXPEDITED) == 0;
        if ok {
            ASYMMETRIC.store(true, Ordering::Release);
        }
        ok
    }

    pub(super) fn private_expedited() {
        // Registered (ASYMMETRIC is set only after a successful call), so this cannot fail
        // with EPERM; it has no other failure mode once registered.
        call(CMD_PRIVATE_EXPEDITED);
    }
}

/// Interior mutability for the TX state: `UnsafeCell`, or loom's, which checks that accesses
/// through [`ExclusiveCell::borrow_mut`] never overlap.
pub(crate) struct ExclusiveCell<T> {
    #[cfg(loom)]
    inner: loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))]
    inner: std::cell::UnsafeCell<T>,
}

impl<T> ExclusiveCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(loom)]
            inner: loom::cell::UnsafeCell::new(value),
            #[cfg(not(loom))]
            inner: std::cell::UnsafeCell::new(value),
        }
    }

    /// Mutable access for as long as the returned guard lives.
    ///
    /// # Safety
    /// No other access to the value happens while the guard lives.
    #[inline]
    pub(crate) unsafe fn borrow_mut(&self) -> CellMut<'_, T> {
        CellMut {
            #[cfg(loom)]
            ptr: self.inner.get_mut(),
            #[cfg(not(loom))]
            ptr: self.inner.get(),
            _life: PhantomData,
        }
    }
}

/// Exclusive access to an [`ExclusiveCell`]'s value.
pub(crate) struct CellMut<'a, T> {
    #[cfg(loom)]
    ptr: loom::cell::MutPtr<T>,
    #[cfg(not(loom))]
    ptr: *mut T,
    _life: PhantomData<&'a mut T>,
}

impl<T> Deref for CellMut<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: borrow_mut's caller guarantees exclusivity while the guard lives.
        #[cfg(loom)]
        unsafe {
            self.ptr.deref()
        }
        // SAFETY: as above.
        #[cfg(not(loom))]
        unsafe {
            &*self.ptr
        }
    }
}

impl<T> DerefMut for CellMut<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: borrow_mut's caller guarantees exclusivity while the guard lives.
        #[cfg(loom)]
        unsafe {
            self.ptr.deref()
        }
        // SAFETY: as above.
        #[cfg(not(loom))]
        unsafe {
            &mut *self.ptr
        }
    }
}

/// Bounds every receive on socket `fd` to `wait` (`SO_RCVTIMEO`): a peer that never answers
/// ends the receive with `EAGAIN` instead of blocking forever.
pub(crate) fn set_receive_deadline(
    fd: std::os::fd::BorrowedFd<'_>,
    wait: std::time::Duration,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_usec: wait.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: a socket borrowed for the call, and a timeval of the size given that outlives it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// When a wait gives up.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    #[cfg(not(loom))]
    at: std::time::Instant,
    #[cfg(loom)]
    checks_left: std::cell::Cell<u32>,
}

impl Deadline {
    /// `wait` from now.
    pub(crate) fn after(wait: std::time::Duration) -> Self {
        #[cfg(not(loom))]
        {
            Self {
                at: std::time::Instant::now() + wait,
            }
        }
        #[cfg(loom)]
        {
            // A zero wait still allows the one check that decides; longer waits a few more.
            let checks = if wait.is_zero() { 0 } else { 2 };
            Self {
                checks_left: std::cell::Cell::new(checks),
            }
        }
    }

    /// Already passed: give up at the first check.
    pub(crate) fn now() -> Self {
        Self::after(std::time::Duration::ZERO)
    }

    #[inline]
    pub(crate) fn expired(&self) -> bool {
        #[cfg(not(loom))]
        {
            std::time::Instant::now() >= self.at
        }
        #[cfg(loom)]
        {
            let left = self.checks_left.get();
            self.checks_left.set(left.saturating_sub(1));
            left == 0
        }
    }
}

/// Waiting between checks of a condition another thread will change: spins briefly (the other
/// side is usually running and about to finish), then yields, then sleeps with a growing interval
/// capped at [`Backoff::MAX_SLEEP`], so that a long wait costs almost no CPU and lets the thread
/// it waits for run on a busy machine.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    const SPINS: u32 = 6;
    const YIELDS: u32 = 10;
    pub(crate) const MAX_SLEEP: std::time::Duration = std::time::Duration::from_micros(200);

    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn wait(&mut self) {
        #[cfg(loom)]
        {
            loom::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            if self.step < Self::SPINS {
                for _ in 0..(1u32 << self.step) {
                    std::hint::spin_loop();
                }
            } else if self.step < Self::SPINS + Self::YIELDS {
                std::thread::yield_now();
            } else {
                let exp = (self.step - Self::SPINS - Self::YIELDS).min(8);
                let sleep = std::time::Duration::from_micros(2u64 << exp).min(Self::MAX_SLEEP);
                std::thread::sleep(sleep);
            }
        }
        self.step = self.step.saturating_add(1);
    }
}

/// The bounded multi-producer queue through which threads that do not own a context hand their
/// frames to it: crossbeam's lock-free `ArrayQueue`, or under loom a linearizable stand-in (a
/// mutex around a deque) so that the model explores our protocol, not crossbeam's.
pub(crate) struct HandoffQueue<T> {
    #[cfg(not(loom))]
    inner: crossbeam_queue::ArrayQueue<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<std::collections::VecDeque<T>>,
    #[cfg(loom)]
    capacity: usize,
}

impl<T> HandoffQueue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: crossbeam_queue::ArrayQueue::new(capacity),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(std::collections::VecDeque::new()),
            #[cfg(loom)]
            capacity,
        }
    }

    /// Appends `item`, or gives it back when the queue is full.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        #[cfg(not(loom))]
        {
            self.inner.push(item)
        }
        #[cfg(loom)]
        {
            let mut q = self.inner.lock().unwrap();
            if q.len() >= self.capacity {
                return Err(item);
            }
            q.push_back(item);
            Ok(())
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(not(loom))]
        {
            self.inner.is_empty()
        }
        #[cfg(loom)]
        {
            self.inner.lock().unwrap().is_empty()
        }
    }

    pub(crate) fn pop(&self) -> Option<T> {
        #[cfg(not(loom))]
        {
            self.inner.pop()
        }
        #[cfg(loom)]
        {
            self.inner.lock().unwrap().pop_front()
        }
    }
}

/// A monotonic clock cheap enough to read once per batch on the owner's path: the TSC on x86_64
/// (about 10 ns here, against 40 for `clock_gettime`), scaled by a rate measured once; elsewhere
/// `Instant`. Values are nanoseconds since an arbitrary origin.
pub(crate) mod clock {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    use std::sync::OnceLock;

    #[cfg(all(target_arch = "x86_64", not(loom)))]
    static RATE: OnceLock<(u64, f64)> = OnceLock::new();

    /// Measures the TSC rate (once, about 2 ms) so that [`now_ns`] is usable on any thread.
    pub(crate) fn calibrate() {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        RATE.get_or_init(|| {
            let t0 = std::time::Instant::now();
            // SAFETY: rdtsc has no preconditions on x86_64.
            let c0 = unsafe { core::arch::x86_64::_rdtsc() };
            std::thread::sleep(std::time::Duration::from_millis(2));
            // SAFETY: as above.
            let c1 = unsafe { core::arch::x86_64::_rdtsc() };
            let ns = t0.elapsed().as_nanos() as f64;
            (c0, ns / (c1.wrapping_sub(c0).max(1)) as f64)
        });
    }

    #[inline]
    pub(crate) fn now_ns() -> u64 {
        // The model explores interleavings, not time: every reading is the same.
        #[cfg(loom)]
        {
            0
        }
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        {
            // Before calibration (never on the send path: the runtime calibrates first) ticks count as ns.
            let (origin, ns_per_tick) = RATE.get().copied().unwrap_or((0, 1.0));
            // SAFETY: rdtsc has no preconditions on x86_64.
            let c = unsafe { core::arch::x86_64::_rdtsc() };
            (c.wrapping_sub(origin) as f64 * ns_per_tick) as u64
        }
        #[cfg(all(not(target_arch = "x86_64"), not(loom)))]
        {
            use std::sync::OnceLock;
            static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
            ORIGIN.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
        }
    }
}
