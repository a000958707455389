//! Deployments of forks of mOS, as a user of mmTLS (a TLS-inspection middlebox on a fork of mOS,
//! ConnectX NICs) meets the library: a `mos.conf` whose netdevs are named as the kernel names the
//! NICs, found by MAC as mOS finds them. Everything runs in a network namespace of the test's own
//! (two veths named like mlx5's kernel devices, DPDK ports on them through `net_af_packet`), with
//! the default settings; frames are caught on the veths' peers by AF_PACKET sockets of the
//! test's own and parsed with etherparse.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// A TLS-inspection box on two ports named as the kernel names them, in mmTLS's shape (written
/// for this test): comments at line ends, masks up to 0xffff, /32 ARP entries and a gateway for
/// everything else, `stat_print` naming both devices.
const MMTLS_CONF: &str = "\
mos {
    forward = 1
    nb_mem_channels = 4
    stat_print = ens7f0np0 ens7f1np1   # both ports' counters
    netdev {
        ens7f0np0 0xffff    # client side
        ens7f1np1 0xffff    # server side
    }
    arp_table {
        10.11.90.3/32 02:00:00:00:90:03
        10.11.95.3/32 02:00:00:00:95:03
        0.0.0.0/0 02:00:00:00:00:fe   # the gateway
    }
    route_table {
        10.11.90.0/24 ens7f0np0
        10.11.95.0/24 ens7f1np1
    }
    nic_forward_table {
        ens7f0np0 ens7f1np1
    }
}
";

/// The two NICs' kernel devices (veths) and their peers, up, in `ns`.
fn nics(ns: &Netns) -> Result<(), String> {
    for (dev, peer) in [("ens7f0np0", "peer0"), ("ens7f1np1", "peer1")] {
        ns.exec(&["ip", "link", "add", dev, "type", "veth", "peer", "name", peer])?;
        ns.exec(&["ip", "link", "set", dev, "up"])?;
        ns.exec(&["ip", "link", "set", peer, "up"])?;
    }
    Ok(())
}

/// The DPDK ports in the other order than the file's: port 0 on ens7f1np1, port 1 on ens7f0np0.
/// Sixteen queue pairs each: the masks (0xffff) ask for sixteen core contexts, one TX queue each.
const PORTS_REVERSED: &str =
    "--vdev net_af_packet0,iface=ens7f1np1,qpairs=16 --vdev net_af_packet1,iface=ens7f0np0,qpairs=16";

/// A raw socket that sees every frame arriving on `iface` (in the calling process's namespace).
struct Capture(std::os::fd::OwnedFd);

impl Capture {
    fn on(iface: &str) -> Capture {
        use std::os::fd::FromRawFd;
        let name = std::ffi::CString::new(iface).unwrap();
        // SAFETY: a raw packet socket bound to one interface; the sockaddr is zeroed and filled
        // with valid values; the descriptor is owned once.
        unsafe {
            let fd = libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK,
                (libc::ETH_P_ALL as u16).to_be() as i32,
            );
            assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            addr.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
            assert!(addr.sll_ifindex > 0, "no interface {iface}");
            let rc = libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            Capture(std::os::fd::OwnedFd::from_raw_fd(fd))
        }
    }

    /// The IPv4 frames that arrived within `wait` (the kernel's own chatter, IPv6 router
    /// solicitations and the like, is left aside).
    fn ipv4_frames(&self, wait: Duration) -> Vec<Vec<u8>> {
        use std::os::fd::AsRawFd;
        let until = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            // SAFETY: reads at most buf.len() bytes into buf.
            let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            let f = &buf[..n as usize];
            if let Ok(p) = etherparse::SlicedPacket::from_ethernet(f) {
                if let Some(etherparse::NetSlice::Ipv4(_)) = p.net {
                    out.push(f.to_vec());
                }
            }
        }
        out
    }
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
fn mac_bytes(text: &str) -> [u8; 6] {
    let b: Vec<u8> = text
        .trim()
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    b.try_into().unwrap()
}

/// A device's MAC in namespace `ns`, as the kernel shows it.
fn kernel_mac(ns: &Netns, dev: &str) -> [u8; 6] {
    mac_bytes(
        &ns.exec(&["cat", &format!("/sys/class/net/{dev}/address")])
            .unwrap(),
    )
}

