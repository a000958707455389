//! The examples, run as a user would: `examples/ack_from_pcap.c` (C, libpcap) and
//! `examples/ack_from_rust.rs` (the Rust API) read the same capture of observed traffic and must
//! acknowledge exactly its data segments, with identical frames; `examples/rst_injector.c` (a
//! small IPS) must reset exactly the flows to its port, once each, both ways. `make demo`'s
//! `examples/middlebox.c` must print what the README shows.

mod support;

use std::path::{Path, PathBuf};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use support::cbuild::*;
use support::*;

/// The ACK expected for one data segment.
struct ExpectedAck {
    seq: u32,
    ack: u32,
    /// (TSval, TSecr) of the ACK; (0, 0) when the segment had no Timestamp.
    ts: (u32, u32),
}

/// A capture: two data segments from 10.0.0.10 (with Timestamps), a pure ACK, one data segment
/// from 10.0.0.23 without Timestamps, and a UDP datagram.
fn write_observed(path: &Path) -> Vec<ExpectedAck> {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut expect = Vec::new();
    let tcp = |src: [u8; 4], seq: u32, ack: u32, ts: Option<(u32, u32)>, payload: &[u8]| {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, [192, 168, 1, 80], 64)
            .tcp(40000, 80, seq, 4000)
            .ack(ack);
        let b = match ts {
            Some((v, e)) => b
                .options(&[etherparse::TcpOptionElement::Timestamp(v, e)])
                .unwrap(),
            None => b,
        };
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    };
    let udp = {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4([10, 0, 0, 10], [1, 1, 1, 1], 9)
            .udp(5, 6)
            .write(&mut out, b"x")
            .unwrap();
        out
    };
    let frames = [
        tcp(
            [10, 0, 0, 10],
            1000,
            50,
            Some((70, 80)),
            b"GET / HTTP/1.1\r\n\r\n",
        ),
        tcp([10, 0, 0, 10], 1018, 50, Some((71, 81)), &[]),
        tcp([10, 0, 0, 10], 1018, 50, Some((72, 82)), b"more"),
        tcp([10, 0, 0, 23], 5, 6, None, b"no timestamps"),
        udp,
    ];
    for (i, f) in frames.iter().enumerate() {
        let p = PcapPacket::new(std::time::Duration::from_millis(i as u64), f.len() as u32, f);
        w.write_packet(&p).unwrap();
    }
    expect.push(ExpectedAck {
        seq: 50,
        ack: 1018,
        ts: (80, 70),
    });
    expect.push(ExpectedAck {
        seq: 50,
        ack: 1022,
        ts: (82, 72),
    });
    expect.push(ExpectedAck {
        seq: 6,
        ack: 18,
        ts: (0, 0),
    });
    expect
}

fn check_acks(pcap: &Path, expect: &[ExpectedAck]) -> Vec<Vec<u8>> {
    let frames = read_pcap(pcap);
    assert_eq!(frames.len(), expect.len(), "one ACK per data segment");
    for (f, want) in frames.iter().zip(expect) {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else { panic!() };
        assert_eq!(ip.header().source(), [192, 168, 1, 80], "from the server");
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!()
        };
        assert_eq!((t.source_port(), t.destination_port()), (80, 40000));
        assert_eq!(
            (t.sequence_number(), t.acknowledgment_number(), t.payload().len()),
            (want.seq, want.ack, 0)
        );
        assert!(t.ack());
        let got_ts = t.options_iterator().find_map(|o| match o {
            Ok(etherparse::TcpOptionElement::Timestamp(v, e)) => Some((v, e)),
            _ => None,
        });
        assert_eq!(got_ts, Some(want.ts));
    }
    frames
}

