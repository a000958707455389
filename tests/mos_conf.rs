//! Existing mOS deployments, unchanged: the configuration files mOS's `setup.sh` writes and each
//! quirk of mOS's grammar, loaded by the library in a real DPDK process (frames checked in the
//! pcap); the kernel's ARP and route tables read in a network namespace of the test's own, as
//! mOS reads them; and the `mtcp-sendpkt` tool on the same files.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap()
}
fn fixture_path(name: &str) -> PathBuf {
    support::cbuild::manifest_dir()
        .join("tests/fixtures/mos")
        .join(name)
}

/// `mtcp_sendpkt_config_warnings()` as lines; `None` for NULL.
fn config_warnings() -> Option<Vec<String>> {
    let p = mtcp_sendpkt::mtcp_sendpkt_config_warnings();
    // SAFETY: NULL or a NUL-terminated string that lives as long as the process.
    (!p.is_null()).then(|| {
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .lines()
            .map(str::to_owned)
            .collect()
    })
}

fn with_ethh(o: &mut Observed, eth: &mut mtcp_sendpkt::ethhdr) -> mtcp_sendpkt::pkt_info {
    let mut pi = o.pkt_info();
    pi.ethh = eth;
    pi
}

const HINT: [u8; 6] = [0x02, 0x68, 0x69, 0x6e, 0x74, 0x00];

/// The end-host file as setup.sh writes it (application block, `core_mask`, empty tables, two
/// netdevs with mask 0x0003) loads unchanged: two core contexts, two ports, no warning, and with
/// empty tables (kernel's left out here) a frame goes to the first port with `ethh`'s MAC.
#[test]
fn the_end_host_file_setup_sh_writes_loads_as_it_is() {
    let t = Isolated::new("the_end_host_file_setup_sh_writes_loads_as_it_is")
        .with_port(
            "--vdev net_pcap0,tx_pcap={dir}/p0q0.pcap,tx_pcap={dir}/p0q1.pcap \
             --vdev net_pcap1,tx_pcap={dir}/p1q0.pcap,tx_pcap={dir}/p1q1.pcap",
        )
        .file("mos.conf", &fixture("end-host.conf"));
    let Some((dir, _)) = t.run(|_| {
        assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 2, "0x0003: two core contexts");
        assert_eq!(
            config_warnings(),
            Some(vec![]),
            "not NULL: the file was read, without a warning"
        );
        for cpu in 0..2 {
            let mut o = Observed::new([10, 0, 0, 10], 100 + cpu as u32, &TS_OPTIONS, b"");
            let mut eth = mtcp_sendpkt::ethhdr {
                h_dest: HINT,
                h_source: [0; 6],
                h_proto: 0x0008,
            };
            assert_eq!(send(cpu, 1, &with_ethh(&mut o, &mut eth)), Ok(()));
            flush(cpu);
        }
    }) else {
        return;
    };
    // Core context k on TX queue k of the first port.
    for q in 0..2 {
        let frames = read_pcap(&dir.join(format!("p0q{q}.pcap")));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0][..6], HINT);
        assert!(read_pcap(&dir.join(format!("p1q{q}.pcap"))).is_empty());
    }
}

/// The standalone file (no application block, a nic_forward_table) loads too.
#[test]
fn the_standalone_file_setup_sh_writes_loads_as_it_is() {
    let t = Isolated::new("the_standalone_file_setup_sh_writes_loads_as_it_is")
        .with_port("--vdev net_null0 --vdev net_null1")
        .file("mos.conf", &fixture("standalone.conf"));
    t.run(|_| {
        assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 2);
        assert!(mtcp_sendpkt::mtcp_sendpkt_init_error().is_null());
        assert_eq!(config_warnings(), Some(vec![]));
    });
}

