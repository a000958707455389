use super::*;
use std::net::Ipv4Addr;

fn parse(text: &str) -> Result<MosConfig, ConfigError> {
    let mut c = MosConfig::default();
    c.parse_into(Path::new("t.conf"), text)?;
    c.check_devices();
    resolve(&mut c);
    Ok(c)
}
/// Four DPDK ports, `net_null0` to `net_null3`, with no kernel device of a netdev's name: the
/// netdevs find them as `dpdkN` (or by device name). A route's netdev no port answers is left
/// unresolved here (the start's error is tested on its own).
fn four_ports() -> Vec<PortIdentity> {
    (0..4)
        .map(|id| PortIdentity {
            id,
            name: format!("net_null{id}"),
            mac: [2, 0, 0, 0, 0xee, id as u8],
        })
        .collect()
}
fn resolve(c: &mut MosConfig) {
    let _ = c.resolve(&four_ports());
}
fn ip(s: &str) -> u32 {
    u32::from(s.parse::<Ipv4Addr>().unwrap())
}
fn fixture(name: &str) -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mos")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}
fn warned(c: &MosConfig, line: usize, needle: &str) -> bool {
    c.warnings
        .iter()
        .any(|w| w.line == line && w.text.contains(needle))
}

/// The kernel tables of a deployment with dpdk-iface: dpdk0 and dpdk1 seen by the kernel, a
/// management interface with the default route.
const KERNEL_ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
10.0.0.10        0x1         0x2         02:00:00:00:00:10     *        dpdk0
10.0.1.20        0x1         0x6         02:00:00:00:00:20     *        dpdk1
10.0.0.99        0x1         0x0         00:00:00:00:00:00     *        dpdk0
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
";
const KERNEL_ROUTE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
dpdk0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
dpdk1\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

