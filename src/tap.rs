//! The pcapng tap: a copy of every frame a TX queue takes, written to a file with DPDK's
//! `librte_pcapng` (what `dpdk-dumpcap` writes: one interface per port with its name,
//! nanosecond timestamps).
//!
//! Off, it costs the sending path one relaxed load and a predictable branch ([`on`]). On, the
//! thread that bursts copies its frames into the tap's own mempool just before
//! `rte_eth_tx_burst` (after it the driver may free them) and, for those the queue took, pushes
//! the copies onto a lock-free queue; copies of frames the queue refused are freed (they are
//! copied again when retried). A writer thread of the tap's own writes them to the file. When the
//! tap cannot keep up (its pool or queue is full) a frame is still sent, and counted as
//! `dropped`: the tap never slows down or blocks the sending path.
//!
//! Stopping (a new tap, `NULL`, shutdown, exit): [`ON`] goes false, then the stopper waits
//! (bounded) until no sender is inside a copy ([`USERS`], a Dekker pair with `ON`, both SeqCst),
//! then the writer drains the queue and closes the file: the file is complete when stop returns.
//! A writer stuck in a write (a FIFO whose reader stalled) is waited for 2 s at most; no new tap
//! starts (`EBUSY`) until it is done. The sending path never waits for the writer.

use std::ffi::CString;
use std::os::fd::IntoRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use dpdk_sys as sys;

use crate::port::Mbuf;
use crate::sync::{Backoff, Deadline};

/// Senders copy only while this is true.
static ON: AtomicBool = AtomicBool::new(false);
/// Senders inside a copy (between their check of `ON` and their last push).
static USERS: AtomicUsize = AtomicUsize::new(0);
/// The copies' pool (created at the first start, kept: senders may hold it until they leave).
static POOL: AtomicPtr<sys::rte_mempool> = AtomicPtr::new(std::ptr::null_mut());
/// Copies waiting for the writer (mbuf pointers).
static QUEUE: OnceLock<ArrayQueue<usize>> = OnceLock::new();
static WRITTEN: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The running tap (start/stop only).
static CONTROL: Mutex<Option<Writer>> = Mutex::new(None);
/// A stopped tap's writer still stuck in a write (a pipe whose reader stalled): no new tap
/// starts until it is done, so that it never takes another file's frames.
static LINGERING: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// Copies in flight at most (the queue) and in the pool.
const CAPACITY: usize = 4096;
const POOL_SIZE: u32 = 8191;
/// Per-lcore cache of that pool: senders take and the writer gives back without touching the
/// shared ring each time.
const POOL_CACHE: u32 = 256;
/// How long a stop waits for senders inside a copy (each copies one burst).
const USERS_WAIT: Duration = Duration::from_secs(1);
/// How long a stop waits for the writer to finish the file.
const WRITER_WAIT: Duration = Duration::from_secs(2);
/// How long the writer sleeps when there is nothing to write.
const IDLE: Duration = Duration::from_millis(1);

struct Writer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// What a tap wrote and could not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TapCounts {
    pub written: u64,
    pub dropped: u64,
}

pub(crate) fn counts() -> TapCounts {
    TapCounts {
        written: WRITTEN.load(Ordering::Relaxed),
        dropped: DROPPED.load(Ordering::Relaxed),
    }
}

/// The file being written, if a tap runs.
pub(crate) fn path() -> Option<PathBuf> {
    CONTROL
        .lock()
        .ok()
        .and_then(|c| c.as_ref().map(|w| w.path.clone()))
}

/// Whether frames are being copied: the only cost on the sending path when the tap is off.
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Copies of one burst, taken before the burst; [`Copies::finish`] keeps those the queue took.
pub(crate) struct Copies {
    mbufs: Vec<*mut sys::rte_mbuf>,
}

