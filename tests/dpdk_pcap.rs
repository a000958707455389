//! End to end on DPDK's `net_pcap` port: every frame the library accepted is in the capture file,
//! byte for byte what mOS emits; the errno contract, case by case; start-up failures.

mod support;

use std::time::{Duration, Instant};
use support::*;

const PCAP: &str = "--vdev net_pcap0,tx_pcap={dir}/out.pcap";

fn port_mac(port: u16) -> [u8; 6] {
    let mut mac = dpdk_sys::rte_ether_addr::default();
    // SAFETY: EAL is up (the library started it); valid out-parameter.
    assert_eq!(unsafe { dpdk_sys::rte_eth_macaddr_get(port, &mut mac) }, 0);
    mac.addr_bytes
}

/// In the test's child: port 0's MAC, kept for the parent's checks ([`sent_frames`]).
fn keep_port_mac(dir: &std::path::Path) {
    std::fs::write(dir.join("mac"), port_mac(0)).unwrap();
}

/// In the test's parent: the frames the child's port wrote to `out.pcap`, and port 0's MAC as
/// the child kept it.
fn sent_frames(dir: &std::path::Path) -> (Vec<Vec<u8>>, [u8; 6]) {
    let mac = std::fs::read(dir.join("mac")).unwrap().try_into().unwrap();
    (read_pcap(&dir.join("out.pcap")), mac)
}

