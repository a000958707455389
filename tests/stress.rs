//! Threads: 2 and 4 threads calling with the same `mctx` and with one each, on `net_null` (the TX
//! queue always takes) and `net_ring` (read back by a drainer thread, so back-pressure is real).
//! No crash, the counters add up, and every accepted frame is accounted for: transmitted on
//! `net_null`, received from the ring on `net_ring`. On `net_null`, which never refuses a frame,
//! no call may be refused either (EAGAIN there would be the library's own making).
//!
//! Calls per thread: `MTCP_SENDPKT_STRESS_CALLS` (20 000 by default; `make check-long` runs 1 000 000).

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use support::*;

fn calls_per_thread() -> u64 {
    std::env::var("MTCP_SENDPKT_STRESS_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// The ring behind TX queue `q` of the `net_ring0` vdev. The library sets up one RX queue per
/// port (it never receives), so the frames of queue k > 0 are read from the ring itself.
/// The ring behind TX queue `q` of net_ring0, if the port has that queue.
fn ring_of_queue(q: u16) -> Option<usize> {
    let name = std::ffi::CString::new(format!("ETH_RXTX{q}_net_ring0")).unwrap();
    // SAFETY: valid name; lookup only reads the ring list.
    let r = unsafe { dpdk_sys::rte_ring_lookup(name.as_ptr()) };
    (!r.is_null()).then_some(r as usize)
}

/// Reads and frees everything waiting in `ring`; returns how many frames.
fn drain_ring(ring: usize) -> u64 {
    let mut bufs = [std::ptr::null_mut::<std::ffi::c_void>(); 64];
    // SAFETY: 64 slots; the ring holds mbufs, which become ours to free.
    unsafe {
        let n = dpdk_sys::shim_rte_ring_dequeue_burst(ring as *mut dpdk_sys::rte_ring, bufs.as_mut_ptr(), 64);
        dpdk_sys::shim_rte_pktmbuf_free_bulk(bufs.as_mut_ptr().cast(), n);
        u64::from(n)
    }
}

fn stress(threads: usize, cores: usize, same_mctx: bool, ring: bool) {
    let per_thread = calls_per_thread();
    // Start the library (and its ports) before the drainer polls the ring.
    assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), cores as i32);
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Every TX queue's ring: the core contexts' and their lanes' (a thread calling with an mctx
    // another thread owns sends on a lane, a TX queue of its own).
    let rings: Vec<usize> = if ring {
        (0..16).map_while(ring_of_queue).collect()
    } else {
        Vec::new()
    };
    let drainer = ring.then(|| {
        let (received, stop, rings) = (received.clone(), stop.clone(), rings.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let n: u64 = rings.iter().copied().map(drain_ring).sum();
                received.fetch_add(n, Ordering::Relaxed);
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        })
    });
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let cpu = if same_mctx { 0 } else { (i % cores) as i32 };
            std::thread::spawn(move || {
                let mut o = Observed::new([10, 0, 0, 10], i as u32, &TS_OPTIONS, b"stress");
                let pi = o.pkt_info();
                let (mut ok, mut busy) = (0u64, 0u64);
                for _ in 0..per_thread {
                    match send(cpu, 1, &pi) {
                        Ok(()) => ok += 1,
                        Err(libc::EAGAIN) | Err(libc::ENOBUFS) => busy += 1,
                        Err(e) => panic!("unexpected errno {e}"),
                    }
                }
                (ok, busy)
            })
        })
        .collect();
    let (ok, busy) = workers
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let elapsed = started.elapsed();
    for cpu in 0..cores as i32 {
        let mut ctx = mtcp_sendpkt::mtcp_context { cpu };
        // Retry: on the ring the drainer may still be catching up.
        // SAFETY: valid mctx.
        while unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) } < 0 {}
    }
    let total: mtcp_sendpkt::mtcp_sendpkt_stats =
        (0..cores as i32).map(stats).fold(Default::default(), |mut a, s| {
            a.accepted += s.accepted;
            a.transmitted += s.transmitted;
            a.pending += s.pending;
            a.rejected += s.rejected;
            a
        });
    if let Some(d) = drainer {
        // Everything transmitted is on the rings now: read the rest, then stop the drainer.
        while received.load(Ordering::Relaxed) < total.transmitted {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Release);
        d.join().unwrap();
        let left: u64 = rings.iter().copied().map(drain_ring).sum();
        assert_eq!(left, 0, "nothing beyond what was transmitted");
        assert_eq!(
            received.load(Ordering::Relaxed),
            total.accepted,
            "every accepted frame came out of the ring"
        );
    }
    if !ring {
        // net_null takes every frame at once: a refusal could only be the library's own.
        let st = (0..cores as i32)
            .map(stats)
            .fold((0, 0), |a, s| (a.0 + s.tx_busy, a.1 + s.no_mbuf));
        assert_eq!(
            busy, 0,
            "calls refused on a port that never refuses (EAGAIN, ENOBUFS): {st:?}"
        );
    }
    assert_eq!(total.accepted, ok, "accepted counter == calls that returned 0");
    assert_eq!(total.transmitted, ok, "every accepted frame reached a TX queue");
    assert_eq!(total.pending, 0);
    assert_eq!(total.rejected, busy);
    assert_eq!(ok + busy, threads as u64 * per_thread);
    eprintln!(
        "stress: {threads} threads, {} mctx, {}: {ok} accepted, {busy} back-pressured, {:.2} M calls/s",
        if same_mctx {
            "one".to_string()
        } else {
            format!("{cores}")
        },
        if ring { "net_ring" } else { "net_null" },
        (threads as u64 * per_thread) as f64 / elapsed.as_secs_f64() / 1e6
    );
}