/// A device's MAC in the calling process's namespace (`ip netns exec` mounts its sysfs).
fn sysfs_mac(dev: &str) -> [u8; 6] {
    mac_bytes(&std::fs::read_to_string(format!("/sys/class/net/{dev}/address")).unwrap())
}

/// `mtcp-sendpkt ARGS` inside `ns`: its exit status and standard output.
fn tool_in(ns: &Netns, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_mtcp-sendpkt")])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// mmTLS's `mos.conf` shape on a host whose NICs the kernel names `ens7f0np0` and `ens7f1np1`,
/// the DPDK ports in the other order: each netdev is found by its kernel device's MAC, so a frame
/// to 10.11.90.3 leaves through ens7f0np0 (DPDK port 1) with the ARP entry's MAC and nothing of
/// it through ens7f1np1; a frame to 10.11.95.3 the other way round. (The library used to skip
/// both netdevs, "not dpdkN", and refuse both routes.) The tool says how each is found.
#[test]
fn netdevs_named_as_the_kernel_names_the_nics_are_found_by_mac() {
    const NAME: &str = "netdevs_named_as_the_kernel_names_the_nics_are_found_by_mac";
    let body = |_: &std::path::Path| {
        let (c0, c1) = (Capture::on("peer0"), Capture::on("peer1"));
        let mut o = Observed::new([10, 11, 90, 3], 7, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &o.pkt_info()), Ok(()));
        let mut o = Observed::new([10, 11, 95, 3], 8, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &o.pkt_info()), Ok(()));
        flush(0);
        let wait = Duration::from_millis(500);
        let (on0, on1) = (c0.ipv4_frames(wait), c1.ipv4_frames(wait));
        let to = |frames: &[Vec<u8>], dst: [u8; 4]| -> Vec<Vec<u8>> {
            frames.iter().filter(|f| f[30..34] == dst).cloned().collect()
        };
        let (a0, a1) = (to(&on0, [10, 11, 90, 3]), to(&on1, [10, 11, 90, 3]));
        let (b0, b1) = (to(&on0, [10, 11, 95, 3]), to(&on1, [10, 11, 95, 3]));
        assert_eq!((a0.len(), a1.len()), (1, 0), "10.11.90.3: out of ens7f0np0 only");
        assert_eq!((b0.len(), b1.len()), (0, 1), "10.11.95.3: out of ens7f1np1 only");
        assert_eq!(a0[0][..6], [2, 0, 0, 0, 0x90, 3], "the ARP entry's MAC");
        assert_eq!(
            a0[0][6..12],
            sysfs_mac("ens7f0np0"),
            "the port's own MAC: the NIC's"
        );
        assert_eq!(b1[0][..6], [2, 0, 0, 0, 0x95, 3]);
        assert_eq!(b1[0][6..12], sysfs_mac("ens7f1np1"));
        println!("sent: ok");
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        Isolated::new(NAME).run(body);
        return;
    }
    let ns = match Netns::new("mmtls") {
        Ok(ns) => ns,
        Err(why) => return skip(NAME, &why),
    };
    if let Err(why) = nics(&ns) {
        return skip(NAME, &why);
    }
    let (dir, out) = Isolated::new(NAME)
        .in_netns(&ns.0)
        .env("MTCP_SENDPKT_EAL_ARGS", eal_args(NAME, PORTS_REVERSED))
        .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
        .file("mos.conf", MMTLS_CONF)
        .run(body)
        .expect("parent");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent: ok"));
    // The tool, in the same namespace: how each netdev is found, and the routes to them.
    let conf = dir.join("mos.conf").display().to_string();
    let (status, check) = tool_in(&ns, &["check", &conf]);
    assert_eq!(status, Some(0), "{check}");
    for dev in ["ens7f0np0", "ens7f1np1"] {
        let m = mtcp_sendpkt_mac(kernel_mac(&ns, dev));
        assert!(
            check.contains(&format!(
                "    kernel device {dev}, MAC {m}: the DPDK port with that MAC"
            )),
            "{dev}\n{check}"
        );
        assert!(
            check.contains(&format!("-> the port with MAC {m} ({dev})")),
            "{check}"
        );
    }
    assert!(!check.contains("error:"), "{check}");
}