/// The inputs of the conformance test: payload 0 / 1 / odd / 1448, with and without Timestamp,
/// to an address with a /32 ARP entry and one matched by the /24 entry. The last two are ACKs
/// to the previous call's destination: they take the owner's quick path (the others the full
/// one), the second with every summed field at its largest.
fn conformance_inputs() -> Vec<(Observed, [u8; 6])> {
    let mut extreme = Observed::new(
        [10, 0, 0, 10],
        u32::MAX,
        &[1, 1, 8, 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[],
    );
    extreme.bytes[4..6].fill(0xff);
    extreme.bytes[20..24].fill(0xff);
    extreme.bytes[28..32].fill(0xff);
    extreme.bytes[34..36].fill(0xff);
    let payload = |n: usize| (0..n).map(|i| (i * 13 + 1) as u8).collect::<Vec<_>>();
    vec![
        (Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, &[]), ARP_10),
        (Observed::new([10, 0, 0, 10], 2, &TS_OPTIONS, &payload(1)), ARP_10),
        (Observed::new([10, 0, 0, 77], 3, &[], &payload(333)), ARP_NET),
        (
            Observed::new([10, 0, 0, 77], 4, &TS_OPTIONS, &payload(1448)),
            ARP_NET,
        ),
        (
            Observed::new(
                [10, 0, 0, 10],
                5,
                &[2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
                b"x",
            ),
            ARP_10,
        ),
        (Observed::new([10, 0, 0, 10], 6, &TS_OPTIONS, &[]), ARP_10),
        (extreme, ARP_10),
    ]
}

#[test]
fn frames_on_the_pcap_port_match_the_mos_table() {
    let t = Isolated::new("frames_on_the_pcap_port_match_the_mos_table").with_port(PCAP);
    let Some((dir, _)) = t.run(|dir| {
        for (mut input, _) in conformance_inputs() {
            send(0, 1, &input.pkt_info()).expect("accepted");
        }
        flush(0);
        let st = stats(0);
        assert_eq!((st.accepted, st.transmitted, st.pending), (7, 7, 0));
        keep_port_mac(dir);
    }) else {
        return;
    };
    let (frames, mac) = sent_frames(&dir);
    let inputs = conformance_inputs();
    assert_eq!(frames.len(), inputs.len(), "one frame per accepted call");
    for (frame, (input, dst)) in frames.iter().zip(&inputs) {
        check_frame(frame, input, *dst, mac);
    }
}

#[test]
fn errno_contract_case_by_case() {
    let t = Isolated::new("errno_contract_case_by_case").with_port(PCAP);
    t.run(|_| {
        let mut ok = Observed::new([10, 0, 0, 10], 7, &TS_OPTIONS, b"data");
        let good = ok.pkt_info();
        let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
        let errno = || std::io::Error::last_os_error().raw_os_error().unwrap();
        // SAFETY: NULL mctx / NULL pinfo are part of the contract being tested.
        unsafe {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt(std::ptr::null_mut(), 1, &good), -1);
            assert_eq!(errno(), libc::EACCES, "mctx NULL");
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt(&mut ctx, 1, std::ptr::null()), -1);
            assert_eq!(errno(), libc::EACCES, "pinfo NULL");
        }
        for cpu in [1, -1, i32::MIN, i32::MAX] {
            assert_eq!(
                send(cpu, 1, &good),
                Err(libc::EACCES),
                "cpu {cpu} is not a configured core"
            );
        }
        assert_eq!(send(0, -1, &good), Err(libc::EBADF));
        assert_eq!(send(0, i32::MIN, &good), Err(libc::EBADF));

        let with = |f: &dyn Fn(&mut Observed, &mut mtcp_sendpkt::pkt_info)| {
            let mut o = Observed::new([10, 0, 0, 10], 7, &TS_OPTIONS, b"data");
            let mut pi = o.pkt_info();
            f(&mut o, &mut pi);
            send(0, 1, &pi)
        };
        assert_eq!(
            with(&|_, pi| pi.iph = std::ptr::null_mut()),
            Err(libc::ENODATA),
            "iph NULL"
        );
        assert_eq!(
            with(&|_, pi| pi.tcph = std::ptr::null_mut()),
            Err(libc::ENODATA),
            "tcph NULL"
        );
        // SAFETY (all three below): the pointers stay inside the Observed buffer.
        assert_eq!(
            with(&|_, pi| unsafe { *(pi.iph as *mut u8) = 0x65 }),
            Err(libc::ENODATA),
            "version 6"
        );
        assert_eq!(
            with(&|_, pi| unsafe { *(pi.iph as *mut u8) = 0x44 }),
            Err(libc::ENODATA),
            "IHL 4"
        );
        assert_eq!(
            with(&|_, pi| unsafe { *(pi.tcph as *mut u8).add(12) = 0x40 }),
            Err(libc::ENODATA),
            "doff 4"
        );
        assert_eq!(
            with(&|_, pi| pi.ip_len = 30),
            Err(libc::ENODATA),
            "ip_len leaves no TCP header"
        );
        assert_eq!(
            with(&|_, pi| pi.payload = std::ptr::null_mut()),
            Err(libc::EINVAL),
            "payload NULL"
        );
        // mOS's order: headers (ENODATA) before anything mOS does not check (sockid, payload).
        let mut o = Observed::new([10, 0, 0, 10], 7, &TS_OPTIONS, b"data");
        let mut pi = o.pkt_info();
        pi.iph = std::ptr::null_mut();
        pi.payload = std::ptr::null_mut();
        assert_eq!(send(0, -1, &pi), Err(libc::ENODATA), "iph NULL before sockid -1");
        let mut pi = o.pkt_info();
        pi.payload = std::ptr::null_mut();
        assert_eq!(
            send(0, -1, &pi),
            Err(libc::EBADF),
            "sockid -1 before payload NULL"
        );

        let mut big = Observed::new([10, 0, 0, 10], 8, &TS_OPTIONS, &[0u8; 1449]);
        assert_eq!(
            send(0, 1, &big.pkt_info()),
            Err(libc::EMSGSIZE),
            "1449 + 66 > 1500 + 14"
        );
        let mut max = Observed::new([10, 0, 0, 10], 8, &TS_OPTIONS, &[0u8; 1448]);
        assert_eq!(send(0, 1, &max.pkt_info()), Ok(()), "1448 + 66 == 1500 + 14");

        let mut unrouted = Observed::new([10, 0, 9, 1], 9, &TS_OPTIONS, b"");
        assert_eq!(
            send(0, 1, &unrouted.pkt_info()),
            Err(libc::EHOSTUNREACH),
            "no route"
        );

        assert_eq!(send(0, 1, &good), Ok(()));
        flush(0);
        let st = stats(0);
        assert_eq!((st.accepted, st.transmitted, st.pending), (2, 2, 0));
        // Counted on context 0: pinfo NULL, 3 x EBADF, 7 x ENODATA, EINVAL, EMSGSIZE, EHOSTUNREACH
        // (the NULL-mctx and bad-cpu calls have no context).
        assert_eq!(st.rejected, 1 + 3 + 7 + 1 + 1 + 1);
    });
}