/// Each quirk, in a running library: `dpdk0 10` is ten (two contexts), a one-digit MAC, lines mOS
/// skips skipped with warnings naming file:line (printed once, and returned), a route to a
/// device that is not a netdev refusing its frames.
#[test]
fn every_quirk_loads_and_means_what_it_means_to_mos() {
    let t = Isolated::new("every_quirk_loads_and_means_what_it_means_to_mos")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/q0.pcap,tx_pcap={dir}/q1.pcap")
        .file("mos.conf", &fixture("quirks.conf"));
    let Some((dir, out)) = t.run(|dir| {
        assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 2);
        let warnings = config_warnings().expect("the configuration was read");
        let conf = dir.join("mos.conf").display().to_string();
        let lines: Vec<&str> = warnings.iter().map(|w| w.strip_prefix(&conf).unwrap()).collect();
        assert_eq!(lines.len(), 4, "{warnings:?}");
        for (w, line) in lines.iter().zip([":16: ", ":21: ", ":24: ", ":22: "]) {
            assert!(w.starts_with(line), "{w}");
        }
        let to = |addr: [u8; 4]| {
            let mut o = Observed::new(addr, 7, &TS_OPTIONS, b"");
            send(1, 1, &o.pkt_info())
        };
        assert_eq!(to([10, 0, 0, 10]), Ok(()));
        assert_eq!(
            to([10, 0, 0, 11]),
            Ok(()),
            "its own line skipped: the /24 entry answers"
        );
        assert_eq!(
            to([10, 0, 2, 1]),
            Err(libc::EHOSTUNREACH),
            "dpdk7 is not a netdev"
        );
        assert_eq!(
            to([10, 0, 1, 1]),
            Err(libc::EHOSTUNREACH),
            "its route line was skipped"
        );
        flush(1);
        assert_eq!(stats(1).transmitted, 2);
    }) else {
        return;
    };
    assert!(read_pcap(&dir.join("q0.pcap")).is_empty());
    let frames = read_pcap(&dir.join("q1.pcap"));
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0][..6], [2, 0, 0, 0, 0, 0xa]);
    assert_eq!(frames[1][..6], [0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa5]);
    // Each warning printed once, by the library, on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("mtcp_sendpkt: warning: ").count(), 4, "{stderr}");
}

/// What mOS refuses to start with (an application block without `run`) fails initialization,
/// naming the file and line; the warnings read before are still there.
#[test]
fn what_mos_refuses_fails_every_call_naming_file_and_line() {
    let conf = "application {\n type = end\n}\nmos {\n netdev {\n dpdk0 0x1\n }\n}\n";
    let t = Isolated::new("what_mos_refuses_fails_every_call_naming_file_and_line")
        .with_port("--vdev net_null0")
        .file("mos.conf", conf);
    t.run(|dir| {
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &o.pkt_info()), Err(libc::EACCES));
        // SAFETY: returns NULL or a static C string.
        let why = unsafe { std::ffi::CStr::from_ptr(mtcp_sendpkt::mtcp_sendpkt_init_error()) };
        let want = format!("{}:1: ", dir.join("mos.conf").display());
        assert!(
            why.to_string_lossy().starts_with(&want),
            "{why:?} should start with {want}"
        );
        assert!(why.to_string_lossy().contains("no `run"), "{why:?}");
    });
}

const NEIGHBOUR: &str = "02:00:00:00:79:02";
const NEIGHBOUR6: &str = "02:00:00:00:79:06";

/// `mtcp_sendpkt_segment` of an IPv6 segment from `fd00:79::1` to `dst`, whose Ethernet
/// destination (read when `ethh` is given) is `HINT`.
fn raw6(dst: &str, ethh: bool) -> Result<i32, i32> {
    let mut f = support::segment::frame(&support::segment::Spec {
        v6: true,
        src: "fd00:79::1",
        dst,
        ..support::segment::V4
    });
    f.bytes[..6].copy_from_slice(&HINT);
    support::segment::raw(&f.pkt_info(ethh))
}

/// The common host: a management interface `eth0` (a veth here) holding the kernel's IPv4 and
/// IPv6 default routes, as on nearly every server.
fn management_interface(ns: &Netns) -> Result<(), String> {
    ns.exec(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "wire_e",
    ])?;
    ns.exec(&["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"])?;
    ns.exec(&["ip", "-6", "addr", "add", "fd00::2/64", "dev", "eth0", "nodad"])?;
    ns.exec(&["ip", "link", "set", "eth0", "up"])?;
    ns.exec(&["ip", "link", "set", "wire_e", "up"])?;
    ns.exec(&["ip", "route", "add", "default", "via", "192.0.2.1", "dev", "eth0"])?;
    ns.exec(&[
        "ip", "-6", "route", "add", "default", "via", "fd00::1", "dev", "eth0",
    ])?;
    Ok(())
}

/// As dpdk-iface does, on the common host ([`management_interface`]): the kernel sees the DPDK
/// port as `dpdk0` (here a veth), with an address, a permanent neighbour of each family and a
/// route through a gateway; `eth9` (not a netdev, the other end of a veth pair too) has a route
/// as well.
/// The MAC net_pcap gives its ports (`02:70:63:61:70:00`, "pcap" in ASCII after 02).
const NET_PCAP_MAC: &str = "02:70:63:61:70:00";

