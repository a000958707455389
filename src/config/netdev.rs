//! How a `netdev` name is found among the DPDK ports, in mOS's order:
//! 1. a kernel network device of that name: its MAC address (`SIOCGIFHWADDR`, as mOS's
//!    `FeedNetdevConfLine` reads it), then the DPDK port with that MAC (mOS's `dpdk_get_nif`),
//!    whatever the port order. That is how `dpdkN` works on a mOS host (`dpdk-iface-kmod` gives
//!    those kernel devices the ports' MACs) and how mlx5's bifurcated kernel names work
//!    (`ens7f0np0`);
//! 2. else `dpdkN`: the N-th DPDK port (what a host without `dpdk-iface-kmod` can offer);
//! 3. else a DPDK device name (`net_pcap0`, `0000:01:00.0`), as DPDK names its ports.
//!
//! The kernel is asked in this process's network namespace; nothing here touches DPDK: the
//! ports are given as [`PortIdentity`]s.

use crate::nic::{mac_text, PortIdentity};

/// How a netdev name is found (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finder {
    /// A kernel device of the name has this MAC: the DPDK port with the same MAC.
    KernelMac([u8; 6]),
    /// `dpdkN`, with no kernel device of that name: DPDK port N.
    Index(u16),
    /// Neither: the DPDK port whose device has this name.
    DpdkName,
}

impl Finder {
    /// How `name` is found, given the kernel's devices (`kernel_mac`: a device's MAC, or `None`
    /// when the kernel has no device of that name).
    pub fn of(name: &str, kernel_mac: impl Fn(&str) -> Option<[u8; 6]>) -> Finder {
        if let Some(mac) = kernel_mac(name) {
            Finder::KernelMac(mac)
        } else if let Some(n) = super::dpdk_port(name) {
            Finder::Index(n)
        } else {
            Finder::DpdkName
        }
    }

    /// The port `name` (found this way) is among `ports`, if any.
    pub(crate) fn find(&self, name: &str, ports: &[PortIdentity]) -> Option<u16> {
        let hit = |p: &&PortIdentity| match self {
            Finder::KernelMac(mac) => p.mac == *mac,
            Finder::Index(n) => p.id == *n,
            Finder::DpdkName => p.name == name,
        };
        ports.iter().find(hit).map(|p| p.id)
    }

    /// How it will be found, for `mtcp-sendpkt check`.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Finder::KernelMac(mac) => {
                format!(
                    "kernel device {name}, MAC {}: the DPDK port with that MAC",
                    mac_text(mac)
                )
            }
            Finder::Index(n) => format!("no kernel device {name}: DPDK port {n} (dpdkN)"),
            Finder::DpdkName if could_be_dpdk_device(name) => {
                format!("no kernel device {name}, not dpdkN: the DPDK device named {name}")
            }
            Finder::DpdkName => format!(
                "no kernel device {name}, not dpdkN, not shaped like a DPDK device name (a PCI address, \
                 net_...): no port can be found for it"
            ),
        }
    }

    /// Why no port in `ports` answers, for the start's error.
    pub(crate) fn why_not_found(&self, name: &str, ports: &[PortIdentity]) -> String {
        let found: Vec<String> = ports
            .iter()
            .map(|p| format!("{} {} {}", p.id, p.name, mac_text(&p.mac)))
            .collect();
        let found = if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        };
        match self {
            Finder::KernelMac(mac) => format!(
                "Interface '{name}' not found: no DPDK port has the MAC of the kernel device {name}, {}; \
                 the DPDK ports found: {found}",
                mac_text(mac)
            ),
            Finder::Index(n) => {
                format!(
                    "Interface '{name}' not found: there is no DPDK port {n}; the DPDK ports found: {found}"
                )
            }
            Finder::DpdkName => format!(
                "Interface '{name}' not found: no kernel device, not dpdkN, and no DPDK port of that \
                 device name; the DPDK ports found: {found}"
            ),
        }
    }
}