#[test]
fn setup_sh_shapes_load_without_a_warning() {
    for name in [
        "end-host.conf",
        "end-host-master.conf",
        "end-host-slave.conf",
        "standalone.conf",
    ] {
        let (path, text) = fixture(name);
        let mut c = MosConfig::default();
        c.parse_into(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        c.check_devices();
        resolve(&mut c);
        assert!(c.warnings.is_empty(), "{name}: {:?}", c.warnings);
        let ports: Vec<(String, Option<u16>)> = c.netdevs.iter().map(|d| (d.name.clone(), d.port)).collect();
        assert_eq!(
            ports,
            [("dpdk0".into(), Some(0)), ("dpdk1".into(), Some(1))],
            "{name}"
        );
        assert_eq!(c.cores_from_masks(), Some(2), "{name}: 0x0003 is two cores");
        assert!(
            c.arp.is_empty() && c.routes.is_empty(),
            "{name}: the templates leave them empty"
        );
        assert_eq!(
            c.netdevs[0].origin.to_string(),
            format!(
                "{}:{}",
                path.display(),
                if name == "standalone.conf" { 14 } else { 22 }
            )
        );
    }
}

#[test]
fn the_kernel_fills_empty_tables_first_as_in_mos() {
    let (path, text) = fixture("end-host.conf");
    let mut c = MosConfig::default();
    c.parse_into(&path, &text).unwrap();
    c.seed_kernel(KERNEL_ARP, KERNEL_ROUTE);
    resolve(&mut c);
    let arp = c.arp_table();
    assert_eq!(arp.lookup(ip("10.0.0.10")), Some(&[2, 0, 0, 0, 0, 0x10]));
    assert_eq!(arp.lookup(ip("10.0.1.20")), Some(&[2, 0, 0, 0, 0, 0x20]));
    assert_eq!(
        arp.lookup(ip("10.0.0.99")),
        None,
        "incomplete entries (flags 0) are not taken"
    );
    assert_eq!(arp.lookup(ip("192.0.2.1")), None, "only dpdk* devices");
    assert_eq!(c.arp[0].origin.to_string(), "kernel (/proc/net/arp:2)");
    if cfg!(target_endian = "little") {
        let ports = [0, 1];
        let t = c.route_table(&ports).unwrap();
        assert_eq!(t.lookup(ip("10.0.0.7")), Some(&Some(0)));
        assert_eq!(t.lookup(ip("10.0.1.7")), Some(&Some(1)));
        assert_eq!(
            t.lookup(ip("8.8.8.8")),
            None,
            "eth0's default route is the host's other interface's: left out"
        );
        assert_eq!(t.lookup(ip("192.0.2.9")), None);
        assert_eq!(c.routes.len(), 2);
        let left: Vec<String> = c
            .left_out
            .iter()
            .map(|r| format!("{} {} {}", r.prefix, r.device, r.origin))
            .collect();
        assert_eq!(
            left,
            [
                "0.0.0.0/0 eth0 kernel (/proc/net/route:2)",
                "192.0.2.0/24 eth0 kernel (/proc/net/route:5)"
            ]
        );
    }
}

/// An ordinary host: its management interface holds the kernel's default routes, and the file
/// routes everything to dpdk0. The kernel's routes of eth0 are left out, so the file's default
/// routes answer (in mOS the kernel's would win the tie and send out of port 0 by accident).
#[test]
fn the_hosts_other_interfaces_never_shadow_the_files_routes() {
    let mut c = parse(
        "mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n }\n route_table {\n 0.0.0.0/0 dpdk0\n ::/0 dpdk0\n }\n}\n",
    )
    .unwrap();
    c.seed_kernel(KERNEL_ARP, KERNEL_ROUTE);
    let route6 = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
";
    c.seed_kernel6(route6, Default::default());
    if cfg!(target_endian = "little") {
        let t = c.route_table(&[0]).unwrap();
        for a in ["8.8.8.8", "192.0.2.9", "10.0.0.1"] {
            assert_eq!(t.lookup(ip(a)), Some(&Some(0)), "{a}: the file's default route");
        }
    }
    let t6 = c.route6_table(&[0]).unwrap();
    for a in ["fd00::9", "2001:db8::1"] {
        let a = u128::from(a.parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(t6.lookup(a), Some(&Some(0)));
    }
    assert!(c.routes.iter().all(|r| r.device == "dpdk0"));
    let left: Vec<&str> = c.left_out.iter().map(|r| r.device.as_str()).collect();
    assert_eq!(
        left,
        ["eth0", "dpdk1", "eth0", "eth0", "eth0"],
        "dpdk1 is no netdev here"
    );
}

/// With no route left once the host's other interfaces' are out, every frame goes to the first
/// port, as with no route at all.
#[test]
fn no_route_left_is_no_route_at_all() {
    let mut c = parse("mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n }\n route_table {\n }\n}\n").unwrap();
    let eth0_only = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
    c.seed_kernel("", eth0_only);
    assert!(c.route_table(&[0]).is_none());
    assert_eq!(c.left_out.len(), 1);
}

/// Without a `netdev` block the netdevs are the `dpdkN` names: a kernel route of dpdk1 is taken,
/// eth0's are left out.
#[test]
fn without_a_netdev_block_dpdk_names_are_the_netdevs() {
    let mut c = parse("mos {\n arp_table {\n }\n route_table {\n }\n}\n").unwrap();
    c.seed_kernel(KERNEL_ARP, KERNEL_ROUTE);
    let devices: Vec<&str> = c.routes.iter().map(|r| r.device.as_str()).collect();
    assert_eq!(devices, ["dpdk0", "dpdk1"]);
    assert_eq!(c.left_out.len(), 2);
}

#[test]
fn kernel_entries_come_before_the_files_whatever_the_order_read() {
    let mut c = parse("mos {\n netdev {\n dpdk0 1\n dpdk1 1\n }\n arp_table {\n 10.0.0.10/32 2:0:0:0:0:1\n }\n route_table {\n 10.0.0.0/24 dpdk1\n }\n}\n").unwrap();
    c.seed_kernel(KERNEL_ARP, KERNEL_ROUTE);
    // Equal prefixes: the first wins, and the kernel's come first, as in mOS.
    assert_eq!(
        c.arp_table().lookup(ip("10.0.0.10")),
        Some(&[2, 0, 0, 0, 0, 0x10])
    );
    assert!(matches!(c.arp[0].origin, Origin::Kernel { .. }));
    assert!(matches!(
        c.arp.last().unwrap().origin,
        Origin::File { line: 7, .. }
    ));
    if cfg!(target_endian = "little") {
        assert_eq!(
            c.route_table(&[0, 1]).unwrap().lookup(ip("10.0.0.1")),
            Some(&Some(0))
        );
    }
}

#[test]
fn every_quirk_of_the_quirks_fixture() {
    let (path, text) = fixture("quirks.conf");
    let mut c = MosConfig::default();
    c.parse_into(&path, &text).unwrap();
    c.check_devices();
    resolve(&mut c);
    assert_eq!(c.netdevs.len(), 1);
    assert_eq!(c.netdevs[0].core_mask, 10, "`dpdk0 10` is ten");
    assert_eq!(c.cores_from_masks(), Some(2));
    let arp = c.arp_table();
    assert_eq!(arp.lookup(ip("10.0.0.10")), Some(&[2, 0, 0, 0, 0, 0xa]));
    assert_eq!(
        arp.lookup(ip("10.0.0.11")),
        Some(&[0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa5])
    );
    let t = c.route_table(&[0]).unwrap();
    assert_eq!(t.lookup(ip("10.0.0.1")), Some(&Some(0)));
    assert_eq!(
        t.lookup(ip("10.0.1.1")),
        None,
        "the line without /prefix was skipped"
    );
    assert_eq!(t.lookup(ip("10.0.2.1")), Some(&None), "dpdk7 is no netdev");
    let lines: Vec<usize> = c.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [16, 21, 24, 22], "{:?}", c.warnings);
    assert!(warned(&c, 16, "mOS skips it"));
    assert!(warned(&c, 21, "mOS skips it"));
    assert!(warned(&c, 22, "refused"));
    assert!(warned(&c, 24, "`statistics` is not a block mOS knows"));
    for w in &c.warnings {
        assert!(w
            .to_string()
            .starts_with(&format!("{}:{}: ", path.display(), w.line)));
    }
}

#[test]
fn what_mos_refuses_is_an_error_naming_the_line() {
    let cases = [
        ("application {\n type = end\n}\nmos {\n}\n", 1, "no `run"),
        ("route_table {\n}\nmos {\n}\n", 1, "inside `mos"),
        ("mos {\n netdev {\n route_table {\n }\n }\n}\n", 3, "crashes"),
        ("netdev {\n dpdk0 1\n}\n", 0, "no `mos"),
        ("# nothing\n", 0, "empty"),
    ];
    for (text, line, needle) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.reason.contains(needle), "{text:?}: {e}");
        assert!(e.to_string().starts_with(&format!("t.conf:{line}: ")), "{e}");
    }
}

