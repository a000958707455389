//! The default batching's latency, measured on `net_ring` (a test binary of its own, so that no
//! other test's process competes for the CPUs while it measures).

mod support;

use std::time::{Duration, Instant};
use support::*;

const RING: &str = "--vdev net_ring0";

/// The default batching's promise, measured: a frame staged behind another (the second of a
/// pair; the first, after a quiet spell, leaves within the call) reaches the port within
/// `MTCP_SENDPKT_FLUSH_US` (100 µs by default) with no further call. A reader thread takes
/// frames off the ring as they arrive and timestamps them.
///
/// What the flusher can do is bounded by how fast this machine wakes a sleeping nice-19 thread:
/// on a VM, waking an idle CPU costs tens of microseconds, and the flusher wakes twice per
/// frame (the owner's notify, then its timer). So beside every pair the test times a peer
/// thread doing exactly that and no more (unparked, sleeps a quarter of the interval with the
/// flusher's timer slack and nice value, records), and holds the flusher to the peer plus a
/// margin as well as to the interval (see the asserts).
#[test]
fn a_batched_frame_waits_at_most_the_flush_interval() {
    const PAIRS: u32 = 1000;
    Isolated::new("a_batched_frame_waits_at_most_the_flush_interval")
        .with_port(RING)
        .run(|_| {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 1);
            let ring = ring_of_queue(0);
            let start = Instant::now();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let reader = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    // (seq, arrival in ns since start)
                    let mut seen = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for f in dequeue(ring) {
                            let seq = u32::from_be_bytes(f[38..42].try_into().unwrap());
                            seen.push((seq, start.elapsed()));
                        }
                    }
                    seen
                })
            };
            let peer = WakePeer::start(FLUSH / 4);
            let mut sent = Vec::new();
            for i in 0..PAIRS {
                let mut first = Observed::new([10, 0, 0, 10], 2 * i, &TS_OPTIONS, b"");
                let mut second = Observed::new([10, 0, 0, 10], 2 * i + 1, &TS_OPTIONS, b"");
                send(0, 1, &first.pkt_info()).unwrap();
                send(0, 1, &second.pkt_info()).unwrap();
                sent.push(start.elapsed());
                std::thread::sleep(Duration::from_millis(1));
                peer.time_one();
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(20));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let seen = reader.join().unwrap();
            let mut floor = peer.finish();
            assert_eq!(floor.len(), PAIRS as usize, "the peer timed every wake-up");
            floor.sort_unstable();
            assert_eq!(seen.len(), 2 * PAIRS as usize, "every frame arrived");
            let mut waits: Vec<Duration> = seen
                .iter()
                .filter(|(seq, _)| seq % 2 == 1)
                .map(|&(seq, at)| at.saturating_sub(sent[(seq / 2) as usize]))
                .collect();
            waits.sort_unstable();
            let pct = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
            eprintln!(
                "measured: staged frame's wait (default settings, {PAIRS} frames): p50 {:?} p90 {:?} p99 {:?} max {:?}; \
                 the machine's wake-up floor (peer): p50 {:?} p90 {:?} p99 {:?} max {:?}",
                pct(&waits, 50),
                pct(&waits, 90),
                pct(&waits, 99),
                waits[waits.len() - 1],
                pct(&floor, 50),
                pct(&floor, 90),
                pct(&floor, 99),
                floor[floor.len() - 1],
            );
            // Half the frames are held to the machine's own wake-up (the peer's median) plus a
            // quarter interval: the flusher's work and the reader's polling (measured about
            // 6 µs). Nine in ten to the interval, or where this machine's own wake-ups leave
            // less than half of it, to the peer's 90th percentile plus half an interval. The
            // worst only to "no later call needed", since a loaded 2-CPU VM can keep the
            // (nice 19) flusher off a CPU for milliseconds.
            assert!(
                pct(&waits, 50) <= pct(&floor, 50) + FLUSH / 4,
                "median wait {:?}, the peer's {:?}",
                pct(&waits, 50),
                pct(&floor, 50)
            );
            let bound = FLUSH.max(pct(&floor, 90) + FLUSH / 2);
            assert!(
                pct(&waits, 90) <= bound,
                "90th percentile wait {:?}, above {bound:?} (the peer's {:?})",
                pct(&waits, 90),
                pct(&floor, 90)
            );
            assert!(waits[waits.len() - 1] < Duration::from_millis(20), "a frame waited {:?}", waits[waits.len() - 1]);
        });
}

