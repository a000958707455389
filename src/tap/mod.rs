//! The pcapng tap: a copy of every frame a TX queue takes, written to a file in the format
//! `dpdk-dumpcap` writes (one interface per port, named `dpdk:<port>` with the device as its
//! hardware, nanosecond timestamps, each packet marked outbound with its queue).
//!
//! Off, it costs the sending path one relaxed load and a predictable branch ([`on`]). On, the
//! thread that bursts copies each frame's bytes, behind a 24-byte header, into its TX queue's
//! own byte ring ([`ring`]) just before `rte_eth_tx_burst` (after it the driver may free the
//! frames), and publishes the records of the frames the queue took; those it refused are
//! forgotten (they are copied again when retried). No mbuf, no mempool, no thread-local and no
//! lock on that path: a `memcpy` per frame. A writer thread of the tap's own turns the records
//! into pcapng blocks ([`pcapng`]) and writes them. When a ring is full the frame is still sent,
//! and counted as `dropped`: the tap never slows down or blocks sending beyond its copy.
//!
//! Stopping (a new tap, `NULL`, shutdown, exit): the stopper shuts the [`gate`] and waits
//! (bounded) until no sender is inside a copy, then the writer drains the rings and closes the
//! file: the file is complete when stop returns.
//! Records of a sender that stayed inside past that wait carry their session's number and are
//! skipped by any later session's writer. A writer stuck in a write (a FIFO whose reader stalled)
//! is waited for 2 s at most; no new tap starts (`EBUSY`) until it is done. It holds nothing but
//! its rings and its file, so it may outlive shutdown: DPDK's memory is never its to touch.
//! Shutdown and process exit close the tap for good ([`close`]): a later start fails (`EACCES`).

pub(crate) mod gate;
pub(crate) mod pcapng;
pub(crate) mod ring;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sync::{Backoff, Deadline};
use gate::{Gate, Pass};
use ring::{RecordHeader, Ring};

/// Senders copy only while it is open; a stop shuts it and waits for those inside a copy.
static GATE: Gate = Gate::new();
/// The running (or last) tap's number: records carry it, and a writer takes only its own.
static SESSION: AtomicU32 = AtomicU32::new(0);
static WRITTEN: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The running tap, and whether the tap was closed for good (start/stop only).
static CONTROL: Mutex<Control> = Mutex::new(Control {
    writer: None,
    closed: false,
});
/// A stopped tap's writer still stuck in a write (a pipe whose reader stalled): no new tap
/// starts until it is done, so that it never competes for the rings with the next one.
static LINGERING: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);
/// Every TX queue's tap, registered as the queue is made.
static QUEUES: Mutex<Vec<&'static QueueTap>> = Mutex::new(Vec::new());

/// The bytes all rings may take together, and each ring's bounds.
const RINGS_TOTAL: usize = 16 << 20;
const RING_MIN: usize = 256 << 10;
const RING_MAX: usize = 4 << 20;
/// How long a stop waits for senders inside a copy (each copies one burst).
const USERS_WAIT: Duration = Duration::from_secs(1);
/// How long a stop waits for the writer to finish the file.
const WRITER_WAIT: Duration = Duration::from_secs(2);
/// How long the writer sleeps when every ring is empty.
const IDLE: Duration = Duration::from_micros(200);
/// The writer hands the file this much at a time (or what it has, when the rings are empty).
const WRITE_CHUNK: usize = 256 << 10;

struct Control {
    writer: Option<Writer>,
    closed: bool,
}

struct Writer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// One TX queue's part of the tap: its ring, made at the first start and kept (a sender may
/// still be inside a copy when a stop gives up waiting for it).
pub(crate) struct QueueTap {
    port: u16,
    queue: u16,
    ring: OnceLock<Ring>,
}

impl QueueTap {
    /// The tap of TX queue `queue` of port `port`, registered for the writer. Made once per TX
    /// queue (they are made once per process) and never freed.
    pub(crate) fn register(port: u16, queue: u16) -> &'static QueueTap {
        let q: &'static QueueTap = Box::leak(Box::new(QueueTap {
            port,
            queue,
            ring: OnceLock::new(),
        }));
        QUEUES.lock().unwrap_or_else(|p| p.into_inner()).push(q);
        q
    }
}

