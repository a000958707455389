//! Shared by the integration tests: each DPDK test runs in a process of its own (DPDK's EAL
//! starts once per process), with its own `--file-prefix`, and is checked from outside by
//! independent parsers (`pcap-file`, `etherparse`).
#![allow(dead_code)]

pub mod cbuild;
pub mod segment;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

const CHILD: &str = "MTCP_SENDPKT_TEST_CHILD";
const DIR: &str = "MTCP_SENDPKT_TEST_DIR";

/// One test run in a child process (this test binary, filtered to the test's name).
pub struct Isolated {
    name: String,
    env: Vec<(String, String)>,
    files: Vec<(String, String)>,
    /// A command the child runs under (`ip netns exec NS`).
    wrapper: Vec<String>,
}

impl Isolated {
    /// A child with the library's default settings, on this machine's (or its namespace's)
    /// kernel tables, as a user runs it.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            env: Vec::new(),
            files: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// Runs the child inside network namespace `ns` (`ip netns exec`).
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.wrapper = ["ip", "netns", "exec", ns].map(String::from).to_vec();
        self
    }

    /// Sets an environment variable of the child; `{dir}` in `value` becomes the test directory.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The usual set-up: `net_pcap` (or other `vdevs`) and the standard config.
    pub fn with_port(self, vdevs: &str) -> Self {
        let name = self.name.clone();
        self.env("MTCP_SENDPKT_EAL_ARGS", eal_args(&name, vdevs))
            .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
            .file("mos.conf", CONF)
    }

    /// Writes a file into the test directory before the child starts.
    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.files.push((name.into(), content.into()));
        self
    }

    /// In the parent: runs the child and returns its exit status, whatever it is (for tests that
    /// expect the child to die). In the child: runs `body`.
    pub fn run_status(self, body: impl FnOnce(&Path)) -> Option<std::process::ExitStatus> {
        if let Ok(child) = std::env::var(CHILD) {
            if child == self.name {
                body(Path::new(&std::env::var(DIR).expect("test dir")));
            }
            return None;
        }
        let dir = test_dir(&self.name);
        let out = Command::new(std::env::current_exe().unwrap())
            .args([self.name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, &self.name)
            .env(DIR, &dir)
            .output()
            .expect("spawn test child");
        Some(out.status)
    }

    /// In the parent: runs the child and returns the test directory and the child's output once
    /// it passed. In the child: runs `body` and returns `None`.
    pub fn run(self, body: impl FnOnce(&Path)) -> Option<(PathBuf, Output)> {
        if let Ok(child) = std::env::var(CHILD) {
            if child == self.name {
                body(Path::new(&std::env::var(DIR).expect("test dir")));
            }
            return None;
        }
        let dir = test_dir(&self.name);
        for (f, content) in &self.files {
            std::fs::write(dir.join(f), content).unwrap();
        }
        let d = dir.display().to_string();
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args([self.name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, &self.name)
            .env(DIR, &dir)
            .envs(self.env.iter().map(|(k, v)| (k, v.replace("{dir}", &d))))
            .output()
            .expect("spawn test child");
        let text = format!(
            "--- child stdout\n{}\n--- child stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "child {} failed: {:?}\n{text}",
            self.name,
            out.status
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "child {} ran no test\n{text}",
            self.name
        );
        // What the child measured (lines starting with "measured:"), for `--nocapture` runs.
        for line in String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("measured:"))
        {
            eprintln!("{}: {line}", self.name);
        }
        Some((dir, out))
    }
}

/// A fresh directory for one test under cargo's temporary target directory.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The DPDK release pkg-config names (`libdpdk`): the one the library was built against and,
/// in the tests, the one it runs on.
pub fn dpdk_version() -> String {
    let out = std::process::Command::new("pkg-config")
        .args(["--modversion", "libdpdk"])
        .output()
        .expect("pkg-config");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// EAL arguments for a test process: no hugepages, no PCI, its own file prefix, and `vdevs`.
pub fn eal_args(name: &str, vdevs: &str) -> String {
    format!(
        "--no-huge -m 256 --no-pci --no-shconf --file-prefix mtcpsp-{name}-{} {vdevs}",
        std::process::id()
    )
}

/// The mOS config used by most tests: one port, ARP and route entries for 10.0.0.0/24.
pub const CONF: &str = "\
mos {
    netdev {
        dpdk0 0x0001
    }
    arp_table {
        10.0.0.10/32 90:e2:ba:7c:1f:a4
        10.0.0.0/24  90:e2:ba:7c:1f:a5
    }
    route_table {
        10.0.0.0/24 dpdk0
    }
}
";

