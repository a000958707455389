//! Prints one line per frame of a pcap file, parsed by an independent parser (etherparse), with a
//! check of both checksums. Used by `make demo`; handy for looking at any capture of our frames.
//!
//! Usage: cargo run --example pcap_summary -- FILE.pcap

use etherparse::{LinkSlice, NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};

fn mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: pcap_summary FILE.pcap");
        std::process::exit(2);
    };
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("pcap_summary: {path}: {e}");
        std::process::exit(1);
    });
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("a pcap file");
    let mut n = 0;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.expect("a pcap record");
        n += 1;
        let data = &pkt.data;
        let line = match SlicedPacket::from_ethernet(data) {
            Ok(SlicedPacket {
                link: Some(LinkSlice::Ethernet2(eth)),
                net: Some(NetSlice::Ipv4(ip)),
                transport: Some(TransportSlice::Tcp(tcp)),
                ..
            }) => {
                let h = ip.header().to_header();
                let ip_ok = h.header_checksum == h.calc_header_checksum();
                let tcp_ok =
                    tcp.to_header().calc_checksum_ipv4(&h, tcp.payload()).ok() == Some(tcp.checksum());
                let ts = tcp
                    .options_iterator()
                    .find_map(|o| match o {
                        Ok(TcpOptionElement::Timestamp(v, e)) => Some(format!(" TS val {v} ecr {e}")),
                        _ => None,
                    })
                    .unwrap_or_default();
                format!(
                    "{} bytes  {} > {}  {}:{} > {}:{}  {}seq {} ack {} win {}{}  payload {}  checksums {}",
                    data.len(),
                    mac(eth.source()),
                    mac(eth.destination()),
                    std::net::Ipv4Addr::from(h.source),
                    tcp.source_port(),
                    std::net::Ipv4Addr::from(h.destination),
                    tcp.destination_port(),
                    if tcp.ack() { "[ACK] " } else { "" },
                    tcp.sequence_number(),
                    tcp.acknowledgment_number(),
                    tcp.window_size(),
                    ts,
                    tcp.payload().len(),
                    if ip_ok && tcp_ok { "ok" } else { "WRONG" },
                )
            }
            Ok(_) => format!("{} bytes, not Ethernet/IPv4/TCP", data.len()),
            Err(e) => format!("{} bytes, unparsable: {e}", data.len()),
        };
        println!("frame {n}: {line}");
    }
    println!("{n} frames in {path}");
}