/// `MTCP_SENDPKT_ERRORS=mos`: where mOS returned 0 with nothing sent (no route, no ARP entry,
/// TX full, payload too long) the call returns 0 too, errno untouched; it is still counted as
/// rejected and nothing reaches the wire. What mOS refused (EACCES, ENODATA) stays -1.
#[test]
fn mos_error_mode_returns_zero_where_mos_did() {
    let t = Isolated::new("mos_error_mode_returns_zero_where_mos_did")
        .with_port(PCAP)
        // The setting under test.
        .env("MTCP_SENDPKT_ERRORS", "mos");
    let Some((dir, _)) = t.run(|_| {
        let errno = || std::io::Error::last_os_error().raw_os_error().unwrap();
        // Starting the library and this thread's first call make system calls of their own.
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        let mut pi = o.pkt_info();
        pi.iph = std::ptr::null_mut();
        assert_eq!(send(0, 1, &pi), Err(libc::ENODATA), "mOS refused this too");
        let mut unrouted = Observed::new([10, 0, 9, 1], 9, &TS_OPTIONS, b"");
        let mut big = Observed::new([10, 0, 0, 10], 8, &TS_OPTIONS, &[0u8; 1449]);
        for (o, what) in [(&mut unrouted, "no route"), (&mut big, "payload too long")] {
            // SAFETY: sets the calling thread's errno.
            unsafe { *libc::__errno_location() = 12345 };
            assert_eq!(send(0, 1, &o.pkt_info()), Ok(()), "{what}: 0 as in mOS");
            assert_eq!(errno(), 12345, "{what}: errno untouched");
        }
        flush(0);
        let st = stats(0);
        assert_eq!((st.accepted, st.transmitted, st.rejected), (0, 0, 3));
    }) else {
        return;
    };
    assert!(read_pcap(&dir.join("out.pcap")).is_empty(), "nothing sent");
}

#[test]
fn arp_falls_back_to_ethh_then_fails() {
    // A route table but an ARP table that covers only 10.0.0.0/24.
    let conf = "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n 10.0.0.0/24 90:e2:ba:7c:1f:a5\n }\n route_table {\n 0.0.0.0/0 dpdk0\n }\n}\n";
    let t = Isolated::new("arp_falls_back_to_ethh_then_fails")
        .with_port(PCAP)
        .file("mos.conf", conf);
    let Some((dir, _)) = t.run(|_| {
        let mut o = Observed::new([192, 168, 7, 7], 1, &TS_OPTIONS, b"via ethh");
        let mut pi = o.pkt_info();
        assert_eq!(send(0, 1, &pi), Err(libc::EHOSTUNREACH), "no ARP entry, no ethh");
        let mut eth = mtcp_sendpkt::ethhdr {
            h_dest: [2, 4, 6, 8, 10, 12],
            h_source: [0; 6],
            h_proto: 8,
        };
        pi.ethh = &mut eth;
        assert_eq!(send(0, 1, &pi), Ok(()), "ethh->h_dest used");
    }) else {
        return;
    };
    let frames = read_pcap(&dir.join("out.pcap"));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0][..6], [2, 4, 6, 8, 10, 12]);
}