#[test]
fn missing_blocks_and_foreign_names_are_warnings() {
    let c = parse("mos {\n netdev {\n dpdk0 1\n eth1 2\n }\n}\n").unwrap();
    assert!(warned(&c, 1, "no `arp_table`"));
    assert!(warned(&c, 1, "no `route_table`"));
    // eth1: no kernel device here, not dpdkN, no DPDK port of that name, no route to it.
    assert!(warned(&c, 4, "Interface 'eth1' not found"), "{:?}", c.warnings);
    assert!(warned(&c, 4, "no route names it: skipped"));
    assert_eq!(
        c.cores_from_masks(),
        Some(2),
        "eth1's mask still counts, as in mOS"
    );
    assert_eq!(c.ports(), Some(vec![0]));
    let c = parse("mos {\n arp_table {\n }\n route_table {\n }\n}\n").unwrap();
    assert!(warned(&c, 1, "every DPDK port is used"));
    assert_eq!(c.ports(), None);
}

#[test]
fn without_a_netdev_block_routes_name_dpdk_ports() {
    let c = parse("mos {\n route_table {\n 10.0.0.0/8 dpdk1\n 11.0.0.0/8 dpdk5\n }\n arp_table {\n }\n}\n")
        .unwrap();
    let t = c.route_table(&[0, 1]).unwrap();
    assert_eq!(t.lookup(ip("10.1.1.1")), Some(&Some(1)));
    assert_eq!(t.lookup(ip("11.1.1.1")), Some(&None), "no port 5 in use");
    assert!(parse("mos {\n netdev {\n dpdk0 1\n }\n}\n")
        .unwrap()
        .route_table(&[0])
        .is_none());
}

