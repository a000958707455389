//! The kernel's neighbour and route tables as mOS reads them at start (`/proc/net/arp`,
//! `/proc/net/route`): which lines it takes, and what it makes of them. With `dpdk-iface`
//! exposing each DPDK port to the kernel as `dpdkN`, `ip neigh` and `ip route` on those devices
//! are how mOS deployments fill their tables; mOS's own templates leave `arp_table` and
//! `route_table` empty.
//!
//! IPv6 (our extension; mOS reads no IPv6 table): routes from `/proc/net/ipv6_route`, neighbours
//! from the kernel over rtnetlink (the kernel has no `/proc` file for them), taken as their IPv4
//! counterparts are.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::cscan;
use crate::route::{IpPrefix, Ipv4Prefix, Ipv6Prefix};

pub(crate) const ARP_PATH: &str = "/proc/net/arp";
pub(crate) const ROUTE_PATH: &str = "/proc/net/route";
pub(crate) const ROUTE6_PATH: &str = "/proc/net/ipv6_route";
/// Where IPv6 neighbours come from, as an [`super::Origin`] names it (the line: the entry's
/// place in the dump).
pub(crate) const NEIGH6_SOURCE: &str = "rtnetlink RTM_GETNEIGH";

/// One entry taken from a kernel table, with its line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelEntry<T> {
    pub line: usize,
    pub prefix: IpPrefix,
    pub value: T,
}

/// What was taken from a kernel table, and what was left with a reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct KernelRead<T> {
    pub entries: Vec<KernelEntry<T>>,
    /// (line, reason) for lines mOS would take but cannot be read as it reads them.
    pub skipped: Vec<(usize, String)>,
}

/// `/proc/net/arp`: complete entries (flags non-zero) of the devices `take` names (mOS: those
/// whose name starts with `dpdk`; we add the netdevs found by their kernel name), each a /32 →
/// MAC. Reading stops at the first line with fewer than six columns, as in mOS.
pub(crate) fn read_arp(text: &str, take: &dyn Fn(&str) -> bool) -> KernelRead<[u8; 6]> {
    let mut out = KernelRead::default();
    for (i, line) in text.split('\n').enumerate().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // IP address, HW type, Flags, HW address, Mask, Device; mOS's `0x%x` wants the 0x.
        let flags = f
            .get(2)
            .and_then(|v| v.strip_prefix("0x"))
            .map(|v| u32::from_str_radix(v, 16));
        let (6.., Some(Ok(flags))) = (f.len(), flags) else {
            break;
        };
        if !take(f[5]) || flags == 0 {
            continue;
        }
        let addr = cscan::inet_addr(f[0].as_bytes());
        let mac = cscan::scan_mac(f[3].as_bytes(), 0).map(|(m, _)| m);
        match (addr, mac) {
            (Some(addr), Some(mac)) => out.entries.push(KernelEntry {
                line: i + 1,
                prefix: host(addr),
                value: mac,
            }),
            _ => out.skipped.push((
                i + 1,
                format!("`{} {}` on {} is not an IPv4 and a MAC address", f[0], f[3], f[5]),
            )),
        }
    }
    out
}

/// `/proc/net/route`: every route (no flag is looked at, the gateway is dropped), each a prefix →
/// device name. Reading stops at the first line mOS's `sscanf` cannot read in full.
pub(crate) fn read_routes(text: &str) -> KernelRead<String> {
    let mut out = KernelRead::default();
    for (i, line) in text.split('\n').enumerate().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT: the addresses
        // in hex (%08X), Flags to Metric read as decimal (%d).
        let hex = |v: &str| (v.len() <= 8).then(|| u32::from_str_radix(v, 16).ok()).flatten();
        let decimal = |v: &str| cscan::scan_int(v.as_bytes(), 0).is_some_and(|(_, end)| end == v.len());
        if f.len() < 11 || f[3..7].iter().any(|v| !decimal(v)) {
            break;
        }
        let (Some(dest), Some(_gw), Some(mask)) = (hex(f[1]), hex(f[2]), hex(f[7])) else {
            break;
        };
        // The kernel prints the network-order word as a host integer: its bytes in memory are
        // the address's bytes.
        let dest = Ipv4Addr::from(dest.to_ne_bytes());
        let mask = u32::from_be_bytes(mask.to_ne_bytes());
        let len = mask.leading_ones();
        if mask.count_ones() != len {
            out.skipped.push((
                i + 1,
                format!("netmask {} is not contiguous", Ipv4Addr::from(mask)),
            ));
            continue;
        }
        let prefix = Ipv4Prefix::new(dest, len as u8).expect("a u32 has at most 32 leading ones");
        out.entries.push(KernelEntry {
            line: i + 1,
            prefix: prefix.into(),
            value: f[0].to_owned(),
        });
    }
    out
}