fn deployment(ns: &Netns) -> Result<(), String> {
    management_interface(ns)?;
    ns.exec(&[
        "ip", "link", "add", "dpdk0", "type", "veth", "peer", "name", "wire0",
    ])?;
    // dpdk-iface-kmod gives the kernel device the DPDK port's MAC: that is how mOS (and the
    // library) find the port of netdev `dpdk0` (net_pcap's fixed MAC here).
    ns.exec(&["ip", "link", "set", "dpdk0", "address", NET_PCAP_MAC])?;
    ns.exec(&[
        "ip", "link", "add", "eth9", "type", "veth", "peer", "name", "wire9",
    ])?;
    for (dev, addr, addr6) in [
        ("dpdk0", "10.79.0.1/24", "fd00:79::1/64"),
        ("eth9", "10.80.0.1/24", "fd00:80::1/64"),
    ] {
        ns.exec(&["ip", "addr", "add", addr, "dev", dev])?;
        ns.exec(&["ip", "-6", "addr", "add", addr6, "dev", dev, "nodad"])?;
        ns.exec(&["ip", "link", "set", dev, "up"])?;
    }
    ns.exec(&["ip", "link", "set", "wire0", "up"])?;
    ns.exec(&["ip", "link", "set", "wire9", "up"])?;
    ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.79.0.2",
        "lladdr",
        NEIGHBOUR,
        "dev",
        "dpdk0",
        "nud",
        "permanent",
    ])?;
    ns.exec(&[
        "ip",
        "-6",
        "neigh",
        "replace",
        "fd00:79::2",
        "lladdr",
        NEIGHBOUR6,
        "dev",
        "dpdk0",
        "nud",
        "permanent",
    ])?;
    ns.exec(&[
        "ip",
        "route",
        "add",
        "10.81.0.0/16",
        "via",
        "10.79.0.2",
        "dev",
        "dpdk0",
    ])?;
    Ok(())
}

