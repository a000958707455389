//! Beyond mOS's ACK: `mtcp_sendpkt_reset` and `mtcp_sendpkt_segment`. Frames are checked byte by
//! byte on `net_pcap` with an independent parser (etherparse): the RST's numbers, the flow's
//! VLAN tags, IPv4 options and IPv6 extension headers, segmentation. Then against Linux: two
//! Linux endpoints in network namespaces of the test's own, connected through a bridge the
//! library's `net_af_packet` port is on, lose their connection to our RSTs (and keep it when a RST
//! is one sequence number off), and a listening Linux socket answers our raw SYN.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use etherparse::{NetSlice, SlicedPacket, TransportSlice, VlanSlice};
use mtcp_sendpkt::api::{self, Directions, Segment};
use mtcp_sendpkt::mtcp_context;
use support::segment::*;
use support::*;

/// The ARP entry of the receiver (10.1.0.2) in CONF: it wins over `ethh`.
const RECEIVER_ARP: [u8; 6] = [2, 0, 0, 0, 0xaa, 2];
const CONF: &str = "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n 10.1.0.2/32 02:00:00:00:aa:02\n }\n route_table {\n }\n}\n";

/// What a test checks of one frame on the wire.
#[derive(Debug, PartialEq, Eq)]
struct Wire {
    dst_mac: [u8; 6],
    vlans: Vec<u16>,
    src: String,
    dst: String,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// Parses a frame with etherparse, checking both checksums.
fn wire(f: &[u8]) -> Wire {
    let p = SlicedPacket::from_ethernet(f).unwrap_or_else(|e| panic!("{e:?}"));
    let vlans = match &p.vlan {
        None => vec![],
        Some(VlanSlice::SingleVlan(v)) => vec![v.vlan_identifier().value()],
        Some(VlanSlice::DoubleVlan(d)) => vec![
            d.outer().vlan_identifier().value(),
            d.inner().vlan_identifier().value(),
        ],
    };
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        panic!("not TCP")
    };
    let (src, dst) = match &p.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
            assert_eq!(
                t.checksum(),
                t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap()
            );
            (
                ip.header().source_addr().to_string(),
                ip.header().destination_addr().to_string(),
            )
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header().to_header();
            assert_eq!(
                t.checksum(),
                t.to_header().calc_checksum_ipv6(&h, t.payload()).unwrap()
            );
            (
                ip.header().source_addr().to_string(),
                ip.header().destination_addr().to_string(),
            )
        }
        _ => panic!("no IP"),
    };
    Wire {
        dst_mac: f[..6].try_into().unwrap(),
        vlans,
        src,
        dst,
        sport: t.source_port(),
        dport: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        flags: t.slice()[13],
        payload: t.payload().to_vec(),
    }
}

const QINQ: [u8; 8] = [0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x07];