#[test]
fn reads_mtcp_style_arp_and_route_files() {
    let mut c = MosConfig::default();
    c.parse_into(
        Path::new("arp.conf"),
        "ARP_ENTRY 2\n10.0.0.10/32 90:e2:ba:7c:1f:a4\n10.0.1.0/24 90:e2:ba:7c:1f:a5\n",
    )
    .unwrap();
    c.parse_into(Path::new("route.conf"), "# routes\nROUTES 1\n10.0.0.0/8 dpdk0\n")
        .unwrap();
    assert_eq!(c.arp.len(), 2);
    assert_eq!(
        c.route_table(&[0]).unwrap().lookup(ip("10.200.0.1")),
        Some(&Some(0))
    );
    let e = MosConfig::default()
        .parse_into(Path::new("route.conf"), "ROUTES 2\n10.0.0.0/8 dpdk0\n")
        .unwrap_err();
    assert_eq!((e.line, e.reason.contains("header says 2")), (1, true));
    let mut c = MosConfig::default();
    c.parse_into(Path::new("arp.conf"), "ARP_ENTRY 1\n10.0.0.1 aa:bb:cc:dd:ee:ff\n")
        .unwrap();
    assert_eq!((c.arp.len(), c.warnings[0].line), (0, 2));
}

#[test]
fn a_route_file_is_checked_against_the_netdevs_of_a_mos_conf() {
    let mut c = MosConfig::default();
    c.parse_into(Path::new("mos.conf"), "mos {\n netdev {\n dpdk0 0x1\n }\n}\n")
        .unwrap();
    c.parse_into(Path::new("route.conf"), "ROUTES 1\n10.0.0.0/8 dpdk1\n")
        .unwrap();
    c.check_devices();
    let w = c
        .warnings
        .iter()
        .find(|w| w.text.contains("not a netdev"))
        .unwrap();
    assert_eq!((w.file.as_path(), w.line), (Path::new("route.conf"), 2));
    assert_eq!(c.route_table(&[0]).unwrap().lookup(ip("10.0.0.1")), Some(&None));
}