/// mOS's end-host file with its empty tables, in a namespace where the kernel knows dpdk0's
/// neighbour: the frame to it carries the neighbour's MAC from /proc/net/arp; the kernel's routes
/// on eth9 and eth0 (not netdevs) are left out, so nothing routes there; a gateway route leads to
/// dpdk0 but, as in mOS, the ARP entry is looked up for the destination (not the gateway), so
/// `ethh` decides. With MTCP_SENDPKT_KERNEL_TABLES=0 the kernel's entries are not there.
#[test]
fn the_kernel_tables_fill_an_empty_arp_table_as_in_mos() {
    const NAME: &str = "the_kernel_tables_fill_an_empty_arp_table_as_in_mos";
    let conf = fixture("end-host.conf").replace("\t\tdpdk1 0x0003\n", "");
    let body = |kernel: bool| {
        move |_: &Path| {
            let to = |addr: [u8; 4], ethh: bool| {
                let mut o = Observed::new(addr, 9, &TS_OPTIONS, b"");
                let mut eth = mtcp_sendpkt::ethhdr {
                    h_dest: HINT,
                    h_source: [0; 6],
                    h_proto: 0x0008,
                };
                let pi = if ethh {
                    with_ethh(&mut o, &mut eth)
                } else {
                    o.pkt_info()
                };
                let r = send(0, 1, &pi);
                flush(0);
                r
            };
            if kernel {
                assert_eq!(
                    to([10, 79, 0, 2], false),
                    Ok(()),
                    "the kernel's neighbour answers"
                );
                assert_eq!(
                    to([10, 80, 0, 5], true),
                    Err(libc::EHOSTUNREACH),
                    "eth9 is no netdev: its route is left out, no other matches"
                );
                assert_eq!(
                    to([10, 81, 3, 4], false),
                    Err(libc::EHOSTUNREACH),
                    "no ARP entry for it"
                );
                assert_eq!(to([10, 81, 3, 4], true), Ok(()));
                assert_eq!(
                    to([8, 8, 8, 8], true),
                    Err(libc::EHOSTUNREACH),
                    "eth0's default route is the host's, left out"
                );
                // IPv6: /proc/net/ipv6_route and the neighbour table over rtnetlink.
                assert_eq!(raw6("fd00:79::2", false), Ok(1), "the kernel's IPv6 neighbour");
                assert_eq!(
                    raw6("fd00:80::5", true),
                    Err(libc::EHOSTUNREACH),
                    "eth9 is no netdev"
                );
                assert_eq!(raw6("fd00:79::3", false), Err(libc::EHOSTUNREACH), "no neighbour");
            } else {
                assert_eq!(to([10, 79, 0, 2], false), Err(libc::EHOSTUNREACH), "no ARP entry");
                assert_eq!(
                    to([10, 79, 0, 2], true),
                    Ok(()),
                    "no route at all: the first port"
                );
                assert_eq!(raw6("fd00:79::2", false), Err(libc::EHOSTUNREACH));
                assert_eq!(raw6("fd00:80::5", true), Ok(1), "no IPv6 route: the first port");
            }
            flush(0);
        }
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        let kernel = std::env::var("MTCP_SENDPKT_KERNEL_TABLES").as_deref() != Ok("0");
        Isolated::new(NAME).run(body(kernel));
        return;
    }
    let ns = match Netns::new("ktables") {
        Ok(ns) => ns,
        Err(why) => return skip(NAME, &why),
    };
    if let Err(why) = deployment(&ns) {
        return skip(NAME, &why);
    }
    for kernel in [true, false] {
        // The setting itself is under test: both values, on the same kernel tables.
        let t = Isolated::new(NAME)
            .in_netns(&ns.0)
            .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap,tx_pcap={dir}/q1.pcap")
            .file("mos.conf", &conf)
            .env("MTCP_SENDPKT_KERNEL_TABLES", if kernel { "1" } else { "0" });
        let (dir, _) = t.run(body(kernel)).expect("parent");
        let frames = read_pcap(&dir.join("out.pcap"));
        let dst: Vec<[u8; 6]> = frames.iter().map(|f| f[..6].try_into().unwrap()).collect();
        let neighbour: [u8; 6] = [2, 0, 0, 0, 0x79, 2];
        let neighbour6: [u8; 6] = [2, 0, 0, 0, 0x79, 6];
        if kernel {
            assert_eq!(dst, [neighbour, HINT, neighbour6]);
        } else {
            assert_eq!(dst, [HINT, HINT]);
        }
    }
    // The tool, run where the middlebox runs, says the same and why.
    let conf_path = std::env::temp_dir().join(format!("mtcpsp-ktables-{}.conf", std::process::id()));
    std::fs::write(&conf_path, &conf).unwrap();
    let tool = env!("CARGO_BIN_EXE_mtcp-sendpkt");
    let conf_arg = conf_path.display().to_string();
    let out = ns.exec(&[tool, "route", "10.79.0.2", &conf_arg]).unwrap();
    assert!(
        out.contains(&format!(
            "the port with MAC {NET_PCAP_MAC} (dpdk0): route 10.79.0.0/24 dpdk0 (kernel (/proc/net/route:"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "destination MAC {NEIGHBOUR}: ARP entry 10.79.0.2/32 (kernel (/proc/net/arp:"
        )),
        "{out}"
    );
    let out6 = ns.exec(&[tool, "route", "fd00:79::2", &conf_arg]).unwrap();
    assert!(
        out6.contains(&format!(
            "the port with MAC {NET_PCAP_MAC} (dpdk0): route fd00:79::/64 dpdk0 (kernel (/proc/net/ipv6_route:"
        )),
        "{out6}"
    );
    assert!(
        out6.contains(&format!(
            "destination MAC {NEIGHBOUR6}: neighbour entry fd00:79::2/128 (kernel (rtnetlink RTM_GETNEIGH:"
        )),
        "{out6}"
    );
    let err = ns.exec(&[tool, "route", "10.80.0.5", &conf_arg]).unwrap_err();
    assert!(
        err.contains("route 10.80.0.5") || err.contains("10.80.0.5"),
        "{err}"
    );
    let check = ns.exec(&[tool, "check", &conf_arg]).unwrap();
    assert!(check.contains("kernel routes left out ("), "{check}");
    for left in [
        "  10.80.0.0/24       eth9       kernel (/proc/net/route:",
        "  0.0.0.0/0          eth0       kernel (/proc/net/route:",
        "  ::/0               eth0       kernel (/proc/net/ipv6_route:",
    ] {
        assert!(check.contains(left), "{left}\n{check}");
    }
    assert!(!check.contains("eth9       ->"), "never a route: {check}");
    // dpdk0 is a kernel device here, with the DPDK port's MAC: found by it, as in mOS.
    assert!(
        check.contains(&format!(
            "    kernel device dpdk0, MAC {NET_PCAP_MAC}: the DPDK port with that MAC"
        )),
        "{check}"
    );
    let _ = std::fs::remove_file(conf_path);
}

