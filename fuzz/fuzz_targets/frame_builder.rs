//! The frame builder on arbitrary header bytes, lengths and payloads. Whatever it accepts must be
//! a frame an independent parser (etherparse) reads back with both checksums right; whatever it
//! refuses must be refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtcp_sendpkt::internals::{self as frame, ChecksumMode, SegmentView};

fuzz_target!(|data: &[u8]| {
    // Layout: [ip_len][tcp_len][mode] ip bytes, tcp bytes, payload.
    let [ip_len, tcp_len, mode, rest @ ..] = data else { return };
    let (ip_len, tcp_len) = (usize::from(*ip_len), usize::from(*tcp_len));
    if rest.len() < ip_len + tcp_len {
        return;
    }
    let (ip, rest) = rest.split_at(ip_len);
    let (tcp, payload) = rest.split_at(tcp_len);
    let Ok(seg) = SegmentView::new(ip, tcp, payload) else {
        assert!(frame::ipv4_header_len(ip).is_err() || frame::tcp_header_len(tcp).is_err());
        return;
    };
    let checksum = if mode & 1 == 0 { ChecksumMode::Software } else { ChecksumMode::Offload };
    // An odd-sized output buffer offset by `mode`, so that the payload lands at every alignment.
    let shift = usize::from(mode >> 1) % 8;
    let mut buf = vec![0u8; frame::frame_len(payload.len()) + shift];
    let out = &mut buf[shift..];
    let len = frame::write_ack_frame(&seg, [1; 6], [2; 6], checksum, out).expect("fits");
    assert_eq!(len, 66 + payload.len());
    let p = etherparse::SlicedPacket::from_ethernet(out).expect("our frame parses");
    let Some(etherparse::NetSlice::Ipv4(ipv4)) = p.net else { panic!("not IPv4") };
    let h = ipv4.header().to_header();
    assert_eq!(h.total_len as usize, 52 + payload.len());
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else { panic!("not TCP") };
    assert_eq!(t.payload(), payload);
    if checksum == ChecksumMode::Software {
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(t.checksum(), t.to_header().calc_checksum_ipv4(&h, payload).unwrap());
    }
});