#[test]
fn ipv6_prefixes_share_the_blocks_and_keep_the_families_apart() {
    let c = parse(
        "mos {\n netdev {\n dpdk0 0x1\n dpdk1 0x2\n }\n arp_table {\n 10.0.0.9/32 02:00:00:00:00:04\n \
         fd00::9/128 02:00:00:00:00:09\n fd00::g/128 02:00:00:00:00:0a\n }\n route_table {\n \
         fd00::/64 dpdk1\n fd00:1::/64 eth3\n 2001:db8::/129 dpdk0\n }\n}\n",
    )
    .unwrap();
    let ports = [0, 1];
    // IPv4 has no route: every IPv4 frame goes to the first port; IPv6 has its own table.
    assert!(c.route_table(&ports).is_none());
    let t6 = c.route6_table(&ports).unwrap();
    let a6 = |s: &str| u128::from(s.parse::<std::net::Ipv6Addr>().unwrap());
    assert_eq!(t6.lookup(a6("fd00::77")), Some(&Some(1)));
    assert_eq!(t6.lookup(a6("fd00:1::1")), Some(&None), "eth3 is no netdev");
    assert_eq!(t6.lookup(a6("2001:db8::1")), None);
    assert_eq!(c.arp6_table().lookup(a6("fd00::9")), Some(&[2, 0, 0, 0, 0, 9]));
    assert_eq!(c.arp_table().lookup(ip("10.0.0.9")), Some(&[2, 0, 0, 0, 0, 4]));
    assert!(
        warned(&c, 9, "fd00::g is not an IPv6 address"),
        "{:?}",
        c.warnings
    );
    assert!(
        warned(&c, 14, "prefix length 129 is not 0 to 128"),
        "{:?}",
        c.warnings
    );
    assert!(
        warned(&c, 13, "\"eth3\" is not a netdev device"),
        "{:?}",
        c.warnings
    );
    // No IPv6 line reads as an inet_addr short form.
    assert!(
        !c.warnings.iter().any(|w| w.text.contains("inet_addr")),
        "{:?}",
        c.warnings
    );

    // mTCP-style flat files take them too.
    let mut flat = MosConfig::default();
    flat.parse_into(
        Path::new("arp.conf"),
        "ARP_ENTRY 2\nfd00::9/128 02:00:00:00:00:09\n10.0.0.1/32 02:00:00:00:00:01\n",
    )
    .unwrap();
    assert_eq!(flat.arp6_table().lookup(a6("fd00::9")), Some(&[2, 0, 0, 0, 0, 9]));
    assert_eq!(flat.arp_table().lookup(ip("10.0.0.1")), Some(&[2, 0, 0, 0, 0, 1]));
}

#[test]
fn kernel_ipv6_entries_come_after_the_kernels_ipv4_and_before_the_files() {
    let mut c = parse("mos {\n netdev {\n dpdk0 0x1\n }\n arp_table {\n fd00::9/128 02:00:00:00:00:99\n }\n route_table {\n }\n}\n").unwrap();
    c.seed_kernel(KERNEL_ARP, KERNEL_ROUTE);
    let route6 = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001    dpdk0\n";
    let neighbours = kernel::take_neighbours(
        [kernel::Neighbour {
            device: "dpdk0".into(),
            state: 0x80,
            addr: "fd00::9".parse().ok(),
            lladdr: Some(vec![2, 0, 0, 0, 0, 0x19]),
        }],
        &|d: &str| d.starts_with("dpdk"),
    );
    c.seed_kernel6(route6, neighbours);
    let origins: Vec<String> = c
        .arp
        .iter()
        .map(|e| format!("{} {}", e.prefix, e.origin))
        .collect();
    assert_eq!(
        origins,
        [
            "10.0.0.10/32 kernel (/proc/net/arp:2)",
            "10.0.1.20/32 kernel (/proc/net/arp:3)",
            "fd00::9/128 kernel (rtnetlink RTM_GETNEIGH:1)",
            "fd00::9/128 t.conf:6",
        ]
    );
    // As for IPv4, the kernel's entry wins over the file's for the same prefix.
    let a6 = u128::from("fd00::9".parse::<std::net::Ipv6Addr>().unwrap());
    assert_eq!(c.arp6_table().lookup(a6), Some(&[2, 0, 0, 0, 0, 0x19]));
    assert_eq!(c.route6_table(&[0]).unwrap().lookup(a6), Some(&Some(0)));
    assert_eq!(
        c.routes.last().unwrap().origin.to_string(),
        "kernel (/proc/net/ipv6_route:1)"
    );
}