#[test]
fn resets_go_both_ways_with_the_flows_tags() {
    let t = Isolated::new("resets_go_both_ways_with_the_flows_tags")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", CONF);
    let Some((dir, _)) = t.run(|_| {
        // IPv4 in QinQ, ACK|PSH with 7 payload bytes: both directions.
        let mut f = frame(&Spec {
            tags: &QINQ,
            payload: b"1234567",
            ..V4
        });
        assert_eq!(reset(&f.pkt_info(true), 3), Ok(2));
        // IPv6 in one tag, a SYN without ACK: each direction alone.
        let mut f6 = frame(&Spec {
            v6: true,
            tags: &QINQ[4..],
            src: "fd00::1",
            dst: "fd00::2",
            flags: SYN,
            seq: 77,
            ack: 0,
            ..V4
        });
        assert_eq!(reset(&f6.pkt_info(true), 2), Ok(1));
        assert_eq!(reset(&f6.pkt_info(true), 1), Ok(1));
        // The Rust API on the same frame gives the same frames.
        let core = api::core(0).unwrap();
        let seg = Segment::from_ethernet(&f.bytes).unwrap();
        assert_eq!(core.reset(&seg, Directions::BOTH), Ok(2));
        flush(0);
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    assert_eq!(frames.len(), 6);
    let w: Vec<Wire> = frames.iter().map(|f| wire(f)).collect();
    let rst = |dst_mac, vlans: &[u16], src: &str, dst: &str, ports: (u16, u16), seq, ack, flags| Wire {
        dst_mac,
        vlans: vlans.to_vec(),
        src: src.into(),
        dst: dst.into(),
        sport: ports.0,
        dport: ports.1,
        seq,
        ack,
        flags,
        payload: vec![],
    };
    // Toward the receiver: its ARP entry; toward the sender (no ARP entry): ethh's source.
    assert_eq!(
        w[0],
        rst(
            RECEIVER_ARP,
            &[100, 7],
            "10.1.0.1",
            "10.1.0.2",
            (40000, 80),
            1007,
            5000,
            RST | ACK
        )
    );
    assert_eq!(
        w[1],
        rst(
            SENDER_MAC,
            &[100, 7],
            "10.1.0.2",
            "10.1.0.1",
            (80, 40000),
            5000,
            1007,
            RST | ACK
        )
    );
    // A SYN counts one; without ACK: RST alone toward the receiver, seq 0 toward the sender.
    assert_eq!(
        w[2],
        rst(RECEIVER_MAC, &[7], "fd00::1", "fd00::2", (40000, 80), 78, 0, RST)
    );
    assert_eq!(
        w[3],
        rst(
            SENDER_MAC,
            &[7],
            "fd00::2",
            "fd00::1",
            (80, 40000),
            0,
            78,
            RST | ACK
        )
    );
    assert_eq!(frames[4], frames[0], "the Rust API writes the same bytes");
    assert_eq!(frames[5], frames[1]);
    // No options, window 0, IPv4 id 0, DF, TTL 64; IPv6 hop limit 64.
    let p = SlicedPacket::from_ethernet(&frames[0]).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!()
    };
    let h = ip.header().to_header();
    assert_eq!(
        (h.identification, h.dont_fragment, h.time_to_live, h.options.len()),
        (0, true, 64, 0)
    );
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        panic!()
    };
    assert_eq!((t.window_size(), t.options().len()), (0, 0));
    let p = SlicedPacket::from_ethernet(&frames[2]).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(ip.header().hop_limit(), 64);
}

#[test]
fn raw_segments_keep_every_header_and_split_to_the_mtu() {
    let t = Isolated::new("raw_segments_keep_every_header_and_split_to_the_mtu")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", CONF);
    // MSS 1460, SACK permitted, window scale 7, NOP padding.
    const SYN_OPTIONS: [u8; 12] = [2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1];
    const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0, 0];
    // Hop-by-hop options (PadN), then destination options (PadN), then TCP.
    const EXT: [u8; 16] = [60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
    let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let Some((dir, _)) = t.run(|_| {
        let mut syn = frame(&Spec {
            tags: &QINQ[4..],
            ip_extra: &ROUTER_ALERT,
            flags: SYN | ECE | CWR,
            ack: 0,
            options: &SYN_OPTIONS,
            ..V4
        });
        assert_eq!(raw(&syn.pkt_info(true)), Ok(1));
        let mut big = frame(&Spec {
            flags: ACK | PSH | FIN,
            payload: &payload,
            ..V4
        });
        assert_eq!(
            raw(&big.pkt_info(true)),
            Ok(3),
            "3000 bytes at an MTU of 1500: 3 frames"
        );
        let mut v6 = frame(&Spec {
            v6: true,
            ip_extra: &EXT,
            first_next: 0,
            src: "fd00::1",
            dst: "fd00::2",
            payload: b"hello",
            ..V4
        });
        assert_eq!(raw(&v6.pkt_info(true)), Ok(1));
        // The Rust API on the whole frame.
        let seg = Segment::from_ethernet(&v6.bytes).unwrap();
        assert_eq!(api::core(0).unwrap().send_raw(&seg), Ok(1));
        flush(0);
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    assert_eq!(frames.len(), 6);
    // The SYN: every header byte as the caller wrote it, checksums aside.
    let p = SlicedPacket::from_ethernet(&frames[0]).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(ip.header().options(), &ROUTER_ALERT);
    assert_eq!((ip.header().identification(), ip.header().ttl()), (0x4242, 63));
    let w = wire(&frames[0]);
    assert_eq!(
        (w.vlans.as_slice(), w.flags, w.seq, w.ack),
        (&[7u16][..], SYN | ECE | CWR, 1000, 0)
    );
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        panic!()
    };
    assert_eq!(t.options(), &SYN_OPTIONS);
    assert_eq!(t.window_size(), 1000);
    // The big one: cut at the MTU, numbers advanced, PSH and FIN on the last only.
    let mut joined = Vec::new();
    for (i, f) in frames[1..4].iter().enumerate() {
        assert!(f.len() <= 1514, "{}", f.len());
        let w = wire(f);
        assert_eq!(w.seq, 1000 + joined.len() as u32);
        let last = i == 2;
        assert_eq!(w.flags, if last { ACK | PSH | FIN } else { ACK }, "frame {i}");
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!()
        };
        assert_eq!(ip.header().identification(), 0x4242 + i as u16);
        joined.extend_from_slice(&w.payload);
    }
    assert_eq!(joined, payload);
    // IPv6 with its extension headers, from C and from Rust alike.
    let p = SlicedPacket::from_ethernet(&frames[4]).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!()
    };
    assert_eq!(ip.extensions().slice(), &EXT);
    assert_eq!(ip.header().hop_limit(), 63);
    assert_eq!(wire(&frames[4]).payload, b"hello");
    assert_eq!(frames[5], frames[4]);
}

