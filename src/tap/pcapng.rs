//! The pcapng blocks the tap writes (the IETF draft "PCAP Now Generic", as `dpdk-dumpcap`
//! writes them): a section header, an interface description per port, an enhanced packet block
//! per frame. Pure byte building, in the host's byte order (the section header's byte-order
//! magic tells readers which).

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const LINKTYPE_ETHERNET: u16 = 1;

const OPT_END: u16 = 0;
const SHB_OS: u16 = 3;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_MACADDR: u16 = 6;
const IF_TSRESOL: u16 = 9;
const IF_HARDWARE: u16 = 15;
const EPB_FLAGS: u16 = 2;
const EPB_QUEUE: u16 = 6;
/// `epb_flags`: direction outbound (bits 0-1 = 2).
const FLAGS_OUTBOUND: u32 = 2;

fn u16b(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_ne_bytes());
}
fn u32b(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_ne_bytes());
}

/// Pads `out` with zeros to a multiple of 4.
fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    u16b(out, code);
    u16b(out, value.len() as u16);
    out.extend_from_slice(value);
    pad4(out);
}

/// Writes a block of `kind` whose body `body` appends, with its two length fields.
fn block(out: &mut Vec<u8>, kind: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    u32b(out, kind);
    u32b(out, 0);
    body(out);
    pad4(out);
    let len = (out.len() - start + 4) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_ne_bytes());
    u32b(out, len);
}

/// The section header: this host's byte order, version 1.0, length unknown, the OS and the
/// application.
pub(crate) fn section_header(out: &mut Vec<u8>, os: &str, application: &str) {
    block(out, SHB, |b| {
        u32b(b, BYTE_ORDER_MAGIC);
        u16b(b, 1);
        u16b(b, 0);
        b.extend_from_slice(&(-1i64).to_ne_bytes());
        option(b, SHB_OS, os.as_bytes());
        option(b, SHB_USERAPPL, application.as_bytes());
        option(b, OPT_END, &[]);
    });
}

/// An Ethernet interface named `name` (its index is its place among the file's interfaces),
/// with its hardware, MAC address, the longest frame it takes and nanosecond timestamps.
pub(crate) fn interface(out: &mut Vec<u8>, name: &str, hardware: &str, mac: [u8; 6], snaplen: u32) {
    block(out, IDB, |b| {
        u16b(b, LINKTYPE_ETHERNET);
        u16b(b, 0);
        u32b(b, snaplen);
        option(b, IF_NAME, name.as_bytes());
        option(b, IF_MACADDR, &mac);
        option(b, IF_TSRESOL, &[9]);
        option(b, IF_HARDWARE, hardware.as_bytes());
        option(b, OPT_END, &[]);
    });
}

/// A frame sent on `interface`'s TX queue `queue` at `ts_ns` (nanoseconds since the epoch),
/// whole: its bytes are `a` then `b`.
pub(crate) fn packet(out: &mut Vec<u8>, interface: u32, ts_ns: u64, a: &[u8], b: &[u8], queue: u32) {
    let len = (a.len() + b.len()) as u32;
    block(out, EPB, |o| {
        u32b(o, interface);
        u32b(o, (ts_ns >> 32) as u32);
        u32b(o, ts_ns as u32);
        u32b(o, len);
        u32b(o, len);
        o.extend_from_slice(a);
        o.extend_from_slice(b);
        pad4(o);
        option(o, EPB_FLAGS, &FLAGS_OUTBOUND.to_ne_bytes());
        option(o, EPB_QUEUE, &queue.to_ne_bytes());
        option(o, OPT_END, &[]);
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// What an independent reader (pcap-file's pcapng reader) makes of a file we build.
    #[test]
    fn an_independent_reader_reads_what_we_write() {
        use pcap_file::pcapng::{Block, PcapNgReader};
        let mut f = Vec::new();
        section_header(&mut f, "Linux", "mtcp_sendpkt test");
        interface(&mut f, "dpdk:0", "vdev-net_pcap0", [2, 0, 0, 0, 0, 1], 1514);
        interface(&mut f, "dpdk:3", "vdev-net_null3", [2, 0, 0, 0, 0, 3], 9000);
        let frame: Vec<u8> = (0..67u8).collect();
        packet(
            &mut f,
            1,
            1_700_000_000_123_456_789,
            &frame[..10],
            &frame[10..],
            5,
        );
        packet(&mut f, 0, 1_700_000_001_000_000_000, &frame[..64], &[], 0);
        let mut r = PcapNgReader::new(&f[..]).expect("section header");
        let mut names = Vec::new();
        let mut packets = Vec::new();
        while let Some(b) = r.next_block() {
            match b.expect("block") {
                Block::InterfaceDescription(i) => {
                    assert_eq!(i.linktype, pcap_file::DataLink::ETHERNET);
                    names.push((i.snaplen, format!("{:?}", i.options)));
                }
                Block::EnhancedPacket(p) => packets.push((
                    p.interface_id,
                    p.timestamp.as_nanos(),
                    p.data.to_vec(),
                    p.original_len,
                )),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(names.len(), 2);
        assert!(
            names[0].1.contains("dpdk:0") && names[0].1.contains("vdev-net_pcap0"),
            "{names:?}"
        );
        assert_eq!(names[1].0, 9000);
        assert_eq!(
            packets,
            [
                (1, 1_700_000_000_123_456_789, frame.clone(), 67),
                (0, 1_700_000_001_000_000_000, frame[..64].to_vec(), 64),
            ]
        );
    }

    #[test]
    fn blocks_are_whole_multiples_of_four_with_matching_lengths() {
        let mut f = Vec::new();
        packet(&mut f, 0, 1, &[1, 2, 3], &[], 0);
        let len = u32::from_ne_bytes(f[4..8].try_into().unwrap()) as usize;
        assert_eq!(len, f.len());
        assert_eq!(len % 4, 0);
        assert_eq!(u32::from_ne_bytes(f[len - 4..].try_into().unwrap()) as usize, len);
    }
}
