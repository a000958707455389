//! Binds the system DPDK found by pkg-config and compiles the C shim.
//!
//! Two DPDK pitfalls shape this file:
//! - `pkg-config --cflags libdpdk` carries `-include rte_config.h` and `-march=...`; both bindgen and
//!   cc must see the very same flags or struct layouts can differ, so the raw string is passed to both.
//! - `RTE_ETH_TX_OFFLOAD_*` are defined with `RTE_BIT64()`, a function-like macro that bindgen drops
//!   without a word; the shim header re-exports them as `static const uint64_t`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_DPDK: &str = "22.11";

fn pkg_config(args: &[&str]) -> String {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
        .unwrap_or_else(|e| panic!("dpdk-sys: cannot run pkg-config: {e}"));
    if !out.status.success() {
        panic!(
            "dpdk-sys: `pkg-config {} libdpdk` failed: {}\n\
             install DPDK >= {MIN_DPDK} development files (Debian: apt-get install libdpdk-dev)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout)
        .expect("pkg-config output is UTF-8")
        .trim()
        .to_owned()
}

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Version gate and link flags (shared DPDK: EAL then loads the PMD plugin directory itself).
    let lib = pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .probe("libdpdk")
        .unwrap_or_else(|e| panic!("dpdk-sys: DPDK >= {MIN_DPDK} not found by pkg-config: {e}"));

    let cflags_raw = pkg_config(&["--cflags"]);
    let cflags: Vec<&str> = cflags_raw.split_whitespace().collect();

    let mut build = cc::Build::new();
    build.file("shim/shim.c").warnings(true).opt_level(3);
    for flag in &cflags {
        build.flag(flag);
    }
    build.compile("mtcp_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(cflags.iter().copied())
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("shim_.*")
        .allowlist_function("rte_eal_init")
        .allowlist_function("rte_eal_cleanup")
        .allowlist_function("rte_eal_process_type")
        .allowlist_function("rte_eth_dev_is_valid_port")
        .allowlist_function("rte_eth_dev_info_get")
        .allowlist_function("rte_eth_dev_configure")
        .allowlist_function("rte_eth_dev_socket_id")
        .allowlist_function("rte_eth_dev_start")
        .allowlist_function("rte_eth_dev_stop")
        .allowlist_function("rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_get_mtu")
        .allowlist_function("rte_eth_dev_get_name_by_port")
        .allowlist_function("rte_eth_macaddr_get")
        .allowlist_function("rte_eth_tx_queue_setup")
        .allowlist_function("rte_eth_rx_queue_setup")
        .allowlist_function("rte_eth_stats_get")
        .allowlist_function("rte_eth_tx_queue_info_get")
        .allowlist_function("rte_eth_dev_conf_get")
        .allowlist_function("rte_mempool_lookup")
        .allowlist_function("rte_lcore_count")
        .allowlist_function("rte_ring_lookup")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_mempool_avail_count")
        .allowlist_function("rte_mempool_in_use_count")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_thread_register")
        .allowlist_function("rte_thread_unregister")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_log_register_type_and_pick_level")
        .allowlist_function("rte_log_can_log")
        .allowlist_var("RTE_LOG_(ERR|WARNING|NOTICE|INFO|DEBUG)")
        .allowlist_function("rte_telemetry_register_cmd")
        .allowlist_function("rte_tel_data_(alloc|free|start_dict|start_array|add_dict_string|add_array_string|add_dict_container)")
        .allowlist_function("rte_version")
        .allowlist_type("rte_tel_value_type")
        .opaque_type("rte_tel_data")
        .allowlist_var("SHIM_.*")
        .allowlist_var("RTE_MAX_ETHPORTS")
        .allowlist_var("RTE_ETHER_ADDR_LEN")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_type("rte_eth_conf")
        .allowlist_type("rte_eth_dev_info")
        .allowlist_type("rte_eth_txconf")
        .allowlist_type("rte_eth_rxconf")
        .allowlist_type("rte_eth_stats")
        .allowlist_type("rte_eth_txq_info")
        .allowlist_type("rte_ether_addr")
        .allowlist_type("rte_proc_type_t")
        // Fields of these are touched only through the shim: keep them opaque.
        .opaque_type("rte_mbuf")
        .opaque_type("rte_mempool")
        .opaque_type("rte_ring")
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .expect("dpdk-sys: bindgen failed on shim/shim.h");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR set by cargo"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("dpdk-sys: cannot write bindings.rs");

    // Tell dependants (through DEP_DPDK_*) where the headers live, which DPDK this is and how
    // many ports it can have, so that they need no DPDK header for it.
    for inc in &lib.include_paths {
        println!("cargo:include={}", inc.display());
    }
    println!("cargo:version={}", lib.version);
    let text = std::fs::read_to_string(out.join("bindings.rs")).expect("dpdk-sys: bindings.rs");
    let max_ports = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("pub const RTE_MAX_ETHPORTS: u32 = "))
        .and_then(|v| v.trim_end_matches(';').parse::<u32>().ok())
        .expect("dpdk-sys: RTE_MAX_ETHPORTS in the bindings");
    println!("cargo:max_ethports={max_ports}");
}