/// The owner's quick path takes a destination with no ARP entry once it is in the route cache,
/// a hand-built `pkt_info` (`ip_len` 0, which the contract allows), and segments without TCP
/// options (no Timestamp): each frame must still be mOS's frame (parsed by etherparse), with
/// each call's own `ethh->h_dest` (never the one cached by an earlier call), and a call without
/// `ethh` must still be refused with `EHOSTUNREACH`.
#[test]
fn quick_path_frames_without_arp_entry_ip_len_or_options_match_the_full_paths() {
    // As `arp_falls_back_to_ethh_then_fails`: ARP entries for 10.0.0.0/24 only.
    let conf = "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n 10.0.0.0/24 90:e2:ba:7c:1f:a5\n }\n route_table {\n 0.0.0.0/0 dpdk0\n }\n}\n";
    let inputs = || {
        (1..=4u32)
            .map(|seq| Observed::new([192, 168, 7, 7], seq, &TS_OPTIONS, &[]))
            .chain((5..=7u32).map(|seq| Observed::new([10, 0, 0, 9], seq, &TS_OPTIONS, b"hand")))
            .chain([
                Observed::new([10, 0, 0, 9], 8, &[], &[]),
                Observed::new([10, 0, 0, 9], 9, &[], b"no options"),
            ])
            .collect::<Vec<_>>()
    };
    let macs = |seq: u8| [2, 4, 6, 8, 10, seq];
    let t = Isolated::new("quick_path_frames_without_arp_entry_ip_len_or_options_match_the_full_paths")
        .with_port(PCAP)
        .file("mos.conf", conf);
    let Some((dir, _)) = t.run(|dir| {
        for (k, mut o) in inputs().into_iter().enumerate() {
            let mut eth = mtcp_sendpkt::ethhdr {
                h_dest: macs(k as u8 + 1),
                h_source: [0; 6],
                h_proto: 8,
            };
            let mut pi = o.pkt_info();
            if k < 4 {
                // The first call fills the route cache (full path); the next ones are quick.
                pi.ethh = &mut eth;
                assert_eq!(send(0, 1, &pi), Ok(()), "call {k}");
                if k == 2 {
                    let no_ethh = mtcp_sendpkt::pkt_info {
                        ethh: std::ptr::null_mut(),
                        ..pi
                    };
                    assert_eq!(send(0, 1, &no_ethh), Err(libc::EHOSTUNREACH), "cached, no ethh");
                }
            } else {
                if k < 7 {
                    // Hand-built: no ip_len (and a payload, the quick path with data from the
                    // second on).
                    pi.ip_len = 0;
                }
                assert_eq!(send(0, 1, &pi), Ok(()), "call {k}");
            }
        }
        flush(0);
        let st = stats(0);
        assert_eq!((st.accepted, st.transmitted, st.rejected), (9, 9, 1));
        keep_port_mac(dir);
    }) else {
        return;
    };
    let (frames, mac) = sent_frames(&dir);
    let inputs = inputs();
    assert_eq!(frames.len(), inputs.len(), "one frame per accepted call");
    for (k, (frame, input)) in frames.iter().zip(&inputs).enumerate() {
        let dst = if k < 4 { macs(k as u8 + 1) } else { ARP_NET };
        check_frame(frame, input, dst, mac);
    }
}

