//! Hostile input: every row of the errno contract plus malformed headers, each laid out so that
//! its last readable byte is followed by an unmapped (PROT_NONE) page. A read past what the call
//! had a right to read crashes the test process; a wrong answer fails it. Accepted frames are
//! checked on the wire afterwards.

mod support;

use std::ptr::{null, null_mut};

use support::*;

const PAGE: usize = 4096;

/// Bytes placed so that they end exactly where a PROT_NONE guard page begins.
struct Guarded {
    base: *mut u8,
    start: *mut u8,
}

impl Guarded {
    fn new(bytes: &[u8]) -> Self {
        assert!(bytes.len() <= PAGE);
        // SAFETY: a fresh anonymous mapping of two pages; the second is made inaccessible.
        unsafe {
            let base = libc::mmap(
                null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(base, libc::MAP_FAILED);
            let base = base.cast::<u8>();
            assert_eq!(libc::mprotect(base.add(PAGE).cast(), PAGE, libc::PROT_NONE), 0);
            let start = base.add(PAGE - bytes.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len());
            Guarded { base, start }
        }
    }

    fn at(&self, offset: usize) -> *mut u8 {
        // SAFETY: within (or at the end of) the mapping; only used as a pointer value here.
        unsafe { self.start.add(offset) }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new().
        unsafe { libc::munmap(self.base.cast(), 2 * PAGE) };
    }
}

fn ipv4(ihl: u8, daddr: [u8; 4]) -> Vec<u8> {
    let mut ip = vec![0u8; usize::from(ihl.max(5)) * 4];
    ip[0] = 0x40 | ihl;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&daddr);
    ip
}

fn tcp(doff: u8, options: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&1111u16.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[12] = doff << 4;
    t.extend_from_slice(options);
    t
}

/// One hostile call: a packet (IPv4 header immediately followed by TCP header and payload) ending
/// at a guard page, and how `pkt_info` points into it.
struct Case {
    name: &'static str,
    packet: Vec<u8>,
    /// Offset of the TCP header (may claim to be beyond the packet).
    tcp_at: usize,
    ip_len: u16,
    payloadlen: u16,
    /// Offset of the payload, or None for a NULL payload pointer.
    payload_at: Option<usize>,
    want: Result<(), i32>,
}

fn case(name: &'static str, ip: Vec<u8>, t: Vec<u8>, ip_len: Option<u16>, want: Result<(), i32>) -> Case {
    let tcp_at = ip.len();
    let len = (ip.len() + t.len()) as u16;
    Case {
        name,
        packet: [ip, t].concat(),
        tcp_at,
        ip_len: ip_len.unwrap_or(len),
        payloadlen: 0,
        payload_at: None,
        want,
    }
}