/// A port as the file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interface {
    pub port: u16,
    /// The device as DPDK names it with its bus (`vdev-net_pcap0`): the interface's hardware.
    pub hardware: String,
    pub mac: [u8; 6],
    /// The longest frame it sends.
    pub snaplen: u32,
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
    let c = CONTROL.lock().unwrap_or_else(|p| p.into_inner());
    c.writer.as_ref().map(|w| w.path.clone())
}

/// Whether frames are being copied: the only cost on the sending path when the tap is off.
#[inline(always)]
pub(crate) fn on() -> bool {
    GATE.is_open()
}

/// The copies of one burst, made before it; [`Recording::finish`] keeps those the queue took.
/// Dropped unfinished (a panic in the burst), it publishes nothing; either way the sender leaves
/// the gate.
pub(crate) struct Recording {
    batch: Option<ring::Batch<'static>>,
    _pass: Pass<'static>,
}

/// Copies `frames` (about to be burst on `tap`'s queue; `bytes` gives a frame's bytes), or
/// `None` when the tap is stopping.
///
/// # Safety
/// The caller holds the queue's exclusive access until the `Recording` is finished or dropped
/// (it is the ring's one producer).
#[cold]
#[inline(never)]
pub(crate) unsafe fn record<B>(
    tap: &'static QueueTap,
    frames: &[B],
    bytes: impl Fn(&B) -> &[u8],
) -> Option<Recording> {
    let pass = GATE.enter()?;
    // Inside the gate: the rings were made before it opened.
    let ring = tap.ring.get()?;
    let header = RecordHeader {
        len: 0,
        ts_ns: wall_clock_ns(),
        session: SESSION.load(Ordering::Relaxed),
    };
    // SAFETY: the caller's contract: this is the ring's one producer until the Recording ends.
    let mut batch = unsafe { ring.batch() };
    for f in frames {
        let b = bytes(f);
        let h = RecordHeader {
            len: b.len() as u32,
            ..header
        };
        if !batch.push(&h, b) {
            // Full: this frame and the later ones of the burst are not recorded.
            break;
        }
    }
    Some(Recording {
        batch: Some(batch),
        _pass: pass,
    })
}

