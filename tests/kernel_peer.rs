//! A real Linux TCP stack as the peer: in a network namespace this test creates, a TCP listener
//! runs; the library sends through DPDK on the other end of the link. The kernel answers an ACK for
//! a connection it does not know with a RST, which proves it accepted our Ethernet, IPv4 and TCP
//! headers and both checksums. Two paths: `net_af_packet` on a veth pair (software checksums) and
//! `net_tap` (the port advertises checksum offload, so the NIC path is taken).
//!
//! Everything created is torn down. Without root or network namespaces the tests report
//! `SKIPPED:` on stderr (counted as skipped by `make test`, not as passed).

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use support::*;

const PEER_IP: [u8; 4] = [10, 77, 0, 2];
const OUR_IP: [u8; 4] = [10, 77, 0, 1];
const PORT: u16 = 8080;

/// A network namespace with a TCP listener on PEER_IP:PORT; deleted (with its links) on drop.
struct Peer {
    ns: String,
    links: Vec<String>,
    listener: Option<Child>,
}

impl Peer {
    /// Creates the namespace, or says why it cannot.
    fn new(tag: &str) -> Result<Self, String> {
        // SAFETY: plain query.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root for network namespaces".into());
        }
        let ns = format!("mtcpsp-{tag}-{}", std::process::id());
        sh(&["ip", "netns", "add", &ns])?;
        Ok(Peer {
            ns,
            links: Vec::new(),
            listener: None,
        })
    }

    fn exec(&self, args: &[&str]) -> Result<String, String> {
        let mut v = vec!["ip", "netns", "exec", &self.ns];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Puts `dev` (already inside the namespace) up with PEER_IP, a static neighbour entry for
    /// OUR_IP at `our_mac`, and starts the listener.
    fn configure(&mut self, dev: &str, our_mac: &str) -> Result<(), String> {
        self.exec(&["ip", "link", "set", "lo", "up"])?;
        self.exec(&["ip", "addr", "add", "10.77.0.2/24", "dev", dev])?;
        self.exec(&["ip", "link", "set", dev, "up"])?;
        self.exec(&[
            "ip",
            "neigh",
            "replace",
            "10.77.0.1",
            "lladdr",
            our_mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ])?;
        let script = "import socket,time\ns=socket.socket()\ns.bind(('10.77.0.2',8080))\ns.listen()\nprint('listening',flush=True)\ntime.sleep(60)\n";
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .map_err(|e| e.to_string())?;
        self.listener = Some(child);
        if line.trim() != "listening" {
            return Err(format!("listener did not start: {line:?}"));
        }
        Ok(())
    }

    fn mac(&self, dev: &str) -> Result<String, String> {
        self.exec(&["cat", &format!("/sys/class/net/{dev}/address")])
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = l.kill();
            let _ = l.wait();
        }
        for link in &self.links {
            let _ = sh(&["ip", "link", "del", link]);
        }
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    v.try_into().unwrap()
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// An ACK from OUR_IP to the listener for a connection it does not know.
fn stray_ack(ack: u32) -> Observed {
    let mut o = Observed::new(PEER_IP, 1000, &TS_OPTIONS, b"");
    o.bytes[12..16].copy_from_slice(&OUR_IP);
    o.bytes[22..24].copy_from_slice(&PORT.to_be_bytes());
    o.bytes[28..32].copy_from_slice(&ack.to_be_bytes());
    o
}

/// Polls RX queue 0 of port 0 for up to `wait` for the peer's RST with sequence number `seq`,
/// calling `resend` every 200 ms (the peer's link may take a moment to come up).
fn wait_for_rst(seq: u32, wait: Duration, mut resend: impl FnMut()) -> bool {
    let deadline = Instant::now() + wait;
    let mut next_send = Instant::now();
    while Instant::now() < deadline {
        if Instant::now() >= next_send {
            resend();
            next_send = Instant::now() + Duration::from_millis(200);
        }
        let mut bufs = [std::ptr::null_mut::<dpdk_sys::rte_mbuf>(); 32];
        // SAFETY: 32 slots; the library set up RX queue 0 of port 0.
        let n = unsafe { dpdk_sys::shim_rte_eth_rx_burst(0, 0, bufs.as_mut_ptr(), 32) };
        for &m in &bufs[..usize::from(n)] {
            // SAFETY: a received single-segment mbuf, freed after copying.
            let frame = unsafe {
                let len = dpdk_sys::shim_rte_pktmbuf_pkt_len(m) as usize;
                let f =
                    std::slice::from_raw_parts(dpdk_sys::shim_rte_pktmbuf_mtod(m).cast::<u8>(), len).to_vec();
                dpdk_sys::shim_rte_pktmbuf_free(m);
                f
            };
            let Ok(p) = SlicedPacket::from_ethernet(&frame) else {
                continue;
            };
            let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) = (p.net, p.transport) else {
                continue;
            };
            if ip.header().source() == PEER_IP
                && t.source_port() == PORT
                && t.rst()
                && t.sequence_number() == seq
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Sends a stray ACK through mtcp_sendpkt (Ethernet destination from `ethh`) until the peer's
/// RST comes back; its sequence number must be our acknowledgment number (RFC 793).
fn ack_and_wait_for_rst(eth_dst: [u8; 6]) {
    let mut o = stray_ack(5000);
    let mut pi = o.pkt_info();
    let mut eth = mtcp_sendpkt::ethhdr {
        h_dest: eth_dst,
        h_source: [0; 6],
        h_proto: 0x0008,
    };
    pi.ethh = &mut eth;
    let got = wait_for_rst(5000, Duration::from_secs(5), || {
        send(0, 1, &pi).expect("accepted")
    });
    assert!(got, "no RST from the kernel within 5 s");
}

/// Sends one raw Ethernet frame out of `iface` through an AF_PACKET socket of our own.
fn inject(iface: &str, frame: &[u8]) {
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: plain socket calls with valid arguments; the address struct is zeroed and filled
    // with the interface index; the frame buffer outlives the call.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        let sent = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(
            sent,
            frame.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
        libc::close(fd);
    }
}

fn conf() -> String {
    "mos {\n netdev {\n dpdk0 0x1\n }\n route_table {\n 10.77.0.0/24 dpdk0\n }\n}\n".into()
}

#[test]
fn kernel_answers_our_ack_with_rst_over_af_packet() {
    let name = "kernel_answers_our_ack_with_rst_over_af_packet";
    let in_child = std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok();
    // The parent builds the veth pair and the peer; the child (with DPDK) only sends and listens.
    let peer = if in_child {
        None
    } else {
        let id = std::process::id() % 100_000;
        let (outer, inner) = (format!("mtcpa{id}"), format!("mtcpb{id}"));
        let setup = || -> Result<(Peer, String), String> {
            let mut p = Peer::new("afp")?;
            sh(&[
                "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            p.links.push(outer.clone());
            sh(&["ip", "link", "set", &inner, "netns", &p.ns])?;
            sh(&["ip", "link", "set", &outer, "up"])?;
            let our_mac = sh(&["cat", &format!("/sys/class/net/{outer}/address")])?;
            p.configure(&inner, &our_mac)?;
            let peer_mac = p.mac(&inner)?;
            Ok((p, peer_mac))
        };
        match setup() {
            Ok(p) => Some((p, outer)),
            Err(why) => return skip(name, &why),
        }
    };
    let (outer, peer_mac) = match &peer {
        Some(((_, mac), outer)) => (outer.clone(), mac.clone()),
        None => (String::new(), String::new()),
    };
    let t = Isolated::new(name)
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            eal_args("afp", &format!("--vdev net_af_packet0,iface={outer}")),
        )
        .env("MTCP_SENDPKT_CONF", "{dir}/peer.conf")
        .env("PEER_MAC", peer_mac)
        .env("OUTER_IFACE", outer.clone())
        .env(
            "PEER_NS",
            peer.as_ref().map(|((p, _), _)| p.ns.clone()).unwrap_or_default(),
        )
        .file("peer.conf", &conf());
    t.run(|_| {
        let port = &mtcp_sendpkt::api::ports().expect("running")[0];
        assert!(!port.checksum_offload, "af_packet: software checksums");
        let peer_mac = mac_bytes(&std::env::var("PEER_MAC").unwrap());
        ack_and_wait_for_rst(peer_mac);

        // Control: the same kind of frame with its TCP checksum broken, put on the link by a
        // plain AF_PACKET socket. The kernel must drop it (no RST, one more TcpInCsumErrors):
        // it really checks ours.
        let ns = std::env::var("PEER_NS").unwrap();
        let csum_errors = || -> u64 {
            let out = sh(&["ip", "netns", "exec", &ns, "nstat", "-az", "TcpInCsumErrors"]).unwrap();
            let line = out
                .lines()
                .find_map(|l| l.strip_prefix("TcpInCsumErrors"))
                .expect("counter");
            line.split_whitespace().next().unwrap().parse().unwrap()
        };
        let before = csum_errors();
        let o = stray_ack(7000);
        let seg = mtcp_sendpkt::internals::SegmentView::new(&o.bytes[..20], &o.bytes[20..o.payload_at], &[])
            .unwrap();
        let mut bad = [0u8; 66];
        let software = mtcp_sendpkt::internals::ChecksumMode::Software;
        let len = mtcp_sendpkt::internals::write_ack_frame(&seg, peer_mac, port.mac, software, &mut bad);
        assert_eq!(len, Ok(66));
        bad[50] ^= 0xff; // the TCP checksum
        inject(&std::env::var("OUTER_IFACE").unwrap(), &bad);
        assert!(
            !wait_for_rst(7000, Duration::from_millis(500), || ()),
            "a bad checksum must get no RST"
        );
        assert!(csum_errors() > before, "the kernel counted the bad checksum");
    });
    drop(peer);
}

#[test]
fn kernel_answers_our_ack_with_rst_over_tap_with_checksum_offload() {
    let name = "kernel_answers_our_ack_with_rst_over_tap_with_checksum_offload";
    let tap = format!("mtcpt{}", std::process::id() % 100_000);
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_err() {
        // Probe in the parent so that a machine without namespaces skips instead of failing.
        if let Err(why) = Peer::new("probe") {
            return skip(name, &why);
        }
    }
    let t = Isolated::new(name)
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            eal_args("tap", &format!("--vdev net_tap0,iface={tap}")),
        )
        .env("MTCP_SENDPKT_CONF", "{dir}/peer.conf")
        .env("TAP_NAME", tap)
        .file("peer.conf", &conf());
    t.run(|_| {
        // The tap device exists once the library started DPDK: then move it into the namespace.
        let port = &mtcp_sendpkt::api::ports().expect("running")[0];
        assert!(
            port.checksum_offload,
            "net_tap advertises checksum offload: the NIC path is used"
        );
        let tap = std::env::var("TAP_NAME").unwrap();
        let mut peer = Peer::new("tap").expect("namespace");
        sh(&["ip", "link", "set", &tap, "netns", &peer.ns]).unwrap();
        peer.configure(&tap, &mac_text(port.mac)).unwrap();
        let peer_mac = mac_bytes(&peer.mac(&tap).unwrap());
        ack_and_wait_for_rst(peer_mac);
    });
}