fn example_env(tag: &str, dir: &Path, pcap: &Path) -> Vec<(String, String)> {
    let mut env = pcap_env(tag, dir, pcap);
    // Clients 10.0.0.0/24 are behind dpdk0 (CONF's ARP and route entries).
    env.retain(|(k, _)| k != "MTCP_SENDPKT_CONF");
    std::fs::write(dir.join("ex.conf"), CONF).unwrap();
    env.push((
        "MTCP_SENDPKT_CONF".into(),
        dir.join("ex.conf").display().to_string(),
    ));
    env
}

/// Runs one ACK middlebox on the capture; checks its output and its frames, and returns them.
fn run_example(exe: &Path, observed: &Path, dir: &Path, tag: &str, expect: &[ExpectedAck]) -> Vec<Vec<u8>> {
    let out_pcap = dir.join(format!("{tag}.pcap"));
    let out = std::process::Command::new(exe)
        .arg(observed)
        .envs(example_env(&format!("ex{tag}"), dir, &out_pcap))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("acked 3 of 3"),
        "{tag}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_acks(&out_pcap, expect)
}

#[test]
fn c_and_rust_examples_ack_every_data_segment_identically() {
    let dir = test_dir("examples");
    let observed = dir.join("observed.pcap");
    let expect = write_observed(&observed);

    let c_exe = dir.join("ack_from_pcap");
    let mut args = strings(&STRICT);
    args.extend([
        include_flag(),
        manifest_dir()
            .join("examples/ack_from_pcap.c")
            .display()
            .to_string(),
    ]);
    args.extend(["-o".into(), c_exe.display().to_string()]);
    args.extend(link_shared());
    args.push("-lpcap".into());
    cc(&args);
    let c_frames = run_example(&c_exe, &observed, &dir, "c", &expect);

    // A plain `cargo test` builds the examples next to the test binaries; a filtered one may not.
    let rust_exe: PathBuf = lib_dir().join("examples/ack_from_rust");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let source = manifest_dir().join("examples/ack_from_rust.rs");
    assert!(
        modified(&rust_exe) >= modified(&source),
        "{} is missing or older than its source: run `cargo build --examples` or an unfiltered `cargo test`",
        rust_exe.display()
    );
    let rust_frames = run_example(&rust_exe, &observed, &dir, "rust", &expect);
    assert_eq!(
        c_frames, rust_frames,
        "C and Rust middleboxes put the same bytes on the wire"
    );
}