/// Option layouts other than NOP, NOP, Timestamp (a SACK block first, a SYN's MSS, SACK-permitted,
/// Timestamp and window scale, a Timestamp with no NOPs before it, MSS alone, no Timestamp at
/// all), with and without payload, three calls each: the library's first call (its owner not yet
/// claimed) takes the full path, the others the owner's quick path after the full path's checks
/// (which path took a call is not visible from here: this checks what both must give). Every
/// frame must be mOS's frame with the Timestamp an independent parser (etherparse) finds in the
/// input.
#[test]
fn every_option_layout_gives_mos_frame_on_the_full_and_the_quick_path() {
    let layouts: [&[u8]; 5] = [
        &[
            1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 10, 1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78,
        ],
        &[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7, 1, 3, 3, 7,
        ],
        &[8, 10, 0, 0, 0, 0x21, 0, 0, 0, 0x43, 0, 0],
        &[2, 4, 5, 0xb4],
        &[1, 1, 1, 1, 1, 1, 1, 1],
    ];
    let inputs = || {
        let mut v = Vec::new();
        for (k, options) in layouts.iter().enumerate() {
            for call in 0..3u32 {
                let seq = 10 * k as u32 + call;
                let payload: &[u8] = if call == 2 { b"with data" } else { b"" };
                v.push(Observed::new([10, 0, 0, 10], seq, options, payload));
            }
        }
        v
    };
    let t =
        Isolated::new("every_option_layout_gives_mos_frame_on_the_full_and_the_quick_path").with_port(PCAP);
    let Some((dir, _)) = t.run(|dir| {
        let n = inputs().len() as u64;
        for (k, mut o) in inputs().into_iter().enumerate() {
            assert_eq!(send(0, 1, &o.pkt_info()), Ok(()), "call {k}");
        }
        flush(0);
        let st = stats(0);
        assert_eq!((st.accepted, st.transmitted, st.rejected), (n, n, 0));
        keep_port_mac(dir);
    }) else {
        return;
    };
    let (frames, mac) = sent_frames(&dir);
    let inputs = inputs();
    assert_eq!(frames.len(), inputs.len(), "one frame per accepted call");
    for (frame, input) in frames.iter().zip(&inputs) {
        check_frame(frame, input, ARP_10, mac);
    }
}

/// The default batching, with a long interval to see it: a frame after a quiet spell goes out
/// within the call; one that follows it within the interval is staged, and the flusher sends it
/// within the interval with no further call.
#[test]
fn a_batched_frame_leaves_within_the_flush_interval_without_another_call() {
    let t = Isolated::new("a_batched_frame_leaves_within_the_flush_interval_without_another_call")
        .with_port(PCAP)
        // Overridden: a longer interval than the default, so the staging is seen before it ends.
        .env("MTCP_SENDPKT_FLUSH_US", "2000");
    t.run(|dir| {
        // Started first: the first call would otherwise spend the budget below on starting DPDK.
        assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 1);
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"first");
        send(0, 1, &o.pkt_info()).unwrap();
        assert_eq!(
            stats(0).transmitted,
            1,
            "after a quiet spell: sent within the call"
        );
        let mut o = Observed::new([10, 0, 0, 10], 2, &TS_OPTIONS, b"second");
        let sent = Instant::now();
        send(0, 1, &o.pkt_info()).unwrap();
        assert_eq!(stats(0).pending, 1, "right behind it: staged");
        let deadline = sent + Duration::from_millis(200);
        while stats(0).transmitted < 2 {
            assert!(
                Instant::now() < deadline,
                "frame still staged after 200 ms: {:?}",
                stats(0)
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let waited = sent.elapsed();
        assert_eq!(
            read_pcap(&dir.join("out.pcap")).len(),
            2,
            "on the wire, with no further call"
        );
        eprintln!("measured: the staged frame reached the port after {waited:?} (FLUSH_US 2000)");
        assert!(
            waited >= Duration::from_micros(500),
            "it waited for the flusher ({waited:?})"
        );
    });
}

#[test]
fn burst_1_sends_within_the_call() {
    let t = Isolated::new("burst_1_sends_within_the_call")
        .with_port(PCAP)
        // The setting under test.
        .env("MTCP_SENDPKT_BURST", "1");
    t.run(|dir| {
        for i in 0..3 {
            let mut o = Observed::new([10, 0, 0, 10], i, &TS_OPTIONS, b"now");
            send(0, 1, &o.pkt_info()).unwrap();
            assert_eq!(
                stats(0).transmitted,
                u64::from(i) + 1,
                "on the TX queue when the call returns"
            );
            assert_eq!(read_pcap(&dir.join("out.pcap")).len(), i as usize + 1);
        }
    });
}

