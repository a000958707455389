//! The mOS config parser on arbitrary text: an error or a warning names a line inside the text,
//! never a panic; what loads gives tables that answer lookups.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtcp_sendpkt::internals::MosConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut cfg = MosConfig::default();
    match cfg.parse_into(Path::new("fuzz.conf"), text) {
        Ok(()) => {
            cfg.check_devices();
            let lines = text.split('\n').count();
            for w in &cfg.warnings {
                assert!(w.line >= 1 && w.line <= lines, "{w}");
            }
            let _ = cfg.cores_from_masks();
            let _ = cfg.arp_table().lookup(0x0a00_0001);
            let _ = cfg.route_table(&[0, 1]).map(|t| t.lookup(0x0a00_0001).copied());
            let fd00 = 0xfd00_u128 << 112 | 1;
            let _ = cfg.arp6_table().lookup(fd00);
            let _ = cfg.route6_table(&[0, 1]).map(|t| t.lookup(fd00).copied());
        }
        Err(e) => assert!(e.line <= text.split('\n').count(), "{e}"),
    }
});
