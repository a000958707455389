//! The kernel's neighbour and route tables as mOS reads them at start (`/proc/net/arp`,
//! `/proc/net/route`): which lines it takes, and what it makes of them. With `dpdk-iface`
//! exposing each DPDK port to the kernel as `dpdkN`, `ip neigh` and `ip route` on those devices
//! are how mOS deployments fill their tables; mOS's own templates leave `arp_table` and
//! `route_table` empty.

use std::net::Ipv4Addr;

use super::cscan;
use crate::route::Ipv4Prefix;

pub(crate) const ARP_PATH: &str = "/proc/net/arp";
pub(crate) const ROUTE_PATH: &str = "/proc/net/route";

/// One entry taken from a kernel table, with its line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelEntry<T> {
    pub line: usize,
    pub prefix: Ipv4Prefix,
    pub value: T,
}

/// What was taken from a kernel table, and what was left with a reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct KernelRead<T> {
    pub entries: Vec<KernelEntry<T>>,
    /// (line, reason) for lines mOS would take but cannot be read as it reads them.
    pub skipped: Vec<(usize, String)>,
}

/// `/proc/net/arp`: complete entries (flags non-zero) of devices whose name starts with `dpdk`,
/// each a /32 → MAC. Reading stops at the first line with fewer than six columns, as in mOS.
pub(crate) fn read_arp(text: &str) -> KernelRead<[u8; 6]> {
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
        if !f[5].starts_with("dpdk") || flags == 0 {
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
            prefix,
            value: f[0].to_owned(),
        });
    }
    out
}

fn host(addr: u32) -> Ipv4Prefix {
    Ipv4Prefix::new(Ipv4Addr::from(addr), 32).expect("32 is a prefix length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
10.77.0.2        0x1         0x6         02:00:00:00:00:0a     *        dpdk0
10.77.0.3        0x1         0x0         00:00:00:00:00:00     *        dpdk0
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
10.78.0.9        0x1         0x2         2:0:0:0:0:b           *        dpdk1
";

    #[test]
    fn arp_takes_complete_entries_of_dpdk_devices() {
        let r = read_arp(ARP);
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
        let r = read_arp(text);
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
    fn routes_stop_where_mos_sscanf_stops() {
        let text = "hdr\ndpdk0\t00004D0A\t00000000\t000A\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    dpdk1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";
        assert!(read_routes(text).entries.is_empty(), "Flags 000A is not a %d");
        assert!(read_routes("hdr\neth0 0 0 1\n").entries.is_empty());
    }
}