/// `RTF_REJECT`: an unreachable/prohibit route, which sends nothing.
const RTF_REJECT: u32 = 0x0200;

/// `/proc/net/ipv6_route`: every route but reject routes and source-specific ones, each a
/// prefix → device name (the next hop is dropped, as for IPv4). A line that is not ten columns
/// of the kernel's format is reported and skipped.
pub(crate) fn read_ipv6_routes(text: &str) -> KernelRead<String> {
    let mut out = KernelRead::default();
    for (i, line) in text.split('\n').enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        // dest, dest len, src, src len, next hop, metric, refcnt, use, flags (hex), device.
        let hex8 = |v: &str| (v.len() <= 8).then(|| u32::from_str_radix(v, 16).ok()).flatten();
        let parsed = (f.len() == 10)
            .then(|| {
                let dest = (f[0].len() == 32)
                    .then(|| u128::from_str_radix(f[0], 16).ok())
                    .flatten()?;
                Some((dest, hex8(f[1])?, hex8(f[3])?, hex8(f[8])?))
            })
            .flatten();
        let Some((dest, len, src_len, flags)) = parsed else {
            out.skipped.push((i + 1, format!("`{line}` is not a route line")));
            continue;
        };
        if flags & RTF_REJECT != 0 {
            continue;
        }
        if src_len != 0 {
            out.skipped
                .push((i + 1, "a source-specific route is not used".into()));
            continue;
        }
        let Some(prefix) = u8::try_from(len)
            .ok()
            .and_then(|len| Ipv6Prefix::new(Ipv6Addr::from(dest), len))
        else {
            out.skipped
                .push((i + 1, format!("prefix length {len} is not 0 to 128")));
            continue;
        };
        out.entries.push(KernelEntry {
            line: i + 1,
            prefix: prefix.into(),
            value: f[9].to_owned(),
        });
    }
    out
}

/// One entry of the kernel's IPv6 neighbour table, as a dump gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Neighbour {
    pub device: String,
    /// `NUD_*` bits.
    pub state: u16,
    pub addr: Option<Ipv6Addr>,
    pub lladdr: Option<Vec<u8>>,
}

/// The states whose link-layer address the kernel itself sends to: `REACHABLE`, `STALE`,
/// `DELAY`, `PROBE`, `NOARP`, `PERMANENT` (not `INCOMPLETE`, `FAILED` or `NONE`), as
/// `/proc/net/arp`'s "complete" flag for IPv4.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// The neighbours taken, as for IPv4: usable entries of the devices `take` names, each a /128 →
/// MAC; the entry's place in the dump (from 1) stands for its line.
pub(crate) fn take_neighbours(
    dump: impl IntoIterator<Item = Neighbour>,
    take: &dyn Fn(&str) -> bool,
) -> KernelRead<[u8; 6]> {
    let mut out = KernelRead::default();
    for (i, n) in dump.into_iter().enumerate() {
        if !take(&n.device) || n.state & NUD_USABLE == 0 {
            continue;
        }
        let mac = n.lladdr.as_deref().and_then(|m| <[u8; 6]>::try_from(m).ok());
        match (n.addr, mac) {
            (Some(addr), Some(mac)) => out.entries.push(KernelEntry {
                line: i + 1,
                prefix: Ipv6Prefix::new(addr, 128).expect("128 is a prefix length").into(),
                value: mac,
            }),
            _ => out.skipped.push((
                i + 1,
                format!(
                    "the neighbour {:?} on {} has no IPv6 and MAC address",
                    n.addr, n.device
                ),
            )),
        }
    }
    out
}

