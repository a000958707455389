//! On DPDK's `net_ring` port (TX queue k is read back from RX queue k): the frames come back byte
//! for byte, DPDK's own checksum helpers agree, a TX queue that does not drain gives back-pressure
//! (EAGAIN/ENOBUFS, never a hang) without losing an mbuf, and threads can share one `mctx`.

mod support;

use std::time::{Duration, Instant};
use support::*;

const RING: &str = "--vdev net_ring0";

/// Reads every frame waiting on RX queue 0 of port 0 (each mbuf freed after copying).
fn drain_rx() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut bufs = [std::ptr::null_mut::<dpdk_sys::rte_mbuf>(); 64];
        // SAFETY: 64 slots; EAL and the port are up.
        let n = unsafe { dpdk_sys::shim_rte_eth_rx_burst(0, 0, bufs.as_mut_ptr(), 64) };
        for &m in &bufs[..usize::from(n)] {
            // SAFETY: a received single-segment mbuf we own until freed.
            unsafe {
                let len = dpdk_sys::shim_rte_pktmbuf_pkt_len(m) as usize;
                let data = dpdk_sys::shim_rte_pktmbuf_mtod(m).cast::<u8>();
                out.push(std::slice::from_raw_parts(data, len).to_vec());
                dpdk_sys::shim_rte_pktmbuf_free(m);
            }
        }
        if n == 0 {
            return out;
        }
    }
}

#[test]
fn ring_loopback_returns_the_frames_byte_for_byte() {
    Isolated::new("ring_loopback_returns_the_frames_byte_for_byte")
        .with_port(RING)
        .run(|_| {
            let mut inputs: Vec<Observed> = (0..20)
                .map(|i| Observed::new([10, 0, 0, 10], i, &TS_OPTIONS, &vec![i as u8; i as usize * 70]))
                .collect();
            for o in &mut inputs {
                send(0, 3, &o.pkt_info()).unwrap();
            }
            flush(0);
            let frames = drain_rx();
            assert_eq!(frames.len(), inputs.len());
            let mut mac = dpdk_sys::rte_ether_addr::default();
            // SAFETY: valid out-parameter.
            unsafe { dpdk_sys::rte_eth_macaddr_get(0, &mut mac) };
            for (f, o) in frames.iter().zip(&inputs) {
                check_frame(f, o, ARP_10, mac.addr_bytes);
                // DPDK's own helpers agree with the checksums on the wire (a valid header sums to 0).
                // SAFETY: f holds a full IPv4/TCP frame.
                unsafe {
                    let ip = f.as_ptr().add(14).cast();
                    assert_eq!(dpdk_sys::shim_rte_ipv4_cksum(ip), 0, "IPv4 checksum per DPDK");
                    let tcp = f.as_ptr().add(34).cast();
                    assert_eq!(
                        dpdk_sys::shim_rte_ipv4_udptcp_cksum(ip, tcp),
                        0,
                        "TCP checksum per DPDK"
                    );
                }
            }
        });
}

#[test]
fn a_full_tx_queue_gives_eagain_then_recovers_without_losing_mbufs() {
    let t = Isolated::new("a_full_tx_queue_gives_eagain_then_recovers_without_losing_mbufs")
        .with_port(RING)
        // Overridden: a pool larger than the ring and the staging together (so the queue, not
        // the pool, is what fills), and a short wait so the many EAGAINs take little time.
        .env("MTCP_SENDPKT_MBUFS", "4095")
        .env("MTCP_SENDPKT_TX_WAIT_US", "200");
    t.run(|_| {
        let initial = mtcp_sendpkt::api::free_mbufs().expect("running");
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"fill");
        let pi = o.pkt_info();
        // Nobody reads the ring (1023 slots): the TX queue fills, then the 64-frame staging.
        let started = Instant::now();
        let mut accepted = 0u64;
        let err = loop {
            match send(0, 1, &pi) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 10_000, "never pushed back");
        };
        assert_eq!(err, libc::EAGAIN);
        assert!(started.elapsed() < Duration::from_secs(5), "bounded wait");
        let st = stats(0);
        assert_eq!(st.accepted, accepted);
        assert_eq!(
            st.accepted,
            st.transmitted + st.pending,
            "every accepted frame accounted for"
        );
        assert!(st.pending > 0 && st.tx_busy == 1);

        // Drain the ring: staged frames go out (flusher or explicit flush), sending resumes.
        let mut received = drain_rx().len() as u64;
        let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
        // SAFETY: valid mctx.
        let flushed = unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) };
        assert!(flushed >= 0, "flush after drain");
        send(0, 1, &pi).expect("sending resumes");
        received += drain_rx().len() as u64;
        let st = stats(0);
        assert_eq!(st.pending, 0);
        assert_eq!(received, st.accepted, "every accepted frame came out of the ring");
        assert_eq!(mtcp_sendpkt::api::free_mbufs(), Ok(initial), "no mbuf leaked");
    });
}