/// mmTLS's shape: netdevs named as the kernel names the NICs, routes to them, ARP /32 entries
/// and a gateway for the rest. Each name is found by its kernel device's MAC, whatever the port
/// order (here the DPDK ports come in the other order); the kernel's ARP entries on those devices
/// are the deployment's.
#[test]
fn netdevs_are_found_by_the_kernel_devices_mac_as_in_mos() {
    let text = "mos {\n netdev {\n ens7f0np0 0xffff # first\n ens7f1np1 0xffff\n }\n arp_table {\n \
                10.11.90.3/32 02:00:00:00:90:03\n 0.0.0.0/0 02:00:00:00:00:01\n }\n route_table {\n \
                10.11.90.0/24 ens7f0np0\n 10.11.95.0/24 ens7f1np1\n }\n}\n";
    let mut c = MosConfig::default();
    c.parse_into(Path::new("mos.conf"), text).unwrap();
    c.check_devices();
    c.find_netdevs(|n| match n {
        "ens7f0np0" => Some([2, 0, 0, 0, 0xaa, 0]),
        "ens7f1np1" => Some([2, 0, 0, 0, 0xaa, 1]),
        _ => None,
    });
    let arp = "IP address HW type Flags HW address Mask Device\n\
               10.11.95.7 0x1 0x2 02:00:00:00:95:07 * ens7f1np1\n\
               192.0.2.1 0x1 0x2 02:fc:00:00:00:05 * eth0\n";
    c.seed_kernel(arp, "");
    let ports = [
        PortIdentity {
            id: 0,
            name: "net_af_packet0".into(),
            mac: [2, 0, 0, 0, 0xaa, 1],
        },
        PortIdentity {
            id: 1,
            name: "net_af_packet1".into(),
            mac: [2, 0, 0, 0, 0xaa, 0],
        },
    ];
    c.resolve(&ports).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.ports(), Some(vec![1, 0]), "in the netdev block's order");
    let t = c.route_table(&[1, 0]).unwrap();
    assert_eq!(
        t.lookup(ip("10.11.90.3")),
        Some(&Some(0)),
        "ens7f0np0: port 1, first in use"
    );
    assert_eq!(t.lookup(ip("10.11.95.3")), Some(&Some(1)));
    let a = c.arp_table();
    assert_eq!(
        a.lookup(ip("10.11.95.7")),
        Some(&[2, 0, 0, 0, 0x95, 7]),
        "a netdev's kernel entry"
    );
    assert_eq!(
        a.lookup(ip("192.0.2.1")),
        Some(&[2, 0, 0, 0, 0, 1]),
        "eth0 is not a netdev: its kernel entry is not taken, the file's 0.0.0.0/0 answers"
    );
    // A route's netdev that no port answers stops the start, naming the device, the MAC looked
    // for and the MACs found.
    let e = c.resolve(&ports[..1]).unwrap_err();
    assert_eq!(e.line, 11, "{e}");
    for part in [
        "ens7f0np0",
        "02:00:00:00:aa:00",
        "0 net_af_packet0 02:00:00:00:aa:01",
    ] {
        assert!(e.reason.contains(part), "{part}: {e}");
    }
}

/// Without a kernel device of its name, `dpdkN` is the N-th port, and any other name a DPDK
/// device name; two netdevs finding the same port: the second is skipped with a warning.
#[test]
fn netdevs_without_a_kernel_device_are_dpdk_indices_or_device_names() {
    let mut c = parse(
        "mos {\n netdev {\n dpdk2 1\n net_null0 1\n dpdk0 1\n }\n arp_table {\n }\n route_table {\n \
         10.0.0.0/8 net_null0\n }\n}\n",
    )
    .unwrap();
    assert_eq!(c.ports(), Some(vec![2, 0]));
    assert!(
        warned(&c, 5, "DPDK port 0 is an earlier netdev's"),
        "{:?}",
        c.warnings
    );
    c.find_netdevs(|_| None);
    assert_eq!(c.netdevs[1].finder, Finder::DpdkName);
}