impl Recording {
    /// The queue took the first `took` frames: their records are published (those that found
    /// room; the others are counted as dropped).
    pub(crate) fn finish(mut self, took: usize) {
        if let Some(batch) = self.batch.take() {
            let kept = took.min(batch.len());
            DROPPED.fetch_add((took - kept) as u64, Ordering::Relaxed);
            batch.commit(kept);
        }
    }
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

/// Starts writing every frame the TX queues take to `path` (replacing a running tap, whose file
/// is completed first), the file naming `interfaces`.
pub(crate) fn start(path: &Path, interfaces: Vec<Interface>) -> std::io::Result<()> {
    let mut control = CONTROL.lock().unwrap_or_else(|p| p.into_inner());
    if control.closed {
        return Err(std::io::Error::from_raw_os_error(libc::EACCES));
    }
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
    let queues: Vec<&'static QueueTap> = QUEUES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ring_bytes = (RINGS_TOTAL / queues.len().max(1)).clamp(RING_MIN, RING_MAX);
    for q in &queues {
        let ring = q.ring.get_or_init(|| Ring::new(ring_bytes));
        // Records a sender published after a previous stop gave up waiting for it: not this
        // file's (the consumer may free them whenever it likes).
        // SAFETY: the writer that drained this ring has stopped (or lingers, refused above).
        unsafe { ring.drain(|_, _, _| {}) };
    }
    // O_NONBLOCK: a FIFO nobody reads fails (ENXIO) instead of blocking the caller (or
    // initialization) forever; the writes are blocking again (they happen off the sending path).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    set_blocking(&file)?;
    let session = SESSION.load(Ordering::Relaxed).wrapping_add(1);
    SESSION.store(session, Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let out = FileOut {
        file,
        session,
        interfaces,
        queues,
    };
    let thread = crate::own_thread::spawn("mtcp-sendpkt-tap", move || out.write_until_stopped(&s))?;
    control.writer = Some(Writer {
        path: path.to_owned(),
        stop,
        thread,
    });
    // After the rings and SESSION: a sender that gets in sees them.
    GATE.open();
    Ok(())
}

fn set_blocking(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Stops the tap, if one runs: when this returns the file holds every frame a TX queue took
/// while it ran (except those counted as dropped) and is closed.
pub(crate) fn stop() {
    let mut control = CONTROL.lock().unwrap_or_else(|p| p.into_inner());
    stop_locked(&mut control);
}

/// Stops the tap for good (shutdown, process exit): no tap starts afterwards.
pub(crate) fn close() {
    let mut control = CONTROL.lock().unwrap_or_else(|p| p.into_inner());
    stop_locked(&mut control);
    control.closed = true;
}

/// In a forked child: no copies (the writer thread is the parent's). A plain store.
pub(crate) fn forget_after_fork() {
    GATE.shut_now();
}

fn stop_locked(control: &mut Control) {
    let Some(w) = control.writer.take() else { return };
    if !GATE.shut(&Deadline::after(USERS_WAIT)) {
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

/// The writer's side: the file, the session it writes, the ports it names and the rings.
struct FileOut {
    file: std::fs::File,
    session: u32,
    interfaces: Vec<Interface>,
    queues: Vec<&'static QueueTap>,
}

impl FileOut {
    fn write_until_stopped(self, stop: &AtomicBool) {
        let FileOut {
            mut file,
            session,
            interfaces,
            queues,
        } = self;
        // A pipe whose reader went away: EPIPE for this thread, never a SIGPIPE that kills the
        // middlebox (a write's SIGPIPE goes to the writing thread, which blocks every signal).
        let mut out = Vec::with_capacity(WRITE_CHUNK + 4096);
        pcapng::section_header(
            &mut out,
            "Linux",
            &format!("mtcp_sendpkt {}", env!("CARGO_PKG_VERSION")),
        );
        for i in &interfaces {
            pcapng::interface(
                &mut out,
                &format!("dpdk:{}", i.port),
                &i.hardware,
                i.mac,
                i.snaplen,
            );
        }
        // The header blocks count as no frame.
        let mut frames = 0u64;
        let mut ok = flush(&mut file, &mut out, &mut frames);
        loop {
            // Read before draining: after the stop is seen, one more pass empties the rings.
            let stopping = stop.load(Ordering::Acquire);
            let mut any = false;
            for q in &queues {
                let Some(ring) = q.ring.get() else { continue };
                let interface = interfaces.iter().position(|i| i.port == q.port);
                // SAFETY: this thread is the rings' one consumer while it runs (a new tap starts
                // only once it ended).
                let n = unsafe {
                    ring.drain(|h, a, b| {
                        if let (Some(i), true) = (interface, h.session == session) {
                            pcapng::packet(&mut out, i as u32, h.ts_ns, a, b, u32::from(q.queue));
                            frames += 1;
                        }
                    })
                };
                any |= n > 0;
                if out.len() >= WRITE_CHUNK {
                    ok &= flush(&mut file, &mut out, &mut frames);
                }
            }
            if !out.is_empty() {
                ok &= flush(&mut file, &mut out, &mut frames);
            }
            if !any {
                if stopping {
                    break;
                }
                std::thread::sleep(IDLE);
            }
        }
        if !ok {
            crate::log::error!(
                "pcapng tap: writing the file failed; the frames not written are counted as dropped"
            );
        }
    }
}

/// Writes `out` (holding `frames` packets) to `file` and empties both; false if the write failed
/// (the packets are then counted as dropped).
fn flush(file: &mut std::fs::File, out: &mut Vec<u8>, frames: &mut u64) -> bool {
    let ok = file.write_all(out).is_ok();
    if ok {
        WRITTEN.fetch_add(*frames, Ordering::Relaxed);
    } else {
        DROPPED.fetch_add(*frames, Ordering::Relaxed);
    }
    out.clear();
    *frames = 0;
    ok
}

/// Bytes the rings hold that the writer has not taken yet (for tests: 0 once a tap stopped).
#[cfg(feature = "internals")]
pub(crate) fn pending_bytes() -> usize {
    let queues = QUEUES.lock().unwrap_or_else(|p| p.into_inner());
    queues
        .iter()
        .filter_map(|q| q.ring.get())
        .map(Ring::pending)
        .sum()
}