#[test]
fn bad_calls_get_their_errno_and_mtcp_sendpkt_stays_ipv4() {
    let t = Isolated::new("bad_calls_get_their_errno_and_mtcp_sendpkt_stays_ipv4")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", CONF);
    let Some((dir, _)) = t.run(|_| {
        let mut f = frame(&V4);
        let pi = f.pkt_info(true);
        // SAFETY: NULL mctx and NULL pkt_info are what is being tested.
        unsafe {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_reset(std::ptr::null_mut(), &pi, 3), -1);
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EACCES));
        }
        let mut ctx = mtcp_context { cpu: 0 };
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                mtcp_sendpkt::mtcp_sendpkt_reset(&mut ctx, std::ptr::null(), 3),
                -1
            );
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EACCES));
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_segment(&mut ctx, std::ptr::null()), -1);
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EACCES));
        }
        for d in [0, 4, -1] {
            assert_eq!(reset(&pi, d), Err(libc::EINVAL), "directions {d}");
        }
        let mut no_ip = f.pkt_info(true);
        no_ip.iph = std::ptr::null_mut();
        assert_eq!(reset(&no_ip, 3), Err(libc::ENODATA));
        assert_eq!(raw(&no_ip), Err(libc::ENODATA));
        let mut udp = frame(&V4);
        udp.bytes[udp.ip_at + 9] = 17;
        assert_eq!(reset(&udp.pkt_info(true), 3), Err(libc::ENODATA));
        // IPv6 whose tcph does not follow its 40-byte header.
        let mut v6 = frame(&Spec {
            v6: true,
            src: "fd00::1",
            dst: "fd00::2",
            ..V4
        });
        let mut short = v6.pkt_info(true);
        // SAFETY: still inside the frame.
        short.tcph = unsafe { short.iph.cast::<u8>().add(20) }.cast();
        assert_eq!(reset(&short, 3), Err(libc::ENODATA));
        // No ARP entry for 10.1.0.1 and no ethh: nowhere to send toward the sender.
        assert_eq!(reset(&f.pkt_info(false), 1), Err(libc::EHOSTUNREACH));
        // The receiver has an ARP entry: that direction goes, the call says 1.
        assert_eq!(reset(&f.pkt_info(false), 3), Ok(1));
        let mut nul = frame(&Spec {
            payload: b"abc",
            ..V4
        });
        let mut pi = nul.pkt_info(true);
        pi.payload = std::ptr::null_mut();
        assert_eq!(raw(&pi), Err(libc::EINVAL));
        // mtcp_sendpkt itself is mOS's: IPv6 is ENODATA there.
        assert_eq!(send(0, 1, &v6.pkt_info(true)), Err(libc::ENODATA));
        flush(0);
    }) else {
        return;
    };
    assert_eq!(
        read_pcap(&dir.join("out.pcap")).len(),
        1,
        "the one RST toward the receiver"
    );
}