#[test]
fn frames_staged_at_exit_are_sent() {
    let t = Isolated::new("frames_staged_at_exit_are_sent")
        .with_port(PCAP)
        // Overridden so that the frames are still staged at exit: exit must send them.
        .env("MTCP_SENDPKT_BURST", "64")
        .env("MTCP_SENDPKT_FLUSH_US", "1000000");
    let Some((dir, _)) = t.run(|_| {
        for i in 0..10 {
            let mut o = Observed::new([10, 0, 0, 10], i, &TS_OPTIONS, b"late");
            send(0, 1, &o.pkt_info()).unwrap();
        }
        assert_eq!(stats(0).pending, 10, "still staged when the process exits");
    }) else {
        return;
    };
    assert_eq!(read_pcap(&dir.join("out.pcap")).len(), 10, "flushed at exit");
}

#[test]
fn bad_eal_args_fail_every_call_with_eacces_and_say_why_once() {
    let t = Isolated::new("bad_eal_args_fail_every_call_with_eacces_and_say_why_once").env(
        "MTCP_SENDPKT_EAL_ARGS",
        "--no-huge --no-pci --definitely-not-an-eal-option",
    );
    let Some((_, out)) = t.run(|_| {
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        for _ in 0..3 {
            assert_eq!(send(0, 1, &o.pkt_info()), Err(libc::EACCES));
        }
        // SAFETY: returns NULL or a static C string.
        let why = unsafe { std::ffi::CStr::from_ptr(mtcp_sendpkt::mtcp_sendpkt_init_error()) };
        assert!(why.to_string_lossy().contains("rte_eal_init failed"), "{why:?}");
        assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), -1);
    }) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("mtcp_sendpkt: cannot initialize").count(),
        1,
        "logged once:\n{stderr}"
    );
}

#[test]
fn no_port_fails_with_eacces() {
    let t = Isolated::new("no_port_fails_with_eacces").env("MTCP_SENDPKT_EAL_ARGS", eal_args("noport", ""));
    t.run(|_| {
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &o.pkt_info()), Err(libc::EACCES));
        // SAFETY: returns NULL or a static C string.
        let why = unsafe { std::ffi::CStr::from_ptr(mtcp_sendpkt::mtcp_sendpkt_init_error()) };
        assert!(why.to_string_lossy().contains("no DPDK port"), "{why:?}");
    });
}

#[test]
fn initialization_leaves_the_callers_cpu_affinity_alone() {
    let t = Isolated::new("initialization_leaves_the_callers_cpu_affinity_alone").with_port(PCAP);
    t.run(|_| {
        let affinity = || {
            // SAFETY: plain data out-parameter of the right size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                assert_eq!(
                    libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set),
                    0
                );
                (0..libc::CPU_SETSIZE as usize)
                    .filter(|&i| libc::CPU_ISSET(i, &set))
                    .collect::<Vec<_>>()
            }
        };
        let before = affinity();
        assert!(mtcp_sendpkt::mtcp_sendpkt_cores() >= 1);
        assert_eq!(affinity(), before);
    });
}