pub const ARP_10: [u8; 6] = [0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4];
pub const ARP_NET: [u8; 6] = [0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa5];

/// Every frame in a pcap file.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
    let mut frames = Vec::new();
    while let Some(p) = reader.next_packet() {
        frames.push(p.expect("pcap record").data.into_owned());
    }
    frames
}

/// An observed packet as a middlebox holds it (IPv4 + TCP, optional options, payload).
#[derive(Clone)]
pub struct Observed {
    pub bytes: Vec<u8>,
    pub tcp_at: usize,
    pub payload_at: usize,
}

impl Observed {
    pub fn new(daddr: [u8; 4], seq: u32, tcp_options: &[u8], payload: &[u8]) -> Self {
        let tcp_len = 20 + tcp_options.len();
        assert_eq!(tcp_len % 4, 0);
        let mut b = vec![0u8; 20];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&((20 + tcp_len + payload.len()) as u16).to_be_bytes());
        b[4..6].copy_from_slice(&(seq as u16 ^ 0x5a5a).to_be_bytes());
        b[8] = 61;
        b[9] = 6;
        b[12..16].copy_from_slice(&[10, 0, 0, 1]);
        b[16..20].copy_from_slice(&daddr);
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&seq.wrapping_mul(3).to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = 0x18;
        t[14..16].copy_from_slice(&1024u16.to_be_bytes());
        b.extend_from_slice(&t);
        b.extend_from_slice(tcp_options);
        b.extend_from_slice(payload);
        Self {
            bytes: b,
            tcp_at: 20,
            payload_at: 20 + tcp_len,
        }
    }

    /// A `pkt_info` pointing into this packet (valid while `self` lives and is not moved).
    pub fn pkt_info(&mut self) -> mtcp_sendpkt::pkt_info {
        let base = self.bytes.as_mut_ptr();
        let payloadlen = (self.bytes.len() - self.payload_at) as u16;
        // SAFETY: offsets are inside the vector.
        unsafe {
            mtcp_sendpkt::pkt_info {
                cur_ts: 0,
                in_ifidx: 0,
                eth_len: 0,
                ip_len: self.bytes.len() as u16,
                offset: 0,
                payloadlen,
                seq: 0,
                ack_seq: 0,
                window: 0,
                ethh: std::ptr::null_mut(),
                iph: base.cast(),
                tcph: base.add(self.tcp_at).cast(),
                payload: if payloadlen == 0 {
                    std::ptr::null_mut()
                } else {
                    base.add(self.payload_at)
                },
            }
        }
    }
}

/// A `pkt_info` with every field zero and every pointer NULL, to fill with `..`.
pub fn empty_pkt_info() -> mtcp_sendpkt::pkt_info {
    mtcp_sendpkt::pkt_info {
        cur_ts: 0,
        in_ifidx: 0,
        eth_len: 0,
        ip_len: 0,
        offset: 0,
        payloadlen: 0,
        seq: 0,
        ack_seq: 0,
        window: 0,
        ethh: std::ptr::null_mut(),
        iph: std::ptr::null_mut(),
        tcph: std::ptr::null_mut(),
        payload: std::ptr::null_mut(),
    }
}

pub const TS_OPTIONS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0x11, 0x22, 0, 0, 0x33, 0x44];

/// Calls `mtcp_sendpkt` and returns `Ok(())` or the errno.
pub fn send(cpu: i32, sockid: i32, pi: &mtcp_sendpkt::pkt_info) -> Result<(), i32> {
    let mut ctx = mtcp_sendpkt::mtcp_context { cpu };
    // SAFETY: ctx and pi are valid; pi's pointers come from Observed::pkt_info.
    let rc = unsafe { mtcp_sendpkt::mtcp_sendpkt(&mut ctx, sockid, pi) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    }
}