/// How long the kernel may take to answer the neighbour dump.
const NETLINK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Dumps the kernel's IPv6 neighbour table (this process's network namespace) over rtnetlink
/// and takes what [`take_neighbours`] takes. Every receive has a deadline.
pub(crate) fn read_neighbours6(take: &dyn Fn(&str) -> bool) -> std::io::Result<KernelRead<[u8; 6]>> {
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
    use std::io::{Error, ErrorKind};
    use std::os::fd::AsFd;

    let mut socket = Socket::new(NETLINK_ROUTE)?;
    crate::sync::set_receive_deadline(socket.as_fd(), NETLINK_DEADLINE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut request = NeighbourMessage::default();
    request.header.family = AddressFamily::Inet6;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    header.sequence_number = 1;
    let mut msg = NetlinkMessage::new(
        header,
        NetlinkPayload::from(RouteNetlinkMessage::GetNeighbour(request)),
    );
    msg.finalize();
    let mut buf = vec![0; msg.header.length as usize];
    msg.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut dump = Vec::new();
    loop {
        let (data, _) = socket.recv_from_full()?;
        if data.is_empty() {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the dump ended without NLMSG_DONE",
            ));
        }
        let mut at = 0;
        while at < data.len() {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[at..])
                .map_err(|e| Error::new(ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(take_neighbours(dump, take)),
                NetlinkPayload::Error(e) => return Err(e.to_io()),
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n))
                    if n.header.family == AddressFamily::Inet6 =>
                {
                    let mut addr = None;
                    let mut lladdr = None;
                    for a in n.attributes {
                        match a {
                            NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => addr = Some(ip),
                            NeighbourAttribute::LinkLayerAddress(mac) => lladdr = Some(mac),
                            _ => {}
                        }
                    }
                    dump.push(Neighbour {
                        device: interface_name(n.header.ifindex),
                        state: n.header.state.into(),
                        addr,
                        lladdr,
                    });
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            // Messages in one datagram start on 4-byte boundaries.
            at += (len + 3) & !3;
        }
    }
}