#[test]
fn routes_choose_the_port_and_each_core_has_its_own_queue() {
    let conf = "\
mos {
    netdev {
        dpdk0 0x0001
        dpdk1 0x0002
    }
    arp_table {
        10.0.0.0/23 90:e2:ba:7c:1f:a5
    }
    route_table {
        10.0.0.0/24 dpdk0
        10.0.1.0/24 dpdk1
        10.0.1.128/25 dpdk0
    }
}
";
    // Two tx_pcap files per port: TX queue k (core context k) writes the k-th file.
    let vdevs = "--vdev net_pcap0,tx_pcap={dir}/p0q0.pcap,tx_pcap={dir}/p0q1.pcap \
                 --vdev net_pcap1,tx_pcap={dir}/p1q0.pcap,tx_pcap={dir}/p1q1.pcap";
    let t = Isolated::new("routes_choose_the_port_and_each_core_has_its_own_queue")
        .with_port(vdevs)
        .file("mos.conf", conf);
    let Some((dir, _)) = t.run(|_| {
        assert_eq!(
            mtcp_sendpkt::mtcp_sendpkt_cores(),
            2,
            "core masks 0x1 and 0x2: two contexts"
        );
        for (cpu, daddr) in [
            (0, [10, 0, 0, 5]),
            (1, [10, 0, 1, 6]),
            (1, [10, 0, 1, 200]),
            (1, [10, 0, 1, 7]),
        ] {
            let mut o = Observed::new(daddr, u32::from(daddr[3]), &TS_OPTIONS, b"r");
            send(cpu, 1, &o.pkt_info()).unwrap();
        }
        flush(0);
        flush(1);
        assert_eq!((stats(0).transmitted, stats(1).transmitted), (1, 3));
    }) else {
        return;
    };
    let dsts = |file: &str| -> Vec<[u8; 4]> {
        read_pcap(&dir.join(file))
            .iter()
            .map(|f| f[30..34].try_into().unwrap())
            .collect()
    };
    // Port by longest prefix (the /25 inside dpdk1's /24 goes to dpdk0), queue by core.
    assert_eq!(dsts("p0q0.pcap"), [[10, 0, 0, 5]]);
    assert_eq!(dsts("p0q1.pcap"), [[10, 0, 1, 200]]);
    assert_eq!(dsts("p1q0.pcap"), Vec::<[u8; 4]>::new());
    assert_eq!(dsts("p1q1.pcap"), [[10, 0, 1, 6], [10, 0, 1, 7]]);
}

#[test]
fn no_configuration_at_all_fails_with_eacces_without_hanging() {
    let t = Isolated::new("no_configuration_at_all_fails_with_eacces_without_hanging");
    t.run(|_| {
        let started = Instant::now();
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &o.pkt_info()), Err(libc::EACCES));
        assert!(!mtcp_sendpkt::mtcp_sendpkt_init_error().is_null());
        assert!(started.elapsed() < Duration::from_secs(30));
    });
}