/// Whether `name` may be a DPDK device name: a PCI address (`0000:01:00.0`, `01:00.0`) or a
/// virtual device (`net_pcap0`, `net_af_packet1`, ...). For `check`, which cannot ask DPDK.
pub fn could_be_dpdk_device(name: &str) -> bool {
    let pci = |s: &str| {
        let parts: Vec<&str> = s.split([':', '.']).collect();
        matches!(parts.len(), 3 | 4)
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    pci(name) || name.starts_with("net_") || name.starts_with("eth_")
}

/// The MAC address of the kernel network device `name` in this network namespace
/// (`SIOCGIFHWADDR`), or `None` when there is none (or it has no Ethernet address).
pub fn kernel_mac(name: &str) -> Option<[u8; 6]> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: a plain datagram socket, closed below; `ifreq` is plain data, valid zeroed, and
    // holds a NUL-terminated name shorter than IFNAMSIZ; the ioctl writes only into it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        let rc = libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req);
        libc::close(fd);
        let addr = req.ifr_ifru.ifru_hwaddr;
        if rc != 0 || addr.sa_family != libc::ARPHRD_ETHER {
            return None;
        }
        let mut mac = [0u8; 6];
        for (m, b) in mac.iter_mut().zip(addr.sa_data.iter()) {
            *m = *b as u8;
        }
        Some(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(id: u16, name: &str, last: u8) -> PortIdentity {
        PortIdentity {
            id,
            name: name.into(),
            mac: [2, 0, 0, 0, 0, last],
        }
    }

    #[test]
    fn names_are_found_as_mos_finds_them() {
        let kernel = |n: &str| match n {
            "ens7f0np0" => Some([2, 0, 0, 0, 0, 9]),
            "dpdk1" => Some([2, 0, 0, 0, 0, 8]),
            _ => None,
        };
        let ports = [port(0, "net_af_packet0", 8), port(1, "net_af_packet1", 9)];
        // A kernel device: by MAC, whatever the port order.
        let f = Finder::of("ens7f0np0", kernel);
        assert_eq!(f, Finder::KernelMac([2, 0, 0, 0, 0, 9]));
        assert_eq!(f.find("ens7f0np0", &ports), Some(1));
        // dpdk1 is a kernel device here (dpdk-iface-kmod): its MAC, not the index, decides.
        assert_eq!(Finder::of("dpdk1", kernel).find("dpdk1", &ports), Some(0));
        // No kernel device dpdk0: the index.
        assert_eq!(Finder::of("dpdk0", kernel), Finder::Index(0));
        assert_eq!(Finder::of("dpdk0", kernel).find("dpdk0", &ports), Some(0));
        // Neither: a DPDK device name.
        assert_eq!(
            Finder::of("net_af_packet1", kernel).find("net_af_packet1", &ports),
            Some(1)
        );
        // Nothing answers: the message names the device, the MAC and the ports found.
        let lone = Finder::KernelMac([2, 0, 0, 0, 0, 7]);
        assert_eq!(lone.find("ens7f1np1", &ports), None);
        let why = lone.why_not_found("ens7f1np1", &ports);
        for part in [
            "ens7f1np1",
            "02:00:00:00:00:07",
            "0 net_af_packet0 02:00:00:00:00:08",
        ] {
            assert!(why.contains(part), "{part}: {why}");
        }
    }

    #[test]
    fn device_names_dpdk_could_have() {
        for yes in ["0000:01:00.0", "01:00.0", "net_pcap0", "net_af_packet1"] {
            assert!(could_be_dpdk_device(yes), "{yes}");
        }
        for no in ["ens7f0np0", "eth0", "dpdk", "0000:01:zz.0"] {
            assert!(!could_be_dpdk_device(no), "{no}");
        }
    }

    #[test]
    fn the_loopback_has_no_ethernet_address_and_nonsense_no_device() {
        assert_eq!(kernel_mac("lo"), None);
        assert_eq!(kernel_mac("no-such-device0"), None);
        assert_eq!(kernel_mac(""), None);
        assert_eq!(kernel_mac("a-name-longer-than-ifnamsiz"), None);
    }
}