/// The name of interface `index` ("" when it is gone).
fn interface_name(index: u32) -> String {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has IF_NAMESIZE bytes, as if_indextoname requires; it NUL-terminates.
    let got = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if got.is_null() {
        return String::new();
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into `name`.
    unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn host(addr: u32) -> IpPrefix {
    Ipv4Prefix::new(Ipv4Addr::from(addr), 32)
        .expect("32 is a prefix length")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What mOS takes: the devices named `dpdk*`.
    fn dpdk_only(device: &str) -> bool {
        device.starts_with("dpdk")
    }

    const ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
10.77.0.2        0x1         0x6         02:00:00:00:00:0a     *        dpdk0
10.77.0.3        0x1         0x0         00:00:00:00:00:00     *        dpdk0
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
10.78.0.9        0x1         0x2         2:0:0:0:0:b           *        dpdk1
";

    #[test]
    fn arp_takes_complete_entries_of_dpdk_devices() {
        let r = read_arp(ARP, &dpdk_only);
        let got: Vec<(usize, String, [u8; 6])> = r
            .entries
            .iter()
            .map(|e| (e.line, e.prefix.to_string(), e.value))
            .collect();
        assert_eq!(
            got,
            [
                (2, "10.77.0.2/32".into(), [2, 0, 0, 0, 0, 0xa]),
                (5, "10.78.0.9/32".into(), [2, 0, 0, 0, 0, 0xb]),
            ]
        );
        assert!(r.skipped.is_empty());
    }

    #[test]
    fn arp_stops_at_a_short_line_and_reports_unreadable_ones() {
        let text =
            "hdr\n10.77.0.2 0x1 0x2 zz:00 * dpdk0\nshort line\n10.77.0.9 0x1 0x2 2:0:0:0:0:1 * dpdk0\n";
        let r = read_arp(text, &dpdk_only);
        assert!(r.entries.is_empty());
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].0, 2);
    }

    #[test]
    fn routes_take_every_line_and_drop_the_gateway() {
        // As this machine's /proc/net/route prints them (little-endian host).
        let text = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
dpdk0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
dpdk1\t0000000A\t01004D0A\t0003\t0\t0\t0\t000000FF\t0\t0\t0
";
        let r = read_routes(text);
        let got: Vec<(String, String)> = r
            .entries
            .iter()
            .map(|e| (e.prefix.to_string(), e.value.clone()))
            .collect();
        if cfg!(target_endian = "little") {
            assert_eq!(
                got,
                [
                    ("0.0.0.0/0".to_string(), "eth0".to_string()),
                    ("10.77.0.0/24".into(), "dpdk0".into()),
                    ("10.0.0.0/8".into(), "dpdk1".into()),
                ]
            );
        }
        assert_eq!(r.entries[2].line, 4);
    }

    #[test]
    fn ipv6_routes_skip_reject_and_source_routes() {
        // As the kernel prints them (dest, len, src, len, next hop, metric, refcnt, use, flags,
        // device); the last line is `unreachable default` on lo.
        let text = "\
fd000079000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001    dpdk0
fd000081000000000000000000000000 30 00000000000000000000000000000000 00 fd000079000000000000000000000002 00000400 00000001 00000000 00000003    dpdk0
fd000082000000000000000000000000 30 fd000099000000000000000000000000 40 00000000000000000000000000000000 00000400 00000001 00000000 00000001    dpdk0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
garbage
";
        let r = read_ipv6_routes(text);
        let got: Vec<(usize, String, String)> = r
            .entries
            .iter()
            .map(|e| (e.line, e.prefix.to_string(), e.value.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "fd00:79::/64".to_string(), "dpdk0".to_string()),
                (2, "fd00:81::/48".into(), "dpdk0".into()),
            ]
        );
        let skipped: Vec<usize> = r.skipped.iter().map(|s| s.0).collect();
        assert_eq!(skipped, [3, 5]);
    }

    #[test]
    fn neighbours_take_usable_entries_of_dpdk_devices() {
        let n = |device: &str, state, addr: &str, mac: Option<Vec<u8>>| Neighbour {
            device: device.into(),
            state,
            addr: addr.parse().ok(),
            lladdr: mac,
        };
        let mac = Some(vec![2, 0, 0, 0, 0, 9]);
        let r = take_neighbours(
            [
                n("dpdk0", 0x80, "fd00::9", mac.clone()),
                n("dpdk0", 0x01, "fd00::a", None),
                n("dpdk0", 0x20, "fd00::b", mac.clone()),
                n("eth0", 0x02, "fd00::c", mac.clone()),
                n("dpdk1", 0x04, "fd01::d", mac.clone()),
                n("dpdk1", 0x02, "fd01::e", Some(vec![1, 2, 3])),
            ],
            &dpdk_only,
        );
        let got: Vec<(usize, String)> = r.entries.iter().map(|e| (e.line, e.prefix.to_string())).collect();
        assert_eq!(got, [(1, "fd00::9/128".to_string()), (5, "fd01::d/128".into())]);
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.skipped[0].0, 6);
    }

    #[test]
    fn the_kernel_neighbour_dump_answers() {
        // Whatever this machine's table holds, the dump itself must work (it is how the library
        // reads it at start).
        let r = read_neighbours6(&dpdk_only);
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn routes_stop_where_mos_sscanf_stops() {
        let text = "hdr\ndpdk0\t00004D0A\t00000000\t000A\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    dpdk1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";
        assert!(read_routes(text).entries.is_empty(), "Flags 000A is not a %d");
        assert!(read_routes("hdr\neth0 0 0 1\n").entries.is_empty());
    }
}