/// Threads that call with an `mctx` another thread owns (a worker pool beside the core's own
/// thread), with the default settings on a port of two TX queues (two `tx_pcap` files): the
/// first such thread claims the core's lane, TX queue 1, and sends there as its owner; one that
/// comes while the lane is held hands its frames over to the owner (TX queue 0; or sends there
/// as the core's owner, once the flusher made the idle owner give the core up); once the lane's
/// thread exited, the next thread claims it. Every frame is mOS's, each thread's in its call
/// order, and the core's counters count all of them.
#[test]
fn a_guest_thread_claims_a_lane_and_the_next_hands_over_until_it_is_free() {
    const N: u32 = 50;
    // Sequence numbers tell the threads apart: the owner's, then guests A, B and C.
    let frames_of = |base: u32| -> Vec<Observed> {
        (0..N)
            .map(|i| {
                let payload: &[u8] = if i % 5 == 4 { b"data" } else { b"" };
                Observed::new([10, 0, 0, 10], base + i, &TS_OPTIONS, payload)
            })
            .collect()
    };
    let vdevs = "--vdev net_pcap0,tx_pcap={dir}/q0.pcap,tx_pcap={dir}/q1.pcap";
    let t = Isolated::new("a_guest_thread_claims_a_lane_and_the_next_hands_over_until_it_is_free")
        .with_port(vdevs);
    let Some((dir, _)) = t.run(|dir| {
        let send_all = move |base: u32| {
            for (k, mut o) in frames_of(base).into_iter().enumerate() {
                assert_eq!(send(0, 1, &o.pkt_info()), Ok(()), "frame {k} of {base}");
            }
        };
        // The owner: the core's thread, first to call. Its flush takes over the free lane for
        // a moment, and must leave it free (a flush that claimed it would keep it from A).
        send_all(0);
        assert!(flush(0) >= 0);
        let (a_sent_tx, a_sent_rx) = std::sync::mpsc::channel();
        let (b_done_tx, b_done_rx) = std::sync::mpsc::channel::<()>();
        let a = std::thread::spawn(move || {
            send_all(1000);
            a_sent_tx.send(()).unwrap();
            // Holds the lane (alive) until B sent.
            b_done_rx.recv().unwrap();
        });
        a_sent_rx.recv().unwrap();
        std::thread::spawn(move || send_all(2000)).join().unwrap();
        b_done_tx.send(()).unwrap();
        a.join().unwrap();
        // The owner again (it may have been made to give the core up to B while it waited, as an
        // owner that stops calling while others send is: then it claims it back), then C.
        send_all(4000);
        std::thread::spawn(move || send_all(3000)).join().unwrap();
        assert!(flush(0) >= 0);
        let st = stats(0);
        assert_eq!(
            (st.accepted, st.transmitted, st.pending, st.rejected),
            (5 * u64::from(N), 5 * u64::from(N), 0, 0),
            "the core counts its lane's frames"
        );
        keep_port_mac(dir);
    }) else {
        return;
    };
    let mac: [u8; 6] = std::fs::read(dir.join("mac")).unwrap().try_into().unwrap();
    let seqs = |frames: &[Vec<u8>], base: u32| -> Vec<u32> {
        frames
            .iter()
            .map(|f| u32::from_be_bytes(f[38..42].try_into().unwrap()))
            .filter(|s| (base..base + N).contains(s))
            .collect()
    };
    let in_order = |base: u32| -> Vec<u32> { (base..base + N).collect() };
    let q0 = read_pcap(&dir.join("q0.pcap"));
    let q1 = read_pcap(&dir.join("q1.pcap"));
    assert_eq!(q0.len() + q1.len(), 5 * N as usize, "every accepted frame, once");
    // The owner's and B's (handed over) on queue 0; A's and then C's (the lane) on queue 1.
    for base in [0, 2000, 4000] {
        assert_eq!(seqs(&q0, base), in_order(base), "queue 0, frames {base}..");
    }
    for base in [1000, 3000] {
        assert_eq!(
            seqs(&q1, base),
            in_order(base),
            "queue 1 (the lane), frames {base}.."
        );
    }
    let inputs: std::collections::HashMap<u32, Observed> = [0, 1000, 2000, 3000, 4000]
        .into_iter()
        .flat_map(|base| (0..N).map(move |i| base + i).zip(frames_of(base)))
        .collect();
    for frame in q0.iter().chain(&q1) {
        let seq = u32::from_be_bytes(frame[38..42].try_into().unwrap());
        check_frame(frame, &inputs[&seq], ARP_10, mac);
    }
}

/// `MTCP_SENDPKT_LANES=0`: no lane, every guest's frame is handed over to the owner (TX queue 0)
/// even where the port has a queue to spare.
#[test]
fn without_lanes_a_guest_hands_every_frame_over() {
    let vdevs = "--vdev net_pcap0,tx_pcap={dir}/q0.pcap,tx_pcap={dir}/q1.pcap";
    let t = Isolated::new("without_lanes_a_guest_hands_every_frame_over")
        .with_port(vdevs)
        // Overridden: the setting under test.
        .env("MTCP_SENDPKT_LANES", "0");
    let Some((dir, _)) = t.run(|_| {
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        send(0, 1, &o.pkt_info()).unwrap();
        std::thread::spawn(|| {
            for seq in 2..12 {
                let mut o = Observed::new([10, 0, 0, 10], seq, &TS_OPTIONS, b"");
                send(0, 1, &o.pkt_info()).unwrap();
            }
        })
        .join()
        .unwrap();
        assert!(flush(0) >= 0);
        assert_eq!(stats(0).transmitted, 11);
    }) else {
        return;
    };
    assert_eq!(read_pcap(&dir.join("q0.pcap")).len(), 11);
    assert_eq!(read_pcap(&dir.join("q1.pcap")).len(), 0);
}