/// An ordinary host: `eth0` holds the kernel's IPv4 and IPv6 default routes, and the file routes
/// `0.0.0.0/0` and `::/0` to dpdk0, with ARP and neighbour entries of its own. With the default
/// settings the kernel's routes of eth0 are left out (they never shadow the file's), so an ACK
/// and a RST of each family leave with the entries' MACs; dpdk0's own kernel route and neighbours
/// still answer for their prefix. (On such a host every frame used to be refused with
/// EHOSTUNREACH: the kernel's default route came first and won the tie.)
#[test]
fn on_an_ordinary_host_the_files_default_routes_answer() {
    const NAME: &str = "on_an_ordinary_host_the_files_default_routes_answer";
    const CONF: &str = "mos {\n netdev {\n dpdk0 0x0001\n }\n arp_table {\n \
                        10.1.2.3/32 02:00:00:00:01:03\n fd00:1::3/128 02:00:00:00:01:06\n }\n \
                        route_table {\n 0.0.0.0/0 dpdk0\n ::/0 dpdk0\n }\n}\n";
    let body = |_: &Path| {
        use support::segment::{frame, reset, Spec, V4};
        let ack = |addr: [u8; 4]| {
            let mut o = Observed::new(addr, 9, &TS_OPTIONS, b"");
            send(0, 1, &o.pkt_info())
        };
        assert_eq!(ack([10, 1, 2, 3]), Ok(()), "the file's default route");
        assert_eq!(
            config_warnings(),
            Some(vec![]),
            "left-out routes are not warnings"
        );
        assert_eq!(ack([10, 79, 0, 2]), Ok(()), "dpdk0's kernel route and neighbour");
        // RSTs toward the receiver only, without ethh: the table entries must give the MACs.
        let mut f4 = frame(&Spec {
            dst: "10.1.2.3",
            ..V4
        });
        assert_eq!(
            reset(&f4.pkt_info(false), mtcp_sendpkt::abi::MTCP_SENDPKT_TO_RECEIVER),
            Ok(1)
        );
        let mut f6 = frame(&Spec {
            v6: true,
            src: "fd00:1::1",
            dst: "fd00:1::3",
            ..V4
        });
        assert_eq!(
            reset(&f6.pkt_info(false), mtcp_sendpkt::abi::MTCP_SENDPKT_TO_RECEIVER),
            Ok(1)
        );
        let mut k6 = frame(&Spec {
            v6: true,
            src: "fd00:79::1",
            dst: "fd00:79::2",
            ..V4
        });
        assert_eq!(
            reset(&k6.pkt_info(false), mtcp_sendpkt::abi::MTCP_SENDPKT_TO_RECEIVER),
            Ok(1)
        );
        assert_eq!(
            ack([10, 1, 2, 4]),
            Err(libc::EHOSTUNREACH),
            "routed, but no ARP entry"
        );
        flush(0);
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        Isolated::new(NAME).run(body);
        return;
    }
    let ns = match Netns::new("ordinary") {
        Ok(ns) => ns,
        Err(why) => return skip(NAME, &why),
    };
    if let Err(why) = deployment(&ns) {
        return skip(NAME, &why);
    }
    let (dir, _) = Isolated::new(NAME)
        .in_netns(&ns.0)
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", CONF)
        .run(body)
        .expect("parent");
    let got: Vec<([u8; 6], String, bool)> = read_pcap(&dir.join("out.pcap"))
        .iter()
        .map(|f| {
            let p = etherparse::SlicedPacket::from_ethernet(f).expect("parses");
            let dst = match p.net {
                Some(etherparse::NetSlice::Ipv4(ip)) => ip.header().destination_addr().to_string(),
                Some(etherparse::NetSlice::Ipv6(ip)) => ip.header().destination_addr().to_string(),
                _ => panic!("not IP"),
            };
            let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
                panic!("not TCP")
            };
            (f[..6].try_into().unwrap(), dst, t.rst())
        })
        .collect();
    let neighbour: [u8; 6] = [2, 0, 0, 0, 0x79, 2];
    let neighbour6: [u8; 6] = [2, 0, 0, 0, 0x79, 6];
    assert_eq!(
        got,
        [
            ([2, 0, 0, 0, 1, 3], "10.1.2.3".to_string(), false),
            (neighbour, "10.79.0.2".into(), false),
            ([2, 0, 0, 0, 1, 3], "10.1.2.3".into(), true),
            ([2, 0, 0, 0, 1, 6], "fd00:1::3".into(), true),
            (neighbour6, "fd00:79::2".into(), true),
        ]
    );
    // The tool says the same, and why eth0's default route does not answer.
    let conf_path = dir.join("mos.conf").display().to_string();
    let tool = env!("CARGO_BIN_EXE_mtcp-sendpkt");
    for (addr, port_line, mac) in [
        (
            "10.1.2.3",
            "the port with MAC 02:70:63:61:70:00 (dpdk0): route 0.0.0.0/0 dpdk0 (",
            "02:00:00:00:01:03",
        ),
        (
            "fd00:1::3",
            "the port with MAC 02:70:63:61:70:00 (dpdk0): route ::/0 dpdk0 (",
            "02:00:00:00:01:06",
        ),
    ] {
        let out = ns.exec(&[tool, "route", addr, &conf_path]).unwrap();
        assert!(out.contains(port_line), "{out}");
        assert!(out.contains(&format!("destination MAC {mac}")), "{out}");
        assert!(out.contains("was left out: eth0 is not a netdev"), "{out}");
    }
}