/// The IPS example: flows to port 80 (one IPv4 with two segments, one IPv6 in a VLAN) are reset
/// once each, both ways; the flow to port 443 and a UDP datagram are left alone.
#[test]
fn the_rst_injector_resets_each_flow_to_its_port_once_both_ways() {
    let dir = test_dir("rst_injector");
    let observed = dir.join("observed.pcap");
    let (client, server) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut frames = Vec::new();
    let mut push = |b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, payload: &[u8]| {
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        frames.push(out);
    };
    let v4 = |sport, dport, seq, ack| {
        PacketBuilder::ethernet2(client, server)
            .ipv4([10, 0, 0, 10], [192, 168, 1, 80], 64)
            .tcp(sport, dport, seq, 4000)
            .ack(ack)
    };
    push(v4(40000, 80, 1000, 50), b"GET / HTTP/1.1\r\n\r\n");
    push(v4(40000, 80, 1018, 50), b"more");
    push(v4(40002, 443, 7, 8), b"tls");
    push(
        PacketBuilder::ethernet2(client, server)
            .single_vlan(etherparse::VlanId::try_new(7).unwrap())
            .ipv6(
                [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10],
                [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80],
                64,
            )
            .tcp(40001, 80, 300, 4000)
            .ack(900),
        b"hello",
    );
    let mut udp = Vec::new();
    PacketBuilder::ethernet2(client, server)
        .ipv4([10, 0, 0, 10], [1, 1, 1, 1], 9)
        .udp(5, 80)
        .write(&mut udp, b"x")
        .unwrap();
    frames.push(udp);
    let mut w = PcapWriter::new(std::fs::File::create(&observed).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_millis(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    drop(w);

    let exe = dir.join("rst_injector");
    let mut args = strings(&STRICT);
    args.extend([
        include_flag(),
        manifest_dir()
            .join("examples/rst_injector.c")
            .display()
            .to_string(),
        "-o".into(),
        exe.display().to_string(),
    ]);
    args.extend(link_shared());
    args.push("-lpcap".into());
    cc(&args);
    let out_pcap = dir.join("rst.pcap");
    let mut env = pcap_env("exrst", &dir, &out_pcap);
    // Every destination on the one port; Ethernet addresses from the captured frames.
    env.retain(|(k, _)| k != "MTCP_SENDPKT_CONF");
    std::fs::write(
        dir.join("ips.conf"),
        "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n }\n route_table {\n }\n}\n",
    )
    .unwrap();
    env.push((
        "MTCP_SENDPKT_CONF".into(),
        dir.join("ips.conf").display().to_string(),
    ));
    let out = std::process::Command::new(&exe)
        .args([observed.display().to_string(), "80".into()])
        .envs(env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("3 segments to or from port 80, 2 flows reset with 4 RSTs, 0 failed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rsts = read_pcap(&out_pcap);
    assert_eq!(rsts.len(), 4);
    // (destination MAC, VLAN, source port, seq, ack) of each RST.
    let got: Vec<([u8; 6], bool, u16, u32, u32)> = rsts
        .iter()
        .map(|f| {
            let p = SlicedPacket::from_ethernet(f).unwrap();
            let Some(TransportSlice::Tcp(t)) = p.transport else {
                panic!()
            };
            assert!(t.rst() && t.ack());
            (
                f[..6].try_into().unwrap(),
                p.vlan.is_some(),
                t.source_port(),
                t.sequence_number(),
                t.acknowledgment_number(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (server, false, 40000, 1018, 50),
            (client, false, 80, 50, 1018),
            (server, true, 40001, 305, 900),
            (client, true, 80, 900, 305),
        ]
    );
}

/// `make demo` as the README shows it: examples/middlebox.c, built as the Makefile builds it and
/// run with examples/demo.conf on a net_pcap port, prints its counters with every accepted frame
/// on the wire, and the capture holds those three ACKs with correct checksums.
#[test]
fn the_demo_middlebox_prints_what_the_readme_shows() {
    let dir = test_dir("demo");
    let exe = dir.join("middlebox");
    let mut args = strings(&STRICT);
    args.extend([
        include_flag(),
        manifest_dir().join("examples/middlebox.c").display().to_string(),
        "-o".into(),
        exe.display().to_string(),
    ]);
    args.extend(link_shared());
    cc(&args);
    let pcap = dir.join("out.pcap");
    let env = [
        (
            "MTCP_SENDPKT_CONF".to_string(),
            manifest_dir().join("examples/demo.conf").display().to_string(),
        ),
        (
            "MTCP_SENDPKT_EAL_ARGS".to_string(),
            eal_args("demo", &format!("--vdev net_pcap0,tx_pcap={}", pcap.display())),
        ),
    ];
    let out = run(&exe, &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("middlebox: ACK to 172.16.0.1 refused: No route to host"),
        "{stdout}"
    );
    assert!(
        stdout.contains("middlebox: 3 ACKs accepted, 3 on the wire, 1 refused"),
        "{stdout}"
    );
    let frames = read_pcap(&pcap);
    assert_eq!(frames.len(), 3, "the three ACKs");
    for f in &frames {
        let p = SlicedPacket::from_ethernet(f).expect("an Ethernet frame");
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!("not TCP")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert!(tcp.ack() && !tcp.syn() && !tcp.fin() && !tcp.rst());
        let expect = tcp.to_header().calc_checksum_ipv4(&h, tcp.payload()).unwrap();
        assert_eq!(tcp.checksum(), expect);
    }
}
