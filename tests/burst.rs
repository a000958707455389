//! `mtcp_sendpkt_burst`: the same frames as single calls, in order; the per-packet error
//! semantics (how many were accepted, which one was refused and why); guests; `Core::send_burst`.

mod support;

use mtcp_sendpkt::api::TcpPacket;
use mtcp_sendpkt::{mtcp_context, mtcp_sendpkt_burst, pkt_info};
use support::*;

const PCAP: &str = "--vdev net_pcap0,tx_pcap={dir}/out.pcap";

/// `mtcp_sendpkt_burst(cpu, sockid, pkts)`: its return value and, when it is less than the
/// number of packets, errno (0 otherwise: errno means nothing after a call that succeeded, and the
/// library's start makes system calls of its own).
fn burst(cpu: i32, sockid: i32, pkts: &[*const pkt_info]) -> (i32, i32) {
    let mut ctx = mtcp_context { cpu };
    // SAFETY: ctx is valid; every pointer is NULL or to a pkt_info from Observed::pkt_info.
    let n = unsafe { mtcp_sendpkt_burst(&mut ctx, sockid, pkts.as_ptr(), pkts.len() as u32) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap();
    (n, if (n as usize) < pkts.len() { errno } else { 0 })
}

fn inputs() -> Vec<(Observed, [u8; 6])> {
    let payload = |n: usize| (0..n).map(|i| (i * 7 + 3) as u8).collect::<Vec<_>>();
    vec![
        (Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, &[]), ARP_10),
        (
            Observed::new([10, 0, 0, 77], 2, &TS_OPTIONS, &payload(100)),
            ARP_NET,
        ),
        (Observed::new([10, 0, 0, 10], 3, &[], &payload(1448)), ARP_10),
        (Observed::new([10, 0, 0, 78], 4, &TS_OPTIONS, &[]), ARP_NET),
        (Observed::new([10, 0, 0, 10], 5, &TS_OPTIONS, &payload(1)), ARP_10),
    ]
}