macro_rules! stress_test {
    ($name:ident, $threads:expr, $cores:expr, $same:expr, $ring:expr) => {
        #[test]
        fn $name() {
            let vdev = if $ring {
                "--vdev net_ring0"
            } else {
                "--vdev net_null0"
            };
            let out = Isolated::new(stringify!($name))
                .with_port(vdev)
                // One or two core contexts, as the case asks (the config has one netdev mask).
                .env("MTCP_SENDPKT_CORES", $cores.to_string())
                .env("MTCP_SENDPKT_STRESS_CALLS", calls_per_thread().to_string())
                .run(|_| stress($threads, $cores, $same, $ring));
            if let Some((_, out)) = out {
                for line in String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| l.starts_with("stress:"))
                {
                    eprintln!("{line}");
                }
            }
        }
    };
}

stress_test!(two_threads_one_mctx_null, 2, 1, true, false);
stress_test!(four_threads_one_mctx_null, 4, 1, true, false);
stress_test!(two_threads_two_mctx_null, 2, 2, false, false);
stress_test!(four_threads_two_mctx_null, 4, 2, false, false);
stress_test!(two_threads_one_mctx_ring, 2, 1, true, true);
stress_test!(four_threads_one_mctx_ring, 4, 1, true, true);
stress_test!(two_threads_two_mctx_ring, 2, 2, false, true);
stress_test!(four_threads_two_mctx_ring, 4, 2, false, true);

/// One thread, batching, with the flusher waking every microsecond so that it often holds the TX
/// lock while the sender hands frames over. Nothing refuses a frame here (net_null always takes,
/// the pool is ample): a refusal means mbufs pile up somewhere. Regression: the flusher's drain
/// of the hand-off queue once ran as long as the sender kept pushing, and staging swallowed the
/// whole mempool (ENOBUFS).
#[test]
fn one_thread_batched_with_a_busy_flusher_never_refuses() {
    Isolated::new("one_thread_batched_with_a_busy_flusher_never_refuses")
        .with_port("--vdev net_null0")
        // Overridden: a flusher waking every microsecond (the case under test), the default
        // burst pinned.
        .env("MTCP_SENDPKT_BURST", "32")
        .env("MTCP_SENDPKT_FLUSH_US", "1")
        .env("MTCP_SENDPKT_STRESS_CALLS", calls_per_thread().to_string())
        .run(|_| {
            let calls = calls_per_thread() * 10;
            let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
            let pi = o.pkt_info();
            for i in 0..calls {
                if let Err(e) = send(0, 1, &pi) {
                    panic!("call {i} refused with errno {e}: {:?}", stats(0));
                }
            }
            let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
            // SAFETY: valid mctx.
            assert!(unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) } >= 0);
            let st = stats(0);
            assert_eq!((st.accepted, st.transmitted, st.rejected), (calls, calls, 0));
        });
}
