//! The mOS config parser on arbitrary text: an error names a line inside the text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtcp_sendpkt::internals::MosConfig;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut cfg = MosConfig::default();
    match cfg.parse_into(Path::new("fuzz.conf"), text) {
        Ok(()) => {
            let _ = cfg.check_devices();
            let _ = cfg.cores_from_masks();
        }
        Err(e) => assert!(e.line <= text.lines().count(), "{e}"),
    }
});