/// The tool with the default settings, on this machine's kernel tables.
fn tool(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtcp-sendpkt"))
        .args(args)
        .env_remove("MTCP_SENDPKT_CONF")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}
fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_tool_checks_the_files_setup_sh_writes() {
    for name in [
        "end-host.conf",
        "standalone.conf",
        "end-host-master.conf",
        "end-host-slave.conf",
    ] {
        let path = fixture_path(name).display().to_string();
        let o = tool(&["check", &path], &[]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "{t}");
        assert!(
            t.contains(&format!("  dpdk0      core mask 0x0003   {path}:")),
            "{t}"
        );
        // On this host no kernel device is named dpdk0: the first DPDK port.
        assert!(
            t.contains("    no kernel device dpdk0: DPDK port 0 (dpdkN)"),
            "{t}"
        );
        assert!(t.contains("core contexts: 2 (from the netdev core masks)"), "{t}");
        assert!(
            t.contains("routes: none") && t.contains("ARP entries: none"),
            "{t}"
        );
        assert!(t.contains("warnings: 0"), "{t}");
    }
}

#[test]
fn the_tool_shows_origins_warnings_and_routes() {
    let path = fixture_path("quirks.conf").display().to_string();
    // The file from MTCP_SENDPKT_CONF, as the library takes it.
    let o = tool(&["check"], &[("MTCP_SENDPKT_CONF", &path)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("10.0.0.10/32       02:00:00:00:00:0a  {path}:15")),
        "{t}"
    );
    assert!(
        t.contains("10.0.2.0/24        dpdk7      -> refused (not a netdev device)"),
        "{t}"
    );
    assert!(t.contains("warnings: 4"), "{t}");
    assert!(
        t.contains(&format!("{path}:16: `10.0.0.11 02:00:00:00:00:0b` is not")),
        "{t}"
    );

    let o = tool(&["route", "10.0.0.11", &path], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "10.0.0.11: port 0 (dpdk0): route 10.0.0.0/24 dpdk0 ({path}:20)\n\
             destination MAC 90:e2:ba:7c:1f:a5: ARP entry 10.0.0.0/24 ({path}:17)\n"
        )
    );
    let o = tool(&["route", "10.0.2.9", &path], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("refused (EHOSTUNREACH): route 10.0.2.0/24 dpdk7"),
        "{}",
        text(&o)
    );
    let o = tool(&["route", "10.9.9.9", &path], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no route matches"));
}

#[test]
fn the_tool_fails_where_the_library_would_and_on_bad_usage() {
    let dir = test_dir("tool_errors");
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "mos {\n netdev {\n route_table {\n }\n }\n}\n").unwrap();
    let o = tool(&["check", &bad.display().to_string()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(&format!("error: {}:3: ", bad.display())),
        "{}",
        text(&o)
    );
    let o = tool(&["check", "/nonexistent/mos.conf"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("/nonexistent/mos.conf"));
    for args in [&["route", "not-an-address"][..], &["frobnicate"], &[]] {
        let o = tool(args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o).contains("usage: mtcp-sendpkt check"), "{args:?}");
    }
    let o = tool(&["--help"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("route ADDR"));
    // The DPDK it runs on (rte_version()) and the one it was built against: here the same,
    // the one pkg-config names.
    let dpdk = support::dpdk_version();
    let o = tool(&["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "mtcp-sendpkt {}, on DPDK {dpdk} (built against {dpdk})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}