/// A netdev whose kernel device exists but has no DPDK port's MAC (no port is on it), named by a
/// route: the start fails as mOS's does (`Interface '...' not found`), naming the device, the MAC
/// looked for and the MACs of the DPDK ports found; every call then fails with EACCES and
/// `mtcp_sendpkt_init_error()` holds the message. `mtcp-sendpkt check` cannot know the ports'
/// MACs (it starts no DPDK): it says how the port will be looked for. A route to a netdev that
/// can be no port at all (no kernel device, not dpdkN, not a DPDK device name) makes it exit 1.
#[test]
fn a_netdev_that_finds_no_port_stops_the_start_naming_the_mac() {
    const NAME: &str = "a_netdev_that_finds_no_port_stops_the_start_naming_the_mac";
    let conf = MMTLS_CONF.replace("ens7f1np1", "ens8f0");
    let body = |_: &std::path::Path| {
        let mut o = Observed::new([10, 11, 90, 3], 7, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &o.pkt_info()), Err(libc::EACCES));
        // SAFETY: the call returns NULL or a NUL-terminated string that lives as long as the process.
        let why = unsafe { std::ffi::CStr::from_ptr(mtcp_sendpkt::mtcp_sendpkt_init_error()) };
        println!("init_error: {}", why.to_string_lossy());
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        Isolated::new(NAME).run(body);
        return;
    }
    let ns = match Netns::new("mmtlsno") {
        Ok(ns) => ns,
        Err(why) => return skip(NAME, &why),
    };
    if let Err(why) = nics(&ns).and_then(|()| {
        ns.exec(&[
            "ip", "link", "add", "ens8f0", "type", "veth", "peer", "name", "peer8",
        ])
        .map(drop)
    }) {
        return skip(NAME, &why);
    }
    let (dir, out) = Isolated::new(NAME)
        .in_netns(&ns.0)
        .env("MTCP_SENDPKT_EAL_ARGS", eal_args(NAME, PORTS_REVERSED))
        .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
        .file("mos.conf", &conf)
        .run(body)
        .expect("parent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let why = stdout
        .split("init_error: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| {
            panic!(
                "no reason in:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mac8 = mtcp_sendpkt_mac(kernel_mac(&ns, "ens8f0"));
    for part in [
        "mos.conf:16: the route 10.11.95.0/24 names the netdev ens8f0".to_string(),
        "Interface 'ens8f0' not found".into(),
        format!("the kernel device ens8f0, {mac8}"),
        format!(
            "0 net_af_packet0 {}",
            mtcp_sendpkt_mac(kernel_mac(&ns, "ens7f1np1"))
        ),
        format!(
            "1 net_af_packet1 {}",
            mtcp_sendpkt_mac(kernel_mac(&ns, "ens7f0np0"))
        ),
    ] {
        assert!(why.contains(&part), "{part}\n{why}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("cannot initialize").count(),
        1,
        "said once: {stderr}"
    );
    // The tool: how ens8f0 will be looked for (it cannot see DPDK's ports), exit 0; a route to a
    // name that can be no port, exit 1.
    let path = dir.join("mos.conf").display().to_string();
    let (status, check) = tool_in(&ns, &["check", &path]);
    assert_eq!(status, Some(0), "{check}");
    assert!(
        check.contains(&format!("kernel device ens8f0, MAC {mac8}")),
        "{check}"
    );
    std::fs::write(&path, MMTLS_CONF.replace("ens7f1np1", "ens9")).unwrap();
    let (status, check) = tool_in(&ns, &["check", &path]);
    assert_eq!(status, Some(1), "{check}");
    assert!(
        check.contains("no kernel device ens9, not dpdkN, not shaped like a DPDK device name"),
        "{check}"
    );
    assert!(check.contains("error: a route names the netdev ens9"), "{check}");
}

/// A MAC as the library prints it.
fn mtcp_sendpkt_mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// `MTCP_SENDPKT_TCP_FLAGS=packet` (the setting under test): `mtcp_sendpkt`'s frames carry the
/// flags byte of `pinfo->tcph`, as the mmTLS fork sends them, with a right TCP checksum; by
/// default only ACK, as upstream mOS (the frames otherwise byte-identical).
#[test]
fn the_forks_flags_from_the_packet_on_request() {
    const NAME: &str = "the_forks_flags_from_the_packet_on_request";
    let mut frames = Vec::new();
    for setting in ["packet", "ack"] {
        let child = Isolated::new(NAME)
            .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
            .env("MTCP_SENDPKT_TCP_FLAGS", setting)
            .run(|_| {
                for flags in [0x18u8, 0x11, 0x10] {
                    let mut o = Observed::new([10, 0, 0, 10], 5, &TS_OPTIONS, b"xyz");
                    o.bytes[o.tcp_at + 13] = flags;
                    assert_eq!(send(0, 1, &o.pkt_info()), Ok(()));
                }
                flush(0);
            });
        // In the child (which ran the body for its setting): done.
        let Some((dir, _)) = child else { return };
        frames.push(read_pcap(&dir.join("out.pcap")));
    }
    let flags = |f: &[u8]| {
        let p = etherparse::SlicedPacket::from_ethernet(f).unwrap();
        let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Tcp(t))) =
            (p.net, p.transport)
        else {
            panic!("IPv4 and TCP")
        };
        let want = t
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
            .unwrap();
        assert_eq!(t.checksum(), want, "TCP checksum");
        f[47]
    };
    let got: Vec<Vec<u8>> = frames
        .iter()
        .map(|fs| fs.iter().map(|f| flags(f)).collect())
        .collect();
    assert_eq!(got, [vec![0x18, 0x11, 0x10], vec![0x10, 0x10, 0x10]]);
    for (p, a) in frames[0].iter().zip(&frames[1]) {
        let differ: Vec<usize> = (0..p.len()).filter(|&k| p[k] != a[k]).collect();
        assert!(differ.iter().all(|k| [47, 50, 51].contains(k)), "{differ:?}");
    }
}

/// `mtcp_sendpkt_raw`'s contract, case by case, on `net_pcap` (frames read back from the capture):
/// the errno of each refusal, in order; a frame that goes out twice (once by the full path, then
/// by the owner's quick path) byte for byte but for its MACs; VLAN tags kept and not counted
/// against the port's limit; an IPv6 frame routed by its IPv6 destination. With
/// `MTCP_SENDPKT_ERRORS=mos` (the setting under test) a frame with no route returns 0, as the
/// fork's call does.
#[test]
fn the_replay_call_keeps_the_frame_and_reports_what_the_fork_swallows() {
    const NAME: &str = "the_replay_call_keeps_the_frame_and_reports_what_the_fork_swallows";
    const CONF6: &str = "mos {\n netdev {\n dpdk0 0x0001\n }\n arp_table {\n 10.0.0.10/32 90:e2:ba:7c:1f:a4\n \
                         fd00::9/128 02:00:00:00:00:09\n }\n route_table {\n 10.0.0.0/24 dpdk0\n fd00::/64 dpdk0\n }\n}\n";
    fn raw(cpu: Option<i32>, sock: i32, frame: Option<&mut [u8]>) -> Result<(), i32> {
        let mut ctx = cpu.map(|cpu| mtcp_sendpkt::mtcp_context { cpu });
        let mctx = ctx.as_mut().map_or(std::ptr::null_mut(), |c| c as *mut _);
        let (p, len) = match frame {
            Some(f) => (f.as_mut_ptr(), f.len() as u16),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: mctx NULL or valid; p NULL or `len` bytes of `frame`.
        let rc = unsafe { mtcp_sendpkt::mtcp_sendpkt_raw(mctx, sock, p, len) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap())
        }
    }
    /// Ethernet (`tags` after the addresses), `ethertype`, `ip` (the IP packet), held as a
    /// middlebox holds it: its own MACs.
    fn held(tags: &[u8], ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![0x11; 6];
        f.extend([0x22; 6]);
        f.extend(tags);
        f.extend(ethertype.to_be_bytes());
        f.extend(ip);
        f
    }
    fn ipv4(dst: [u8; 4], len: usize) -> Vec<u8> {
        let mut ip: Vec<u8> = (0..len).map(|k| (k * 13 + 5) as u8).collect();
        ip[0] = 0x45;
        ip[16..20].copy_from_slice(&dst);
        ip
    }
    let body = |_: &std::path::Path| {
        let mut ok = held(&[], 0x0800, &ipv4([10, 0, 0, 10], 100));
        let mut tagged = held(
            &[0x88, 0xa8, 0, 7, 0x81, 0, 0, 9],
            0x0800,
            &ipv4([10, 0, 0, 10], 1500),
        );
        let mut ip6 = vec![0u8; 60];
        ip6[0] = 0x60;
        ip6[24..40].copy_from_slice(&"fd00::9".parse::<std::net::Ipv6Addr>().unwrap().octets());
        let mut v6 = held(&[], 0x86dd, &ip6);
        let compat = std::env::var("MTCP_SENDPKT_ERRORS").is_ok();
        if compat {
            // The compat mode: no route, 0 and nothing sent, as the fork.
            assert_eq!(
                raw(Some(0), 1, Some(&mut held(&[], 0x0800, &ipv4([10, 1, 2, 3], 40)))),
                Ok(())
            );
            flush(0);
            return;
        }
        assert_eq!(raw(None, 1, Some(&mut ok)), Err(libc::EACCES));
        assert_eq!(raw(Some(0), 1, None), Err(libc::EINVAL));
        assert_eq!(
            raw(Some(0), -1, None),
            Err(libc::EINVAL),
            "the frame before the socket"
        );
        assert_eq!(
            raw(Some(0), 1, Some(&mut ok[..33])),
            Err(libc::EINVAL),
            "short of an IPv4 header"
        );
        assert_eq!(
            raw(
                Some(0),
                1,
                Some(&mut held(&[], 0x0806, &ipv4([10, 0, 0, 10], 28)))
            ),
            Err(libc::EINVAL)
        );
        assert_eq!(raw(Some(0), -1, Some(&mut ok)), Err(libc::EBADF));
        assert_eq!(
            raw(
                Some(0),
                1,
                Some(&mut held(&[], 0x0800, &ipv4([10, 0, 0, 10], 1501)))
            ),
            Err(libc::EMSGSIZE)
        );
        assert_eq!(
            raw(Some(0), 1, Some(&mut held(&[], 0x0800, &ipv4([10, 1, 2, 3], 40)))),
            Err(libc::EHOSTUNREACH)
        );
        assert_eq!(
            raw(
                Some(0),
                1,
                Some(&mut held(&[], 0x0800, &ipv4([10, 0, 0, 77], 40)))
            ),
            Err(libc::EHOSTUNREACH),
            "routed, no ARP entry"
        );
        for _ in 0..2 {
            assert_eq!(raw(Some(0), 1, Some(&mut ok)), Ok(()));
        }
        assert_eq!(
            raw(Some(0), 1, Some(&mut tagged)),
            Ok(()),
            "1514 bytes untagged: fits"
        );
        assert_eq!(raw(Some(0), 1, Some(&mut v6)), Ok(()));
        flush(0);
        // For the parent: what was sent.
        for f in [&ok, &ok, &tagged, &v6] {
            println!(
                "held: {}",
                f.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
        }
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        Isolated::new(NAME).run(body);
        return;
    }
    let (dir, out) = Isolated::new(NAME)
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", CONF6)
        .run(body)
        .expect("parent");
    let sent: Vec<Vec<u8>> = String::from_utf8_lossy(&out.stdout)
        .split("held: ")
        .skip(1)
        .map(|h| {
            let h = h.split_whitespace().next().unwrap();
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let wire = read_pcap(&dir.join("out.pcap"));
    assert_eq!(wire.len(), 4, "the refused calls sent nothing");
    let pcap_mac = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
    for (k, (w, h)) in wire.iter().zip(&sent).enumerate() {
        let dst: [u8; 6] = if k == 3 { [2, 0, 0, 0, 0, 9] } else { ARP_10 };
        assert_eq!(
            (w[..6].to_vec(), w[6..12].to_vec()),
            (dst.to_vec(), pcap_mac.to_vec()),
            "frame {k}"
        );
        assert_eq!(w[12..], h[12..], "frame {k}: the rest as held (tags included)");
    }
    // The compat mode: the fork's 0.
    let (dir, _) = Isolated::new(NAME)
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .file("mos.conf", CONF6)
        .env("MTCP_SENDPKT_ERRORS", "mos")
        .run(body)
        .expect("parent");
    assert!(read_pcap(&dir.join("out.pcap")).is_empty());
}
