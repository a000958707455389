//! What the library knows of a NIC port, without DPDK: its description and limits, how its
//! frames get their checksums, its MAC as text. Routing, configuration, errors and the
//! command-line tool take these; only `port` (the DPDK edge) makes them from DPDK.

use crate::frame::{ChecksumMode, ETH_LEN, IPV4_LEN};

/// How many ports DPDK can have (`RTE_MAX_ETHPORTS` of the DPDK built against, passed on by
/// dpdk-sys's build script): the `dpdkN` names a configuration may use.
pub(crate) const MAX_PORTS: usize = parse_usize(env!("MTCP_SENDPKT_MAX_PORTS"));

const fn parse_usize(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "MTCP_SENDPKT_MAX_PORTS is a number");
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    n
}

/// What the core contexts need to know about a port the library sends on.
#[derive(Debug, Clone)]
pub(crate) struct PortInfo {
    pub id: u16,
    /// The device's name (`net_pcap0`, `0000:01:00.0`).
    pub name: String,
    /// The device with its bus (`vdev-net_pcap0`), as `dpdk-dumpcap` names an interface's
    /// hardware.
    pub hardware: String,
    pub mac: [u8; 6],
    pub mtu: u16,
    /// Longest frame accepted: MTU + 14, bounded by the mbuf data room (single-segment frames).
    pub max_frame: usize,
    /// IPv4 and TCP checksum offload are enabled on the library's TX queues.
    pub checksum_offload: bool,
    /// What an ACK frame's mbuf carries to ask for that offload (nothing without it).
    pub tx: TxFlags,
    /// The library configured and started the port (and stops it at shutdown); false when it sends
    /// through queues of a host's port.
    pub owned: bool,
}

impl PortInfo {
    #[cfg(test)]
    pub(crate) fn for_tests(id: u16) -> Self {
        Self {
            id,
            name: format!("net_null{id}"),
            hardware: format!("vdev-net_null{id}"),
            mac: [2, 0, 0, 0, 0, id as u8],
            mtu: 1500,
            max_frame: 1514,
            checksum_offload: false,
            tx: TxFlags::default(),
            owned: true,
        }
    }
}

/// A DPDK port as the configuration's netdev names find it (`config::netdev`): its port id, its
/// device name (`net_pcap0`, `0000:01:00.0`) and its MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortIdentity {
    pub id: u16,
    pub name: String,
    pub mac: [u8; 6],
}

/// Checksum offload requested for a frame (the header lengths the PMD needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxOffload {
    pub l2_len: u8,
    pub l3_len: u16,
}

/// The two mbuf fields that carry a frame's checksum offload request (`ol_flags` and
/// `tx_offload`), worked out once by `port` (the flag bits are DPDK's): a route cache keeps them
/// with the hop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxFlags {
    pub ol_flags: u64,
    pub tx_offload: u64,
}

/// How an ACK frame gets its checksums: in software, or by the NIC (`offload`, a port's
/// `checksum_offload`; then with the header lengths it needs).
#[inline(always)]
pub(crate) fn checksums(offload: bool) -> (ChecksumMode, Option<TxOffload>) {
    if offload {
        let o = TxOffload {
            l2_len: ETH_LEN as u8,
            l3_len: IPV4_LEN as u16,
        };
        (ChecksumMode::Offload, Some(o))
    } else {
        (ChecksumMode::Software, None)
    }
}

/// A frame length beyond the mbuf's room (`port::Room::finish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MbufTooSmall;

/// A MAC address as `02:00:00:00:00:0a` (messages, telemetry, the tool).
pub(crate) fn mac_text(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
