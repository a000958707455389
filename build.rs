//! Regenerates `include/mtcp_sendpkt.h` from the Rust sources with cbindgen (the file is committed;
//! CI regenerates it and fails on a difference), and makes the shared library undeletable once
//! loaded: it owns a thread, so `dlclose` must not unmap its code under that thread.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    // What dpdk-sys found (DEP_DPDK_*): the DPDK version built against and its port limit, for
    // the modules that must not include DPDK (`nic`, the tool's `--version`).
    for (dep, env) in [
        ("DEP_DPDK_VERSION", "MTCP_SENDPKT_DPDK_BUILT"),
        ("DEP_DPDK_MAX_ETHPORTS", "MTCP_SENDPKT_MAX_PORTS"),
    ] {
        println!("cargo:rerun-if-env-changed={dep}");
        let v = std::env::var(dep).unwrap_or_else(|_| panic!("{dep} is set by dpdk-sys's build script"));
        println!("cargo:rustc-env={env}={v}");
    }
    // ABI version 1 (0 until mtcp_sendpkt_raw took the mmTLS fork's prototype): bump with any
    // change to an exported function or struct.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmtcp_sendpkt.so.1");

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let out = crate_dir.join("include").join("mtcp_sendpkt.h");
    match cbindgen::generate_with_config(&crate_dir, config) {
        // write_to_file leaves the file alone when its content is unchanged.
        Ok(bindings) => {
            bindings.write_to_file(&out);
        }
        Err(e) => panic!("cbindgen could not generate {}: {e}", out.display()),
    }
}