/// IPv6 entries in the same `route_table`/`arp_table` blocks decide the port and the MAC of IPv6
/// segments; IPv4 (no IPv4 route here) still goes to the first port.
#[test]
fn ipv6_segments_follow_the_ipv6_routes_and_neighbours() {
    const CONF6: &str = "mos {\n netdev {\n dpdk0 0x1\n dpdk1 0x1\n }\n arp_table {\n \
                         fd01::2/128 02:00:00:00:bb:02\n }\n route_table {\n fd01::/64 dpdk1\n \
                         fd02::/64 dpdk0\n }\n}\n";
    let t = Isolated::new("ipv6_segments_follow_the_ipv6_routes_and_neighbours")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/p0.pcap --vdev net_pcap1,tx_pcap={dir}/p1.pcap")
        .file("mos.conf", CONF6);
    let Some((dir, _)) = t.run(|_| {
        let v6 = |src, dst| Spec {
            v6: true,
            src,
            dst,
            ..V4
        };
        let mut f = frame(&v6("fd01::1", "fd01::2"));
        // Toward the receiver: its neighbour entry, port 1; toward the sender: ethh's source.
        assert_eq!(reset(&f.pkt_info(true), 3), Ok(2));
        assert_eq!(
            reset(&f.pkt_info(false), 3),
            Ok(1),
            "without ethh only the receiver's entry answers"
        );
        let mut g = frame(&v6("fd01::1", "fd02::5"));
        assert_eq!(raw(&g.pkt_info(true)), Ok(1), "fd02::/64 is dpdk0");
        assert_eq!(
            raw(&g.pkt_info(false)),
            Err(libc::EHOSTUNREACH),
            "no neighbour, no ethh"
        );
        let mut h = frame(&v6("fd01::1", "fd03::5"));
        assert_eq!(
            raw(&h.pkt_info(true)),
            Err(libc::EHOSTUNREACH),
            "no IPv6 route matches"
        );
        let mut four = frame(&V4);
        assert_eq!(
            raw(&four.pkt_info(true)),
            Ok(1),
            "IPv4: no route table, the first port"
        );
        flush(0);
    }) else {
        return;
    };
    let p0: Vec<Wire> = read_pcap(&dir.join("p0.pcap")).iter().map(|f| wire(f)).collect();
    let p1: Vec<Wire> = read_pcap(&dir.join("p1.pcap")).iter().map(|f| wire(f)).collect();
    let on =
        |w: &[Wire]| -> Vec<([u8; 6], String)> { w.iter().map(|w| (w.dst_mac, w.dst.clone())).collect() };
    let bb = [2, 0, 0, 0, 0xbb, 2];
    assert_eq!(
        on(&p1),
        [
            (bb, "fd01::2".to_string()),
            (SENDER_MAC, "fd01::1".into()),
            (bb, "fd01::2".into()),
        ]
    );
    assert_eq!(
        on(&p0),
        [
            (RECEIVER_MAC, "fd02::5".to_string()),
            (RECEIVER_MAC, "10.1.0.2".into()),
        ]
    );
}

/// Three network namespaces: `cli` and `srv` (Linux endpoints) and `lab` (a bridge between
/// them, and the veth the library's net_af_packet port is on, with MAC learning off); deleted
/// on drop.
struct Lab {
    ns: [String; 3],
}

const CLI4: &str = "10.91.0.1";
const SRV4: &str = "10.91.0.2";
const CLI6: &str = "fd91::1";
const SRV6: &str = "fd91::2";