/// Calls `mtcp_sendpkt_flush` (what a middlebox does when it wants staged frames out now) and
/// returns how many frames the TX queues took; panics if it fails.
pub fn flush(cpu: i32) -> i32 {
    let mut ctx = mtcp_sendpkt::mtcp_context { cpu };
    // SAFETY: valid mctx.
    let n = unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) };
    assert!(n >= 0, "mtcp_sendpkt_flush: {}", std::io::Error::last_os_error());
    n
}

pub fn stats(cpu: i32) -> mtcp_sendpkt::mtcp_sendpkt_stats {
    let mut ctx = mtcp_sendpkt::mtcp_context { cpu };
    let mut st = mtcp_sendpkt::mtcp_sendpkt_stats::default();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mtcp_sendpkt::mtcp_sendpkt_stats(&mut ctx, &mut st) }, 0);
    st
}

/// Checks a frame against the input it was built from, field by field (MOS_COMPAT.md's table),
/// with an independent parser, and returns its payload.
pub fn check_frame(frame: &[u8], input: &Observed, eth_dst: [u8; 6], eth_src: [u8; 6]) -> Vec<u8> {
    let p = SlicedPacket::from_ethernet(frame).expect("parses as Ethernet/IPv4/TCP");
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = p.link else {
        panic!("not Ethernet II")
    };
    assert_eq!(eth.destination(), eth_dst, "Ethernet destination");
    assert_eq!(eth.source(), eth_src, "Ethernet source");
    assert_eq!(eth.ether_type(), etherparse::EtherType::IPV4);
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    let h = ip.header().to_header();
    let inp = &input.bytes;
    assert_eq!((h.ihl(), h.dscp.value(), h.ecn.value()), (5, 0, 0));
    assert_eq!(h.identification.to_be_bytes(), [inp[4], inp[5]], "IP id");
    assert!(h.dont_fragment && !h.more_fragments && h.fragment_offset.value() == 0);
    assert_eq!(h.time_to_live, 64);
    assert_eq!(h.protocol, etherparse::IpNumber::TCP);
    assert_eq!(h.source, inp[12..16], "saddr");
    assert_eq!(h.destination, inp[16..20], "daddr");
    assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let ti = &inp[input.tcp_at..];
    assert_eq!(t.source_port().to_be_bytes(), ti[0..2]);
    assert_eq!(t.destination_port().to_be_bytes(), ti[2..4]);
    assert_eq!(t.sequence_number().to_be_bytes(), ti[4..8], "seq");
    assert_eq!(t.acknowledgment_number().to_be_bytes(), ti[8..12], "ack");
    assert_eq!(t.data_offset(), 8);
    assert!(
        t.ack() && !t.syn() && !t.fin() && !t.rst() && !t.psh() && !t.urg(),
        "ACK only"
    );
    assert_eq!(t.window_size().to_be_bytes(), ti[14..16], "window");
    assert_eq!(t.urgent_pointer(), 0);
    let want_ts = etherparse::TcpHeaderSlice::from_slice(ti)
        .ok()
        .and_then(|s| {
            s.options_iterator().find_map(|o| match o {
                Ok(etherparse::TcpOptionElement::Timestamp(v, e)) => {
                    Some([v.to_be_bytes(), e.to_be_bytes()].concat())
                }
                _ => None,
            })
        })
        .unwrap_or(vec![0; 8]);
    assert_eq!(t.options()[..4], [1, 1, 8, 10]);
    assert_eq!(t.options()[4..12], want_ts[..], "timestamp");
    let csum = t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap();
    assert_eq!(t.checksum(), csum, "TCP checksum");
    assert_eq!(t.payload(), &inp[input.payload_at..], "payload");
    assert_eq!(frame.len(), 66 + t.payload().len(), "no padding");
    t.payload().to_vec()
}

/// Runs a command; its trimmed stdout, or what failed.
pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace of the test's own, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Result<Self, String> {
        // SAFETY: plain query.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root for network namespaces".into());
        }
        let ns = format!("mtcpsp-{tag}-{}", std::process::id());
        sh(&["ip", "netns", "add", &ns])?;
        Ok(Netns(ns))
    }

    /// Runs `args` inside the namespace (`ip netns exec`): its stdout, or why it failed.
    pub fn exec(&self, args: &[&str]) -> Result<String, String> {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend_from_slice(args);
        sh(&v)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

/// Reports a skip where no test harness would: straight to the process's stderr (`make test`
/// counts `SKIPPED:` lines as skipped, not passed).
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}