thread_local! {
    /// Each sending thread's array of copy pointers, reused (no allocation per burst).
    static SCRATCH: std::cell::Cell<Vec<*mut sys::rte_mbuf>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Copies `bufs` (about to be burst on `port`/`queue`), or `None` when the tap is stopping.
#[cold]
#[inline(never)]
pub(crate) fn copy(port: u16, queue: u16, bufs: &[Mbuf]) -> Option<Copies> {
    USERS.fetch_add(1, Ordering::SeqCst);
    if !ON.load(Ordering::SeqCst) {
        USERS.fetch_sub(1, Ordering::Release);
        return None;
    }
    let pool = POOL.load(Ordering::Acquire);
    let mut mbufs = SCRATCH.with(|s| s.take());
    mbufs.clear();
    // SAFETY: plain TSC read.
    let now = unsafe { sys::shim_rte_get_tsc_cycles() };
    let wall = wall_clock_ns();
    for m in bufs {
        // SAFETY: `m` is a finished single-segment mbuf this thread owns until the burst; `pool`
        // is the tap's pool, alive while ON is true and this thread counts in USERS. A NULL
        // result (pool empty) is kept, to count the frame as dropped if the queue takes it.
        let c = unsafe {
            sys::rte_pcapng_copy(
                port,
                u32::from(queue),
                m.as_ptr(),
                pool,
                u32::MAX,
                now,
                sys::rte_pcapng_direction_RTE_PCAPNG_DIRECTION_OUT,
            )
        };
        if !c.is_null() {
            // SAFETY: a copy just made by rte_pcapng_copy, ours alone.
            unsafe { set_timestamp(c, wall) };
        }
        mbufs.push(c);
    }
    Some(Copies { mbufs })
}

/// Now, in nanoseconds since the epoch (CLOCK_REALTIME, a vDSO call).
fn wall_clock_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The Enhanced Packet Block's type, and where its timestamp (high, then low 32 bits, in the
/// file's byte order: the host's) lies in the block.
const EPB_TYPE: u32 = 6;
const EPB_TIMESTAMP_AT: usize = 12;

/// Writes the copy's timestamp ourselves: DPDK 22.11 converts the TSC with a global it updates
/// without synchronization and initializes on first use after the caller read the TSC, so its
/// first timestamps (and any after a concurrent update) land centuries off.
///
/// # Safety
/// `c` is a copy made by `rte_pcapng_copy` that the caller owns.
unsafe fn set_timestamp(c: *mut sys::rte_mbuf, ns: u64) {
    // SAFETY: a pcapng copy starts with its EPB (block type, length, interface, timestamp), in
    // its first segment, at least 28 bytes; the block type is checked before writing.
    unsafe {
        let epb = sys::shim_rte_pktmbuf_mtod(c).cast::<u8>();
        if epb.cast::<u32>().read_unaligned() != EPB_TYPE {
            return;
        }
        let at = epb.add(EPB_TIMESTAMP_AT).cast::<u32>();
        at.write_unaligned((ns >> 32) as u32);
        at.add(1).write_unaligned(ns as u32);
    }
}

impl Copies {
    /// The queue took the first `took` frames: their copies go to the writer, the others' are
    /// freed.
    pub(crate) fn finish(mut self, took: usize) {
        let queue = QUEUE.get().expect("created before ON");
        for (i, &c) in self.mbufs.iter().enumerate() {
            if c.is_null() {
                if i < took {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            if i < took && queue.push(c as usize).is_ok() {
                continue;
            }
            if i < took {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: a copy this thread made and nobody else has.
            unsafe { sys::shim_rte_pktmbuf_free(c) };
        }
        self.mbufs.clear();
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        // Copies not handed on (a panic between copy and finish) are freed.
        for &c in &self.mbufs {
            if !c.is_null() {
                // SAFETY: as in `finish`.
                unsafe { sys::shim_rte_pktmbuf_free(c) };
            }
        }
        let mut v = std::mem::take(&mut self.mbufs);
        v.clear();
        SCRATCH.with(|s| s.set(v));
        USERS.fetch_sub(1, Ordering::Release);
    }
}

/// A pcapng file handle, moved to the writer thread.
struct File(*mut sys::rte_pcapng_t);
// SAFETY: the handle is used by one thread at a time (the writer), and closed by it.
unsafe impl Send for File {}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: the handle is ours; this closes its file descriptor too.
        unsafe { sys::rte_pcapng_close(self.0) };
    }
}

/// Starts writing every frame the TX queues take to `path` (replacing a running tap, whose
/// file is completed first). `max_frame`: the longest frame a port sends.
pub(crate) fn start(path: &Path, max_frame: usize) -> std::io::Result<()> {
    let mut control = CONTROL.lock().unwrap_or_else(|p| p.into_inner());
    stop_locked(&mut control);
    {
        let mut lingering = LINGERING.lock().unwrap_or_else(|p| p.into_inner());
        match lingering.take() {
            Some(h) if !h.is_finished() => {
                *lingering = Some(h);
                return Err(std::io::Error::from_raw_os_error(libc::EBUSY));
            }
            Some(h) => {
                let _ = h.join();
            }
            None => {}
        }
    }
    let queue = QUEUE.get_or_init(|| ArrayQueue::new(CAPACITY));
    // Copies a stuck sender pushed after a previous stop gave up waiting: not this file's.
    while let Some(c) = queue.pop() {
        // SAFETY: a copy nobody else holds.
        unsafe { sys::shim_rte_pktmbuf_free(c as *mut sys::rte_mbuf) };
    }
    if POOL.load(Ordering::Acquire).is_null() {
        let name = CString::new("mtcp_sendpkt_tap").expect("no NUL");
        // SAFETY: plain calls; the name is copied.
        let pool = unsafe {
            let room = sys::rte_pcapng_mbuf_size(max_frame as u32);
            sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                POOL_SIZE,
                POOL_CACHE,
                0,
                u16::try_from(room).unwrap_or(u16::MAX),
                sys::SOCKET_ID_ANY,
            )
        };
        if pool.is_null() {
            let e = crate::port::rte_errno();
            crate::log::error!(
                "pcapng tap: cannot create its mempool ({})",
                crate::port::rte_strerror(e)
            );
            return Err(std::io::Error::from_raw_os_error(e));
        }
        POOL.store(pool, Ordering::Release);
    }
    // O_NONBLOCK: a FIFO nobody reads fails (ENXIO) instead of blocking the caller (or
    // initialization) forever; the writes are blocking again (they happen off the sending path).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let fd = file.into_raw_fd();
    // SAFETY: fcntl on the descriptor just opened.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) != 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
    }
    let app = CString::new(format!("mtcp_sendpkt {}", env!("CARGO_PKG_VERSION"))).expect("no NUL");
    let os = CString::new("Linux").expect("no NUL");
    // SAFETY: `fd` is an open file we own; rte_pcapng takes it (and closes it with the handle).
    // The strings are copied. DPDK writes one interface block per port.
    let handle =
        unsafe { sys::rte_pcapng_fdopen(fd, os.as_ptr(), std::ptr::null(), app.as_ptr(), std::ptr::null()) };
    if handle.is_null() {
        let e = crate::port::rte_errno();
        // SAFETY: not taken by DPDK: ours to close.
        unsafe { libc::close(fd) };
        crate::log::error!("pcapng tap: rte_pcapng_fdopen: {}", crate::port::rte_strerror(e));
        return Err(std::io::Error::from_raw_os_error(e));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let file = File(handle);
    let thread = std::thread::Builder::new()
        .name("mtcp-sendpkt-tap".into())
        .spawn(move || write_until_stopped(file, &s))?;
    *control = Some(Writer {
        path: path.to_owned(),
        stop,
        thread,
    });
    ON.store(true, Ordering::SeqCst);
    Ok(())
}

/// Stops the tap, if one runs: when this returns the file holds every frame a TX queue took
/// while it ran (except those counted as dropped) and is closed.
pub(crate) fn stop() {
    let mut control = CONTROL.lock().unwrap_or_else(|p| p.into_inner());
    stop_locked(&mut control);
}

/// In a forked child: no copies (the writer thread is the parent's).
pub(crate) fn forget_after_fork() {
    ON.store(false, Ordering::SeqCst);
}

fn stop_locked(control: &mut Option<Writer>) {
    let Some(w) = control.take() else { return };
    ON.store(false, Ordering::SeqCst);
    let deadline = Deadline::after(USERS_WAIT);
    let mut backoff = Backoff::new();
    while USERS.load(Ordering::SeqCst) != 0 && !deadline.expired() {
        backoff.wait();
    }
    if USERS.load(Ordering::SeqCst) != 0 {
        crate::log::error!(
            "pcapng tap: a sending thread stayed inside a copy past {USERS_WAIT:?}; its frames may be missing from {}",
            w.path.display()
        );
    }
    w.stop.store(true, Ordering::Release);
    let deadline = Deadline::after(WRITER_WAIT);
    let mut backoff = Backoff::new();
    while !w.thread.is_finished() && !deadline.expired() {
        backoff.wait();
    }
    if w.thread.is_finished() {
        let _ = w.thread.join();
    } else {
        crate::log::error!(
            "pcapng tap: {} does not take what is written (a stalled pipe?): stopped without waiting; \
             no new tap until that write ends",
            w.path.display()
        );
        *LINGERING.lock().unwrap_or_else(|p| p.into_inner()) = Some(w.thread);
    }
}

fn write_until_stopped(file: File, stop: &AtomicBool) {
    // An lcore of its own, for the pool's per-lcore cache.
    crate::port::ensure_lcore();
    // A pipe whose reader went away: EPIPE for this thread, never a SIGPIPE that kills the
    // middlebox (a write's SIGPIPE goes to the writing thread).
    // SAFETY: a signal set built with sigemptyset/sigaddset, applied to this thread only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let queue = QUEUE.get().expect("created before the writer");
    let mut batch: Vec<*mut sys::rte_mbuf> = Vec::with_capacity(32);
    loop {
        // Read before draining: after the stop is seen, one more drain empties the queue.
        let stopping = stop.load(Ordering::Acquire);
        while batch.len() < 32 {
            match queue.pop() {
                Some(c) => batch.push(c as *mut sys::rte_mbuf),
                None => break,
            }
        }
        if batch.is_empty() {
            if stopping {
                break;
            }
            std::thread::sleep(IDLE);
            continue;
        }
        // SAFETY: copies made by rte_pcapng_copy, owned by this thread; the handle is ours.
        let rc = unsafe { sys::rte_pcapng_write_packets(file.0, batch.as_mut_ptr(), batch.len() as u16) };
        if rc < 0 {
            DROPPED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        } else {
            WRITTEN.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        // SAFETY: rte_pcapng_write_packets (22.11) leaves the mbufs to the caller, as
        // dpdk-dumpcap frees them after it; ours to free.
        unsafe { sys::shim_rte_pktmbuf_free_bulk(batch.as_mut_ptr(), batch.len() as u32) };
        batch.clear();
    }
    drop(file);
}

/// Free copies in the tap's pool (for tests: all of them once a tap stopped).
#[cfg(feature = "internals")]
pub(crate) fn pool_available() -> Option<u32> {
    let p = POOL.load(Ordering::Acquire);
    // SAFETY: the pool, once created, lives as long as the process.
    (!p.is_null()).then(|| unsafe { sys::rte_mempool_avail_count(p) })
}