fn cases() -> Vec<Case> {
    let dst = [10, 0, 0, 10];
    let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    let mut v = vec![
        case(
            "valid, Timestamp at the very end",
            ipv4(5, dst),
            tcp(8, &ts),
            None,
            Ok(()),
        ),
        case(
            "version 6",
            {
                let mut i = ipv4(5, dst);
                i[0] = 0x65;
                i
            },
            tcp(5, &[]),
            None,
            Err(libc::ENODATA),
        ),
        case("IHL 4", ipv4(4, dst), tcp(5, &[]), None, Err(libc::ENODATA)),
        case("IHL 0", ipv4(0, dst), tcp(5, &[]), None, Err(libc::ENODATA)),
        case(
            "TCP data offset 4",
            ipv4(5, dst),
            tcp(4, &[]),
            None,
            Err(libc::ENODATA),
        ),
        case(
            "TCP data offset 0",
            ipv4(5, dst),
            tcp(0, &[]),
            None,
            Err(libc::ENODATA),
        ),
        // Data offset 15 claims 60 bytes; only 32 exist before the guard page and ip_len says so.
        case(
            "data offset 15, options run past the packet",
            ipv4(5, dst),
            tcp(15, &ts),
            None,
            Ok(()),
        ),
        case(
            "option length 0",
            ipv4(5, dst),
            tcp(8, &[2, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            None,
            Ok(()),
        ),
        case(
            "option length 1",
            ipv4(5, dst),
            tcp(8, &[2, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            None,
            Ok(()),
        ),
        case(
            "option length past the end",
            ipv4(5, dst),
            tcp(6, &[1, 1, 2, 40]),
            None,
            Ok(()),
        ),
        case(
            "Timestamp of length 8",
            ipv4(5, dst),
            tcp(8, &[1, 1, 8, 8, 0, 0, 0, 1, 0, 0, 1, 1]),
            None,
            Ok(()),
        ),
        case(
            "ip_len too short for any TCP header",
            ipv4(5, dst),
            tcp(5, &[]),
            Some(30),
            Err(libc::ENODATA),
        ),
        case(
            "no route",
            ipv4(5, [172, 16, 0, 1]),
            tcp(5, &[]),
            None,
            Err(libc::EHOSTUNREACH),
        ),
    ];
    // IHL 15 claims a 60-byte IPv4 header; the packet is 40 bytes, so the TCP header it implies lies
    // in the guard page: refused without reading it.
    let mut ip = ipv4(5, dst);
    ip[0] = 0x4f;
    let mut c = case(
        "IHL 15 beyond the packet",
        ip,
        tcp(5, &[]),
        None,
        Err(libc::ENODATA),
    );
    c.tcp_at = 60;
    v.push(c);
    // payloadlen 65535 with 10 payload bytes before the guard page: refused before any copy.
    let mut c = case(
        "payloadlen 65535",
        ipv4(5, dst),
        [tcp(5, &[]), vec![7; 10]].concat(),
        None,
        Err(libc::EMSGSIZE),
    );
    (c.payloadlen, c.payload_at) = (65535, Some(40));
    v.push(c);
    // The payload's last byte is the last byte before the guard page.
    let mut c = case(
        "payload ends at the guard page",
        ipv4(5, dst),
        [tcp(5, &[]), vec![9; 3]].concat(),
        None,
        Ok(()),
    );
    (c.payloadlen, c.payload_at) = (3, Some(40));
    v.push(c);
    let mut c = case(
        "payloadlen 1, payload NULL",
        ipv4(5, dst),
        tcp(5, &[]),
        None,
        Err(libc::EINVAL),
    );
    c.payloadlen = 1;
    v.push(c);
    v
}

fn call(c: &Case, cpu: i32, sockid: i32) -> Result<(), i32> {
    let g = Guarded::new(&c.packet);
    let pi = mtcp_sendpkt::pkt_info {
        cur_ts: 0,
        in_ifidx: 0,
        eth_len: 0,
        ip_len: c.ip_len,
        offset: 0,
        payloadlen: c.payloadlen,
        seq: 0,
        ack_seq: 0,
        window: 0,
        ethh: null_mut(),
        iph: g.at(0).cast(),
        tcph: g.at(c.tcp_at).cast(),
        payload: c.payload_at.map_or(null_mut(), |o| g.at(o)),
    };
    send(cpu, sockid, &pi)
}

#[test]
fn hostile_headers_get_their_errno_and_never_a_read_past_them() {
    let t = Isolated::new("hostile_headers_get_their_errno_and_never_a_read_past_them")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap");
    let Some((dir, out)) = t.run(|_| {
        let mut accepted = 0;
        for c in cases() {
            assert_eq!(call(&c, 0, 1), c.want, "{}", c.name);
            accepted += u64::from(c.want.is_ok());
            eprintln!("hostile input: {:<45} -> {:?}", c.name, c.want);
        }
        let good = &cases()[0];
        for cpu in [i32::MIN, -1, 1, i32::MAX] {
            assert_eq!(call(good, cpu, 1), Err(libc::EACCES), "cpu {cpu}");
        }
        assert_eq!(call(good, 0, i32::MIN), Err(libc::EBADF));
        assert_eq!(call(good, 0, -1), Err(libc::EBADF));
        let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
        // SAFETY: NULL pinfo / NULL mctx are the contract under test.
        unsafe {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt(&mut ctx, 1, null()), -1);
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt(null_mut(), 1, null()), -1);
        }
        flush(0);
        let st = stats(0);
        assert_eq!(st.accepted, accepted);
        assert_eq!(st.transmitted, accepted);
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    let want_ok = cases().iter().filter(|c| c.want.is_ok()).count();
    assert_eq!(frames.len(), want_ok);
    for f in &frames {
        let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!()
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
            panic!()
        };
        assert_eq!(
            t.checksum(),
            t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap()
        );
        assert_eq!(t.data_offset(), 8);
    }
    // Timestamps: found at the very end of a header, absent (zeros) for every malformed list.
    let ts: Vec<[u8; 8]> = frames.iter().map(|f| f[58..66].try_into().unwrap()).collect();
    assert_eq!(ts[0], [0, 0, 0, 1, 0, 0, 0, 2]);
    assert_eq!(
        ts[1],
        [0, 0, 0, 1, 0, 0, 0, 2],
        "data offset 15: the option inside the packet is read"
    );
    assert!(ts[2..].iter().all(|t| *t == [0; 8]), "{ts:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("payloadlen 65535"));
}

#[test]
fn control_the_guard_page_catches_a_read_one_byte_past() {
    use std::os::unix::process::ExitStatusExt;
    let status = Isolated::new("control_the_guard_page_catches_a_read_one_byte_past").run_status(|_| {
        let g = Guarded::new(&[1, 2, 3]);
        // SAFETY: deliberately not: this reads the guard page, which must kill the process.
        let past = unsafe { std::ptr::read_volatile(g.at(3)) };
        eprintln!("read {past} past the end: the guard page did not work");
    });
    if let Some(status) = status {
        assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}");
    }
}

#[test]
fn ethh_at_a_guard_page_is_read_only_for_h_dest() {
    let conf = "mos {\n route_table {\n 0.0.0.0/0 dpdk0\n }\n}\n";
    let t = Isolated::new("ethh_at_a_guard_page_is_read_only_for_h_dest")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", conf);
    let Some((dir, _)) = t.run(|_| {
        // h_dest only, at an odd address: h_source/h_proto would lie in the guard page.
        let eth = Guarded::new(&[6, 5, 4, 3, 2, 1]);
        assert_eq!(eth.at(0) as usize % 2, 0);
        let eth_odd = Guarded::new(&[0, 6, 5, 4, 3, 2, 1]);
        let c = case("x", ipv4(5, [8, 8, 8, 8]), tcp(5, &[]), None, Ok(()));
        let g = Guarded::new(&c.packet);
        let mut pi = mtcp_sendpkt::pkt_info {
            ip_len: c.ip_len,
            iph: g.at(0).cast(),
            tcph: g.at(20).cast(),
            ..empty_pkt_info()
        };
        assert_eq!(send(0, 1, &pi), Err(libc::EHOSTUNREACH), "no ARP table, no ethh");
        pi.ethh = eth.at(0).cast();
        assert_eq!(send(0, 1, &pi), Ok(()));
        pi.ethh = eth_odd.at(1).cast();
        assert_eq!(send(0, 1, &pi), Ok(()));
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f[..6] == [6, 5, 4, 3, 2, 1]));
}

/// mOS never reads `pinfo->ethh`; a middlebox may leave it pointing anywhere. With an ARP entry
/// for the destination the library must not read it either: here it points into the guard page
/// itself, so any read crashes the test.
#[test]
fn ethh_is_not_read_when_the_arp_table_answers() {
    let conf = "mos {\n arp_table {\n 8.8.8.8/32 02:00:00:00:00:08\n }\n}\n";
    let t = Isolated::new("ethh_is_not_read_when_the_arp_table_answers")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", conf);
    let Some((dir, _)) = t.run(|_| {
        let unreadable = Guarded::new(&[]);
        let c = case("x", ipv4(5, [8, 8, 8, 8]), tcp(5, &[]), None, Ok(()));
        let g = Guarded::new(&c.packet);
        let pi = mtcp_sendpkt::pkt_info {
            ip_len: c.ip_len,
            ethh: unreadable.at(0).cast(),
            iph: g.at(0).cast(),
            tcph: g.at(20).cast(),
            ..empty_pkt_info()
        };
        assert_eq!(send(0, 1, &pi), Ok(()));
        flush(0);
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0][..6], [2, 0, 0, 0, 0, 8], "the ARP table's MAC");
}

/// `mtcp_sendpkt_reset` and `mtcp_sendpkt_segment` read the headers they were given and nothing
/// more: each piece ends at a guard page (the IPv4 header, its TCP header, the payload, `ethh`
/// apart from them; an IPv6 header with an extension header right before its TCP header). A TCP
/// header claiming more than `ip_len` leaves is refused unread.
#[test]
fn resets_and_raw_segments_read_only_their_headers() {
    let conf = "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n }\n route_table {\n }\n}\n";
    let t = Isolated::new("resets_and_raw_segments_read_only_their_headers")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", conf);
    let Some((dir, _)) = t.run(|_| {
        use support::segment::{raw, reset};
        let eth = Guarded::new(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]);
        let ip = Guarded::new(&ipv4(6, [10, 0, 0, 2]));
        let th = Guarded::new(&tcp(7, &[1; 8]));
        let payload = Guarded::new(b"abc");
        let mut pi = mtcp_sendpkt::pkt_info {
            payloadlen: 3,
            ethh: eth.at(0).cast(),
            iph: ip.at(0).cast(),
            tcph: th.at(0).cast(),
            payload: payload.at(0),
            ..empty_pkt_info()
        };
        assert_eq!(reset(&pi, 3), Ok(2));
        assert_eq!(raw(&pi), Ok(1));
        // IPv6 with a hop-by-hop header, then TCP, ending at the guard page.
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        v6[6] = 0;
        v6[7] = 64;
        v6[23] = 1;
        v6[39] = 2;
        v6.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        let tcp_at = v6.len();
        v6.extend_from_slice(&tcp(5, &[]));
        let g6 = Guarded::new(&v6);
        let mut pi6 = mtcp_sendpkt::pkt_info {
            iph: g6.at(0).cast(),
            tcph: g6.at(tcp_at).cast(),
            payloadlen: 0,
            payload: null_mut(),
            ..pi
        };
        assert_eq!(reset(&pi6, 3), Ok(2));
        assert_eq!(raw(&pi6), Ok(1));
        // The chain says 16 bytes of hop-by-hop, tcph says 8: refused.
        let mut bad = v6.clone();
        bad[41] = 1;
        let gb = Guarded::new(&bad);
        pi6.iph = gb.at(0).cast();
        pi6.tcph = gb.at(tcp_at).cast();
        assert_eq!(reset(&pi6, 3), Err(libc::ENODATA));
        // Data offset 15 in a packet whose ip_len leaves 20 bytes: refused unread.
        let packet = [ipv4(5, [10, 0, 0, 2]), tcp(15, &[])].concat();
        let gp = Guarded::new(&packet);
        pi.iph = gp.at(0).cast();
        pi.tcph = gp.at(20).cast();
        pi.ip_len = 40;
        pi.payloadlen = 0;
        assert_eq!(reset(&pi, 3), Err(libc::ENODATA));
        assert_eq!(raw(&pi), Err(libc::ENODATA));
        flush(0);
    }) else {
        return;
    };
    assert_eq!(read_pcap(&dir.join("out.pcap")).len(), 6);
}
