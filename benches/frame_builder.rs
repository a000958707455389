//! The pure frame builder against its peer: what testpmd's txonly does per packet, copying a
//! prebuilt 66-byte header template and patching the fields that change. Prints each one's time and
//! the ratio builder / template copy (the cost of building from the caller's headers, options and
//! checksums included).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use mtcp_sendpkt::internals::{self as frame, ChecksumMode, SegmentView};

fn inputs() -> (Vec<u8>, Vec<u8>) {
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 10]);
    let mut tcp = vec![0u8; 32];
    tcp[12] = 8 << 4;
    tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    (ip, tcp)
}

fn bench(c: &mut Criterion) {
    let (ip, tcp) = inputs();
    let mut out = [0u8; 2048];
    let mut g = c.benchmark_group("frame, payload 0");
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("ours: parse headers + build + software checksums", |b| {
        b.iter(|| {
            let seg = SegmentView::new(black_box(&ip), black_box(&tcp), &[]).unwrap();
            frame::write_ack_frame(&seg, [1; 6], [2; 6], ChecksumMode::Software, &mut out).unwrap()
        })
    });
    let template = [0x45u8; 66];
    g.bench_function("peer: copy a 66-byte template, patch seq", |b| {
        b.iter(|| {
            out[..66].copy_from_slice(black_box(&template));
            out[38..42].copy_from_slice(&black_box(7u32).to_be_bytes());
            out[0]
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // The ratio, from criterion's own estimates.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion/frame, payload 0");
    let mean = |name: &str| -> Option<f64> {
        let text = std::fs::read_to_string(dir.join(name).join("new/estimates.json")).ok()?;
        let at = text.find("\"mean\"")?;
        let rest = &text[at..];
        let pe = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
        rest[pe..].split([',', '}']).next()?.trim().parse().ok()
    };
    let ours = mean("ours_ parse headers + build + software checksums");
    let peer = mean("peer_ copy a 66-byte template, patch seq");
    match ours.zip(peer) {
        Some((o, p)) => println!("frame builder / template copy: {:.1}x the time", o / p),
        None => println!(
            "frame builder / template copy: estimates not found under {}",
            dir.display()
        ),
    }
}