impl Lab {
    fn new(tag: &str) -> Result<Self, String> {
        // SAFETY: plain query.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root for network namespaces".into());
        }
        let id = std::process::id();
        let ns = ["lab", "cli", "srv"].map(|n| format!("mtcpsp-{tag}{n}-{id}"));
        let lab = Lab { ns };
        for n in &lab.ns {
            sh(&["ip", "netns", "add", n])?;
        }
        let [l, c, s] = &lab.ns;
        let inl = |args: &[&str]| -> Result<String, String> {
            let mut v = vec!["ip", "netns", "exec", l.as_str()];
            v.extend_from_slice(args);
            sh(&v)
        };
        inl(&["ip", "link", "add", "br0", "type", "bridge"])?;
        inl(&[
            "ip", "link", "add", "c0br", "type", "veth", "peer", "name", "c0", "netns", c,
        ])?;
        inl(&[
            "ip", "link", "add", "s0br", "type", "veth", "peer", "name", "s0", "netns", s,
        ])?;
        inl(&[
            "ip", "link", "add", "injbr", "type", "veth", "peer", "name", "inj",
        ])?;
        for port in ["c0br", "s0br", "injbr"] {
            inl(&["ip", "link", "set", port, "master", "br0"])?;
            inl(&["ip", "link", "set", port, "up"])?;
        }
        inl(&["bridge", "link", "set", "dev", "injbr", "learning", "off"])?;
        inl(&["ip", "link", "set", "br0", "up"])?;
        inl(&["ip", "link", "set", "inj", "up"])?;
        for (n, dev, a4, a6) in [(c, "c0", CLI4, CLI6), (s, "s0", SRV4, SRV6)] {
            let e = |args: &[&str]| {
                let mut v = vec!["ip", "netns", "exec", n.as_str()];
                v.extend_from_slice(args);
                sh(&v)
            };
            e(&["ip", "link", "set", "lo", "up"])?;
            e(&["ip", "addr", "add", &format!("{a4}/24"), "dev", dev])?;
            e(&["ip", "addr", "add", &format!("{a6}/64"), "dev", dev, "nodad"])?;
            e(&["ip", "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }

    fn spawn(&self, which: usize, args: &[&str]) -> Endpoint {
        let script = support::cbuild::manifest_dir().join("tests/support/tcp_endpoint.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns[which], "python3"])
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Endpoint { child, stdin, stdout }
    }

    fn mac(&self, which: usize, dev: &str) -> String {
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.ns[which],
            "cat",
            &format!("/sys/class/net/{dev}/address"),
        ])
        .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = sh(&["ip", "netns", "del", n]);
        }
    }
}

/// A `tcp_endpoint.py` process.
struct Endpoint {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Endpoint {
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).unwrap();
        l.trim().to_owned()
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.line()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LAB_CONF: &str = "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n }\n route_table {\n }\n}\n";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The child's side: resets the flow of the captured frame in `FRAME` (hex), both ways; with
/// `OFF_BY_ONE`, the captured sequence and acknowledgment numbers are first advanced by one.
fn reset_captured() {
    let mut bytes = hex(&std::env::var("FRAME").unwrap());
    let seg = Segment::from_ethernet(&bytes).unwrap();
    let tcp_at = seg.tcp_header.as_ptr() as usize - bytes.as_ptr() as usize;
    if std::env::var("OFF_BY_ONE").is_ok() {
        for at in [tcp_at + 4, tcp_at + 8] {
            let v = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()).wrapping_add(1);
            bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
    }
    let seg = Segment::from_ethernet(&bytes).unwrap();
    let (ip_at, payload_len) = (
        seg.ip_header.as_ptr() as usize - bytes.as_ptr() as usize,
        seg.payload.len(),
    );
    let mut f = Frame {
        bytes,
        ip_at,
        tcp_at,
        payload_len,
    };
    assert_eq!(reset(&f.pkt_info(true), 3), Ok(2));
    flush(0);
}

/// Linux endpoints connected through a bridge: a RST one sequence number off resets neither
/// (Linux answers with challenge ACKs), ours resets both: each socket fails with ECONNRESET.
/// Over IPv4 and IPv6.
#[test]
fn linux_endpoints_take_our_resets_and_refuse_one_off_by_one() {
    const NAME: &str = "linux_endpoints_take_our_resets_and_refuse_one_off_by_one";
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        Isolated::new(NAME).run(|_| reset_captured());
        return;
    }
    let lab = match Lab::new("rst") {
        Ok(l) => l,
        Err(why) => return skip(NAME, &why),
    };
    for (srv, port) in [(SRV4, "8090"), (SRV6, "8091")] {
        let mut server = lab.spawn(2, &["server", srv, port]);
        assert_eq!(server.line(), "listening");
        let mut client = lab.spawn(1, &["client", srv, port, "c0"]);
        let captured = client.line();
        assert!(captured.len() > 100, "no frame captured: {captured:?}");
        assert_eq!(server.line(), "accepted");
        let inject = |off_by_one: bool| {
            let mut t = Isolated::new(NAME)
                .in_netns(&lab.ns[0])
                .env(
                    "MTCP_SENDPKT_EAL_ARGS",
                    eal_args("rst", "--vdev net_af_packet0,iface=inj"),
                )
                .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
                .file("mos.conf", LAB_CONF)
                .env("FRAME", captured.clone());
            if off_by_one {
                t = t.env("OFF_BY_ONE", "1");
            }
            t.run(|_| reset_captured()).expect("parent");
        };
        inject(true);
        assert_eq!(
            client.ask("wait 0.5"),
            "alive",
            "{srv}: a RST one off is not taken"
        );
        assert_eq!(server.ask("wait 0.5"), "alive", "{srv}");
        inject(false);
        assert_eq!(client.ask("wait 3"), "ECONNRESET", "{srv}: the client's socket");
        assert_eq!(server.ask("wait 3"), "ECONNRESET", "{srv}: the server's socket");
        eprintln!(
            "measured: {srv}: off-by-one RSTs ignored; exact RSTs reset both Linux sockets (ECONNRESET)"
        );
    }
}

/// A raw SYN with SYN|ECE|CWR and MSS, SACK-permitted and window-scale options to a listening
/// Linux socket: Linux answers with a SYN-ACK acknowledging our sequence number + 1 (with ECE:
/// it took our ECN request).
#[test]
fn linux_answers_our_raw_syn() {
    const NAME: &str = "linux_answers_our_raw_syn";
    const ISN: u32 = 0x1234_5678;
    let send_syn = || {
        let server_mac: Vec<u8> = std::env::var("SERVER_MAC")
            .unwrap()
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        let mut f = frame(&Spec {
            src: CLI4,
            dst: SRV4,
            flags: SYN | ECE | CWR,
            seq: ISN,
            ack: 0,
            options: &[2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1],
            ..V4
        });
        f.bytes[..6].copy_from_slice(&server_mac);
        // Port 8092 on the server.
        f.bytes[f.tcp_at + 2..f.tcp_at + 4].copy_from_slice(&8092u16.to_be_bytes());
        assert_eq!(raw(&f.pkt_info(true)), Ok(1));
        flush(0);
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        Isolated::new(NAME).run(|_| send_syn());
        return;
    }
    let lab = match Lab::new("syn") {
        Ok(l) => l,
        Err(why) => return skip(NAME, &why),
    };
    let mut server = lab.spawn(2, &["server", SRV4, "8092"]);
    assert_eq!(server.line(), "listening");
    let mut sniff = lab.spawn(2, &["synack", "s0", "8092"]);
    assert_eq!(sniff.line(), "ready");
    Isolated::new(NAME)
        .in_netns(&lab.ns[0])
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            eal_args("syn", "--vdev net_af_packet0,iface=inj"),
        )
        .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
        .file("mos.conf", LAB_CONF)
        .env("SERVER_MAC", lab.mac(2, "s0"))
        .run(|_| send_syn())
        .expect("parent");
    let answer = sniff.line();
    let want = format!("synack ack={}", ISN + 1);
    assert!(answer.starts_with(&want), "{answer:?}, want {want}");
    let flags = u8::from_str_radix(answer.rsplit('=').next().unwrap(), 16).unwrap();
    assert_eq!(flags & (SYN | ACK | ECE), SYN | ACK | ECE, "{answer}");
    eprintln!("measured: Linux answered our raw SYN: {answer}");
}
