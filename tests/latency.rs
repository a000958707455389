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
#[test]
fn a_batched_frame_waits_at_most_the_flush_interval() {
    const PAIRS: u32 = 300;
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
            let mut sent = Vec::new();
            for i in 0..PAIRS {
                let mut first = Observed::new([10, 0, 0, 10], 2 * i, &TS_OPTIONS, b"");
                let mut second = Observed::new([10, 0, 0, 10], 2 * i + 1, &TS_OPTIONS, b"");
                send(0, 1, &first.pkt_info()).unwrap();
                send(0, 1, &second.pkt_info()).unwrap();
                sent.push(start.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(20));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let seen = reader.join().unwrap();
            assert_eq!(seen.len(), 2 * PAIRS as usize, "every frame arrived");
            let mut waits: Vec<Duration> = seen
                .iter()
                .filter(|(seq, _)| seq % 2 == 1)
                .map(|&(seq, at)| at.saturating_sub(sent[(seq / 2) as usize]))
                .collect();
            waits.sort_unstable();
            let pct = |p: usize| waits[(waits.len() * p / 100).min(waits.len() - 1)];
            eprintln!(
                "measured: staged frame's wait (default settings, {PAIRS} frames): p50 {:?} p90 {:?} p99 {:?} max {:?}",
                pct(50),
                pct(90),
                pct(99),
                waits[waits.len() - 1]
            );
            // The flusher aims at a quarter of the interval, leaving the rest for its wake-ups.
            // Nine in ten frames are held to the interval; the worst only to "no later call
            // needed", since a loaded 2-CPU VM can keep the (nice 19) flusher off a CPU for
            // milliseconds.
            assert!(pct(90) <= Duration::from_micros(100), "90th percentile wait {:?}", pct(90));
            assert!(waits[waits.len() - 1] < Duration::from_millis(20), "a frame waited {:?}", waits[waits.len() - 1]);
        });
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