#[test]
fn an_empty_mempool_gives_enobufs_then_recovers() {
    let t = Isolated::new("an_empty_mempool_gives_enobufs_then_recovers")
        .with_port(RING)
        // Overridden: a pool small enough to empty before the ring fills.
        .env("MTCP_SENDPKT_MBUFS", "300");
    t.run(|_| {
        let initial = mtcp_sendpkt::api::free_mbufs().expect("running");
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        let pi = o.pkt_info();
        let mut accepted = 0;
        let err = loop {
            match send(0, 1, &pi) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 10_000, "never ran out");
        };
        assert_eq!(err, libc::ENOBUFS);
        assert_eq!(stats(0).no_mbuf, 1);
        flush(0);
        assert_eq!(drain_rx().len(), accepted);
        send(0, 1, &pi).expect("mbufs are back");
        flush(0);
        assert_eq!(drain_rx().len(), 1);
        assert_eq!(mtcp_sendpkt::api::free_mbufs(), Ok(initial), "no mbuf leaked");
    });
}

#[test]
fn threads_sharing_one_mctx_lose_nothing() {
    const THREADS: usize = 4;
    const PER_THREAD: u64 = 50_000;
    let t = Isolated::new("threads_sharing_one_mctx_lose_nothing").with_port("--vdev net_null0");
    t.run(|_| {
        assert!(mtcp_sendpkt::mtcp_sendpkt_cores() >= 1);
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut o = Observed::new([10, 0, 0, 10], i as u32, &TS_OPTIONS, b"thread");
                    let pi = o.pkt_info();
                    let mut ok = 0u64;
                    for _ in 0..PER_THREAD {
                        match send(0, 1, &pi) {
                            Ok(()) => ok += 1,
                            Err(e) => assert_eq!(e, libc::EAGAIN, "only back-pressure may refuse"),
                        }
                    }
                    ok
                })
            })
            .collect();
        let ok: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
        // SAFETY: valid mctx.
        assert!(unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) } >= 0);
        let st = stats(0);
        assert_eq!(st.accepted, ok);
        assert_eq!(st.transmitted, ok, "every accepted frame reached the TX queue");
        assert_eq!(st.pending, 0);
        assert_eq!(st.accepted + st.rejected, THREADS as u64 * PER_THREAD);
    });
}

/// The library's own mbuf code refuses to mark more bytes than the buffer holds (a safe
/// function must not be able to make the PMD read past it).
#[test]
fn an_mbuf_cannot_be_given_a_length_beyond_its_buffer() {
    Isolated::new("an_mbuf_cannot_be_given_a_length_beyond_its_buffer")
        .with_port(RING)
        .run(|_| {
            assert!(mtcp_sendpkt::mtcp_sendpkt_cores() > 0, "running");
            let room = mtcp_sendpkt::internals::with_finished_mbuf(0, false, |_| (), |_, _, room| room)
                .expect("an mbuf");
            let fits = mtcp_sendpkt::internals::with_finished_mbuf(room, false, |_| (), |_, _, _| ());
            assert!(fits.is_some(), "exactly the room is fine");
            let past = mtcp_sendpkt::internals::with_finished_mbuf(room + 1, false, |_| (), |_, _, _| ());
            assert!(past.is_none(), "one byte past the room is refused");
        });
}

#[test]
fn mbuf_fields_written_from_rust_read_back_through_dpdk() {
    Isolated::new("mbuf_fields_written_from_rust_read_back_through_dpdk")
        .with_port(RING)
        .run(|_| {
            assert!(mtcp_sendpkt::mtcp_sendpkt_cores() > 0, "running");
            for (len, offload) in [(66u16, false), (1514, true)] {
                let (mut data_len, mut pkt_len, mut flags, mut l2, mut l3) = (0u16, 0u32, 0u64, 0u8, 0u16);
                mtcp_sendpkt::internals::with_finished_mbuf(
                    usize::from(len),
                    offload,
                    |_| (),
                    |raw, start, room_len| {
                        let raw = raw.cast_mut();
                        // SAFETY: raw is a live mbuf the library owns until we return; we only
                        // read it; out-parameters are valid.
                        unsafe {
                            assert_eq!(
                                dpdk_sys::shim_rte_pktmbuf_mtod(raw).cast::<u8>().cast_const(),
                                start,
                                "mtod"
                            );
                            dpdk_sys::shim_mbuf_get_tx(
                                raw,
                                &mut data_len,
                                &mut pkt_len,
                                &mut flags,
                                &mut l2,
                                &mut l3,
                            );
                            assert_eq!(
                                usize::from(dpdk_sys::shim_rte_pktmbuf_tailroom(raw)) + usize::from(len),
                                room_len
                            );
                        }
                    },
                )
                .expect("an mbuf");
                assert_eq!((data_len, pkt_len), (len, u32::from(len)));
                let want = dpdk_sys::SHIM_MBUF_F_TX_IPV4
                    | dpdk_sys::SHIM_MBUF_F_TX_IP_CKSUM
                    | dpdk_sys::SHIM_MBUF_F_TX_TCP_CKSUM;
                assert_eq!((flags, l2, l3), if offload { (want, 14, 20) } else { (0, 0, 0) });
            }
        });
}