/// Two bursts of the owner (the first puts its destinations into the route cache, the second
/// finds them there), then one of a guest thread (another thread, same mctx): every frame on
/// the wire in order, each byte for byte the frame mOS emits (parsed by etherparse).
#[test]
fn a_burst_puts_each_packets_mos_frame_on_the_wire_in_order() {
    let t = Isolated::new("a_burst_puts_each_packets_mos_frame_on_the_wire_in_order").with_port(PCAP);
    let Some((dir, _)) = t.run(|dir| {
        let mut owned = inputs();
        let infos: Vec<pkt_info> = owned.iter_mut().map(|(o, _)| o.pkt_info()).collect();
        let ptrs: Vec<*const pkt_info> = infos.iter().map(|p| p as *const _).collect();
        assert_eq!(burst(0, 1, &ptrs), (5, 0), "all accepted");
        // Again: the destinations are in the route cache now.
        assert_eq!(burst(0, 1, &ptrs), (5, 0), "all accepted");
        flush(0);
        // A guest: a thread that is not context 0's owner.
        let guest = std::thread::spawn(|| {
            let mut owned = inputs();
            let infos: Vec<pkt_info> = owned.iter_mut().map(|(o, _)| o.pkt_info()).collect();
            let ptrs: Vec<*const pkt_info> = infos.iter().map(|p| p as *const _).collect();
            burst(0, 1, &ptrs)
        });
        assert_eq!(guest.join().unwrap(), (5, 0));
        flush(0);
        let st = stats(0);
        assert_eq!(
            (st.accepted, st.transmitted, st.pending, st.rejected),
            (15, 15, 0, 0)
        );
        let mut mac = dpdk_sys::rte_ether_addr::default();
        // SAFETY: EAL is up; valid out-parameter.
        assert_eq!(unsafe { dpdk_sys::rte_eth_macaddr_get(0, &mut mac) }, 0);
        std::fs::write(dir.join("mac"), mac.addr_bytes).unwrap();
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    let mac: [u8; 6] = std::fs::read(dir.join("mac")).unwrap().try_into().unwrap();
    let inputs = inputs();
    assert_eq!(frames.len(), 3 * inputs.len(), "one frame per accepted packet");
    for (frame, (input, dst)) in frames.iter().zip(inputs.iter().cycle()) {
        check_frame(frame, input, *dst, mac);
    }
}

/// The return value counts the packets accepted from the first; the next one was refused, with
/// the errno `mtcp_sendpkt` gives it, and nothing after it was tried. Call-level errors give 0.
#[test]
fn a_burst_stops_at_the_first_refused_packet_and_says_why() {
    let t = Isolated::new("a_burst_stops_at_the_first_refused_packet_and_says_why").with_port(PCAP);
    let Some((dir, _)) = t.run(|_| {
        let mut good: Vec<Observed> = (0..4)
            .map(|i| Observed::new([10, 0, 0, 10], 10 + i, &TS_OPTIONS, b""))
            .collect();
        let mut unrouted = Observed::new([10, 0, 9, 1], 99, &TS_OPTIONS, b"");
        let g: Vec<pkt_info> = good.iter_mut().map(|o| o.pkt_info()).collect();
        let bad_route = unrouted.pkt_info();
        let mut no_headers = g[0];
        no_headers.tcph = std::ptr::null_mut();
        let p = |x: &pkt_info| x as *const pkt_info;

        // Refused in the middle: 2 accepted, errno of the third, the fourth not tried.
        assert_eq!(
            burst(0, 1, &[p(&g[0]), p(&g[1]), p(&bad_route), p(&g[2])]),
            (2, libc::EHOSTUNREACH)
        );
        // The caller goes on after the refused one.
        assert_eq!(burst(0, 1, &[p(&g[2])]), (1, 0));
        // Each single-call error, at the first packet and later.
        assert_eq!(
            burst(0, 1, &[p(&g[3]), std::ptr::null()]),
            (1, libc::EACCES),
            "NULL pkt_info"
        );
        assert_eq!(burst(0, 1, &[p(&no_headers), p(&g[3])]), (0, libc::ENODATA));
        assert_eq!(burst(0, -1, &[p(&g[3])]), (0, libc::EBADF));
        // Call-level errors.
        assert_eq!(burst(7, 1, &[p(&g[3])]), (0, libc::EACCES), "no such core");
        let mut ctx = mtcp_context { cpu: 0 };
        // SAFETY: pkts NULL with n > 0, n above INT_MAX, mctx NULL, n 0: nothing is read.
        unsafe {
            *libc::__errno_location() = 0;
            assert_eq!(mtcp_sendpkt_burst(&mut ctx, 1, std::ptr::null(), 3), 0);
            assert_eq!(*libc::__errno_location(), libc::EINVAL);
            let one = [p(&g[3])];
            *libc::__errno_location() = 0;
            assert_eq!(mtcp_sendpkt_burst(&mut ctx, 1, one.as_ptr(), u32::MAX), 0);
            assert_eq!(*libc::__errno_location(), libc::EINVAL);
            assert_eq!(mtcp_sendpkt_burst(std::ptr::null_mut(), 1, one.as_ptr(), 1), 0);
            assert_eq!(*libc::__errno_location(), libc::EACCES);
            *libc::__errno_location() = 0;
            assert_eq!(mtcp_sendpkt_burst(&mut ctx, 1, std::ptr::null(), 0), 0);
            assert_eq!(*libc::__errno_location(), 0, "n 0: nothing to say");
        }
        flush(0);
        let st = stats(0);
        // Refusals counted against the core: the no-route, NULL, no-headers and socket ones.
        assert_eq!((st.accepted, st.transmitted, st.rejected), (4, 4, 4));
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    let seqs: Vec<u32> = frames
        .iter()
        .map(|f| u32::from_be_bytes(f[38..42].try_into().unwrap()))
        .collect();
    assert_eq!(
        seqs,
        [10, 11, 12, 13],
        "the accepted ones, in order, nothing else"
    );
}

/// With `MTCP_SENDPKT_ERRORS=mos` a packet `mtcp_sendpkt` would return 0 for (no route) counts
/// as accepted and the burst goes on; one mOS refuses too (no headers) still stops it.
#[test]
fn in_mos_error_mode_a_burst_goes_on_where_mtcp_sendpkt_returns_0() {
    let t = Isolated::new("in_mos_error_mode_a_burst_goes_on_where_mtcp_sendpkt_returns_0")
        .with_port(PCAP)
        // The setting under test.
        .env("MTCP_SENDPKT_ERRORS", "mos");
    let Some((dir, _)) = t.run(|_| {
        let mut a = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        let mut b = Observed::new([10, 0, 9, 1], 2, &TS_OPTIONS, b"");
        let mut c = Observed::new([10, 0, 0, 10], 3, &TS_OPTIONS, b"");
        let (a, b, c) = (a.pkt_info(), b.pkt_info(), c.pkt_info());
        let mut no_headers = c;
        no_headers.iph = std::ptr::null_mut();
        let p = |x: &pkt_info| x as *const pkt_info;
        assert_eq!(burst(0, 1, &[p(&a), p(&b), p(&c)]), (3, 0));
        assert_eq!(burst(0, 1, &[p(&a), p(&no_headers), p(&c)]), (1, libc::ENODATA));
        flush(0);
        let st = stats(0);
        assert_eq!((st.accepted, st.transmitted, st.rejected), (3, 3, 2));
    }) else {
        return;
    };
    assert_eq!(read_pcap(&dir.join("out.pcap")).len(), 3);
}

/// The Rust API's burst: the count and the first refusal.
#[test]
fn core_send_burst_reports_the_count_and_the_first_refusal() {
    let t = Isolated::new("core_send_burst_reports_the_count_and_the_first_refusal").with_port(PCAP);
    let Some((dir, _)) = t.run(|_| {
        let core = mtcp_sendpkt::api::core(0).expect("core 0");
        let a = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        let b = Observed::new([10, 0, 9, 1], 2, &TS_OPTIONS, b"");
        let packets = [a.bytes, b.bytes];
        let pkts: Vec<TcpPacket<'_>> = packets.iter().map(|p| TcpPacket::from_ipv4(p).unwrap()).collect();
        assert_eq!(core.send_burst(&pkts[..1]), (1, None));
        assert_eq!(
            core.send_burst(&[pkts[0], pkts[1], pkts[0]]),
            (1, Some(mtcp_sendpkt::SendError::NoRoute))
        );
        core.flush().unwrap();
        let st = core.stats();
        assert_eq!((st.accepted, st.transmitted, st.rejected), (2, 2, 1));
    }) else {
        return;
    };
    assert_eq!(read_pcap(&dir.join("out.pcap")).len(), 2);
}
