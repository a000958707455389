//! ack_from_rust: the middlebox of `examples/ack_from_pcap.c`, written against the crate's Rust
//! API. It reads a capture of observed traffic and answers every TCP data segment with an ACK to
//! its sender, through the same library path as the C call.
//!
//! Usage: MTCP_SENDPKT_CONF=... MTCP_SENDPKT_EAL_ARGS=... cargo run --example ack_from_rust -- observed.pcap

use mtcp_sendpkt::api::{self, TcpPacket};

/// The ACK the receiver of `seg` would send: directions swapped, acknowledging its data.
/// Returns the reply's IPv4 + TCP headers, or `None` if `seg` carries no data.
fn ack_for(seg: &TcpPacket<'_>) -> Option<Vec<u8>> {
    if seg.payload.is_empty() {
        return None;
    }
    let (ip, tcp) = (seg.ip_header, seg.tcp_header);
    let mut r = vec![0u8; 20 + 20];
    r[0] = 0x45;
    r[4..6].copy_from_slice(&ip[4..6]);
    r[12..16].copy_from_slice(&ip[16..20]);
    r[16..20].copy_from_slice(&ip[12..16]);
    let t = &mut r[20..];
    t[0..2].copy_from_slice(&tcp[2..4]);
    t[2..4].copy_from_slice(&tcp[0..2]);
    t[4..8].copy_from_slice(&tcp[8..12]);
    let seq = u32::from_be_bytes(tcp[4..8].try_into().unwrap());
    t[8..12].copy_from_slice(&seq.wrapping_add(seg.payload.len() as u32).to_be_bytes());
    t[12] = 5 << 4;
    t[14..16].copy_from_slice(&tcp[14..16]);
    if let Some((val, ecr)) = seg.timestamp() {
        r[20 + 12] = 8 << 4;
        r.extend_from_slice(&[1, 1, 8, 10]);
        r.extend_from_slice(&ecr); // our TSval: what the sender echoed
        r.extend_from_slice(&val); // our TSecr: the sender's TSval
    }
    Some(r)
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ack_from_rust observed.pcap");
        std::process::exit(2);
    };
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("ack_from_rust: {path}: {e}");
        std::process::exit(1)
    });
    let core = api::core(0).unwrap_or_else(|e| {
        eprintln!("ack_from_rust: {e}");
        std::process::exit(1)
    });
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("a pcap file");
    let (mut seen, mut acked) = (0, 0);
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("a pcap record");
        // Ethernet II carrying IPv4, then a TCP packet.
        let frame = &pkt.data;
        if frame.len() <= 14 || frame[12..14] != [8, 0] {
            continue;
        }
        let Ok(seg) = TcpPacket::from_ipv4(&frame[14..]) else {
            continue;
        };
        if seg.ip_header[9] != 6 {
            continue;
        }
        let Some(reply) = ack_for(&seg) else { continue };
        seen += 1;
        let ack = TcpPacket {
            ip_header: &reply[..20],
            tcp_header: &reply[20..],
            payload: &[],
            eth_dst: None,
        };
        match core.send(&ack) {
            Ok(()) => acked += 1,
            Err(e) => eprintln!("ack_from_rust: segment {seen}: {e}"),
        }
    }
    println!("ack_from_rust: acked {acked} of {seen} data segments");
    std::process::exit(if acked == seen { 0 } else { 1 });
}