/// `MTCP_SENDPKT_FLUSH_US`'s default.
const FLUSH: Duration = Duration::from_micros(100);

/// A thread that does what the flusher does for a staged frame, with nothing else: it is
/// unparked, sleeps until `delay` after the unpark (timer slack 1 µs, nice 19, as the flusher
/// sets them) and records how long after the unpark it got there.
struct WakePeer {
    thread: std::thread::JoinHandle<Vec<Duration>>,
    shared: std::sync::Arc<PeerShared>,
}

struct PeerShared {
    epoch: Instant,
    /// When the last request was made (ns since `epoch`), and how many were made; 0 = stop.
    asked_at: std::sync::atomic::AtomicU64,
    asked: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
}

impl WakePeer {
    fn start(delay: Duration) -> WakePeer {
        use std::sync::atomic::Ordering::{Acquire, Release};
        let shared = std::sync::Arc::new(PeerShared {
            epoch: Instant::now(),
            asked_at: 0.into(),
            asked: 0.into(),
            done: 0.into(),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            // SAFETY: both calls take integers and change only the calling thread.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
            }
            let mut took = Vec::new();
            loop {
                let asked = s.asked.load(Acquire);
                if asked == u64::MAX {
                    return took;
                }
                if asked == s.done.load(Acquire) {
                    std::thread::park();
                    continue;
                }
                let at = Duration::from_nanos(s.asked_at.load(Acquire));
                loop {
                    let now = s.epoch.elapsed();
                    if now >= at + delay {
                        break;
                    }
                    std::thread::park_timeout(at + delay - now);
                }
                took.push(s.epoch.elapsed() - at);
                s.done.store(asked, Release);
            }
        });
        WakePeer { thread, shared }
    }

    /// One timed wake-up; returns once the peer recorded it.
    fn time_one(&self) {
        use std::sync::atomic::Ordering::{Acquire, Release};
        let s = &self.shared;
        let n = s.asked.load(Acquire) + 1;
        s.asked_at.store(s.epoch.elapsed().as_nanos() as u64, Release);
        s.asked.store(n, Release);
        self.thread.thread().unpark();
        while s.done.load(Acquire) != n {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn finish(self) -> Vec<Duration> {
        self.shared
            .asked
            .store(u64::MAX, std::sync::atomic::Ordering::Release);
        self.thread.thread().unpark();
        self.thread.join().unwrap()
    }
}

/// Takes every frame waiting on `ring` (the ring behind a net_ring queue), copying each.
fn dequeue(ring: usize) -> Vec<Vec<u8>> {
    let mut bufs = [std::ptr::null_mut::<std::ffi::c_void>(); 64];
    // SAFETY: 64 slots; the ring holds mbufs, which become ours to read and free.
    unsafe {
        let n = dpdk_sys::shim_rte_ring_dequeue_burst(ring as *mut dpdk_sys::rte_ring, bufs.as_mut_ptr(), 64);
        bufs[..n as usize]
            .iter()
            .map(|&m| {
                let m = m.cast::<dpdk_sys::rte_mbuf>();
                let len = dpdk_sys::shim_rte_pktmbuf_pkt_len(m) as usize;
                let data = dpdk_sys::shim_rte_pktmbuf_mtod(m).cast::<u8>();
                let frame = std::slice::from_raw_parts(data, len).to_vec();
                dpdk_sys::shim_rte_pktmbuf_free(m);
                frame
            })
            .collect()
    }
}

/// The ring behind TX queue `q` of the `net_ring0` vdev.
fn ring_of_queue(q: u16) -> usize {
    let name = std::ffi::CString::new(format!("ETH_RXTX{q}_net_ring0")).unwrap();
    // SAFETY: valid name; lookup only reads the ring list.
    let r = unsafe { dpdk_sys::rte_ring_lookup(name.as_ptr()) };
    assert!(!r.is_null(), "no ring {name:?}");
    r as usize
}
