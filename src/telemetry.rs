//! DPDK telemetry commands, for operators using DPDK's own tools (`dpdk-telemetry.py`,
//! `mtcp-sendpkt stats`):
//! - `/mtcp_sendpkt/stats`: the totals of every counter, and each counter per core context
//!   (`per_core/<counter>`, an array indexed by `mctx->cpu`); `/mtcp_sendpkt/stats,<k>`: core
//!   context k alone.
//! - `/mtcp_sendpkt/config`: the ports, the core contexts, the table sizes and the settings.
//!
//! DPDK 22.11's telemetry nests only arrays of numbers or strings inside a dictionary, hence
//! the flat names. The commands are registered once the EAL is up (the library's, or the host's
//! when attached); the socket exists only when telemetry is on (`MTCP_SENDPKT_TELEMETRY=1`, or
//! the host's EAL has it). DPDK has no way to unregister a command: after shutdown the commands
//! still answer, with the final counts and `"state": "shut_down"`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Once, OnceLock};

use dpdk_sys as sys;

use crate::core_ctx::{Counters, REJECT_ERRNOS};
use crate::nic::PortInfo;
use crate::settings::Settings;

pub(crate) const STATS: &str = "/mtcp_sendpkt/stats";
pub(crate) const CONFIG: &str = "/mtcp_sendpkt/config";

/// What the commands report, as the library's runtime gives it when asked.
pub(crate) struct View {
    /// `running`, `shutting_down`, `shut_down` or `forked`.
    pub state: &'static str,
    /// Each core context's counters (its lanes' included), by context index.
    pub counters: Vec<Counters>,
    /// Lanes per core context.
    pub lanes_per_core: usize,
    pub ports: &'static [PortInfo],
    /// IPv4 routes and ARP entries, IPv6 routes and neighbours.
    pub table_sizes: [usize; 4],
    pub settings: &'static Settings,
}

/// Where the commands get their [`View`] (`None`: the library has not started).
type Source = fn() -> Option<View>;
static SOURCE: OnceLock<Source> = OnceLock::new();

/// Registers both commands (once per process), answered from what `source` gives.
pub(crate) fn register(source: Source) {
    static ONCE: Once = Once::new();
    let _ = SOURCE.set(source);
    ONCE.call_once(|| {
        let cmds: [(&str, sys::telemetry_cb, &str); 2] = [
            (
                STATS,
                Some(stats_cb),
                "mtcp_sendpkt counters: totals and per core context. Parameters: int core context (optional)",
            ),
            (
                CONFIG,
                Some(config_cb),
                "mtcp_sendpkt ports, core contexts, tables and settings. Takes no parameters",
            ),
        ];
        for (cmd, cb, help) in cmds {
            let (c, h) = (
                CString::new(cmd).expect("no NUL"),
                CString::new(help).expect("no NUL"),
            );
            // SAFETY: NUL-terminated strings DPDK copies; `cb` is a plain extern "C" fn that
            // lives as long as the process.
            let rc = unsafe { sys::rte_telemetry_register_cmd(c.as_ptr(), cb, h.as_ptr()) };
            if rc != 0 {
                crate::log::warning!("cannot register the telemetry command {cmd} ({rc})");
            }
        }
    });
}

/// A telemetry reply being filled: the `rte_tel_data` DPDK passed to a callback.
struct Reply(*mut sys::rte_tel_data);

impl Reply {
    fn name(name: &str) -> CString {
        CString::new(name).expect("names are ours, without NUL")
    }

    fn u64(&self, name: &str, v: u64) {
        // SAFETY: `self.0` is the started dict of this callback; the name is copied.
        unsafe { sys::shim_tel_dict_uint(self.0, Self::name(name).as_ptr(), v) };
    }

    fn string(&self, name: &str, v: &str) {
        let v = CString::new(v.replace('\0', "")).expect("NULs removed");
        // SAFETY: as for `u64`; both strings are copied (cut to RTE_TEL_MAX_STRING_LEN).
        unsafe { sys::rte_tel_data_add_dict_string(self.0, Self::name(name).as_ptr(), v.as_ptr()) };
    }

    /// An array of numbers under `name`.
    fn u64s(&self, name: &str, vs: impl IntoIterator<Item = u64>) {
        self.array(name, sys::SHIM_TEL_UINT_VAL as sys::rte_tel_value_type, |a| {
            for v in vs {
                // SAFETY: `a` is a started u64 array.
                unsafe { sys::shim_tel_array_uint(a, v) };
            }
        });
    }

    /// An array of strings under `name`.
    fn strings(&self, name: &str, vs: impl IntoIterator<Item = String>) {
        self.array(name, sys::rte_tel_value_type_RTE_TEL_STRING_VAL, |a| {
            for v in vs {
                let v = CString::new(v.replace('\0', "")).expect("NULs removed");
                // SAFETY: `a` is a started string array; the string is copied.
                unsafe { sys::rte_tel_data_add_array_string(a, v.as_ptr()) };
            }
        });
    }

    fn array(&self, name: &str, kind: sys::rte_tel_value_type, fill: impl FnOnce(*mut sys::rte_tel_data)) {
        // SAFETY: allocation of a container; NULL is checked.
        let a = unsafe { sys::rte_tel_data_alloc() };
        if a.is_null() {
            return;
        }
        // SAFETY: `a` is a fresh container.
        unsafe { sys::rte_tel_data_start_array(a, kind) };
        fill(a);
        // SAFETY: `a` is a filled array; with keep = 0 the dict owns and frees it. If adding fails
        // it is not taken, and freed here.
        let rc = unsafe { sys::rte_tel_data_add_dict_container(self.0, Self::name(name).as_ptr(), a, 0) };
        if rc != 0 {
            // SAFETY: not taken by the dict: ours to free.
            unsafe { sys::rte_tel_data_free(a) };
        }
    }
}

/// Runs `fill` on the started dict `d`, never unwinding into DPDK.
///
/// # Safety
/// `d` is the data DPDK passed to a telemetry callback; `params` is NULL or NUL-terminated.
unsafe fn answer(
    d: *mut sys::rte_tel_data,
    params: *const c_char,
    fill: fn(&Reply, Option<&str>) -> Result<(), ()>,
) -> c_int {
    // SAFETY: `params` is NULL or a NUL-terminated string (DPDK's callback contract).
    let params = (!params.is_null())
        .then(|| unsafe { CStr::from_ptr(params) }.to_str().ok())
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    // SAFETY: `d` is the reply of this callback.
    unsafe { sys::rte_tel_data_start_dict(d) };
    let reply = Reply(d);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fill(&reply, params))) {
        Ok(Ok(())) => 0,
        _ => -libc::EINVAL,
    }
}

unsafe extern "C" fn stats_cb(
    _cmd: *const c_char,
    params: *const c_char,
    d: *mut sys::rte_tel_data,
) -> c_int {
    // SAFETY: DPDK's callback contract, passed on.
    unsafe { answer(d, params, fill_stats) }
}

unsafe extern "C" fn config_cb(
    _cmd: *const c_char,
    params: *const c_char,
    d: *mut sys::rte_tel_data,
) -> c_int {
    // SAFETY: DPDK's callback contract, passed on.
    unsafe { answer(d, params, fill_config) }
}

/// Each counter of a context, by name.
fn named(c: &Counters) -> Vec<(String, u64)> {
    let s = &c.stats;
    let mut v: Vec<(String, u64)> = [
        ("accepted", s.accepted),
        ("transmitted", s.transmitted),
        ("pending", s.pending),
        ("rejected", s.rejected),
        ("no_mbuf", s.no_mbuf),
        ("tx_busy", s.tx_busy),
        ("dropped_at_shutdown", s.dropped_at_shutdown),
        ("resets_sent", c.resets),
        ("raw_frames_sent", c.raw_frames),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    for (i, (_, errno)) in REJECT_ERRNOS.iter().enumerate() {
        v.push((format!("rejected/{errno}"), c.rejected_by[i]));
    }
    v
}

fn fill_stats(r: &Reply, params: Option<&str>) -> Result<(), ()> {
    let Some(view) = SOURCE.get().and_then(|source| source()) else {
        r.string("state", "not_started");
        return Ok(());
    };
    let per_core = &view.counters;
    r.string("state", view.state);
    if let Some(p) = params {
        let k: usize = p.parse().map_err(|_| ())?;
        let c = per_core.get(k).ok_or(())?;
        r.u64("core", k as u64);
        for (name, v) in named(c) {
            r.u64(&name, v);
        }
        return Ok(());
    }
    r.u64("cores", per_core.len() as u64);
    let each: Vec<Vec<(String, u64)>> = per_core.iter().map(named).collect();
    let names: Vec<String> = named(&Counters::default()).into_iter().map(|(n, _)| n).collect();
    for (i, name) in names.iter().enumerate() {
        r.u64(name, each.iter().map(|c| c[i].1).sum());
    }
    for (i, name) in names.iter().enumerate() {
        r.u64s(&format!("per_core/{name}"), each.iter().map(|c| c[i].1));
    }
    let tap = crate::tap::counts();
    r.u64("tap/written", tap.written);
    r.u64("tap/dropped", tap.dropped);
    Ok(())
}

fn fill_config(r: &Reply, params: Option<&str>) -> Result<(), ()> {
    if params.is_some() {
        return Err(());
    }
    r.string("version", env!("CARGO_PKG_VERSION"));
    r.string("dpdk", &crate::port::dpdk_version());
    let Some(view) = SOURCE.get().and_then(|source| source()) else {
        r.string("state", "not_started");
        return Ok(());
    };
    r.string("state", view.state);
    let ports = view.ports;
    let s = view.settings;
    r.u64("cores", view.counters.len() as u64);
    r.u64("lanes_per_core", view.lanes_per_core as u64);
    r.u64("attached", u64::from(ports.iter().any(|p| !p.owned)));
    r.u64s("ports/id", ports.iter().map(|p| u64::from(p.id)));
    r.strings("ports/name", ports.iter().map(|p| p.name.clone()));
    r.strings("ports/mac", ports.iter().map(|p| crate::nic::mac_text(&p.mac)));
    r.u64s("ports/mtu", ports.iter().map(|p| u64::from(p.mtu)));
    r.u64s(
        "ports/checksum_offload",
        ports.iter().map(|p| u64::from(p.checksum_offload)),
    );
    let [routes, arp, routes6, arp6] = view.table_sizes;
    r.u64("routes/ipv4", routes as u64);
    r.u64("arp/ipv4", arp as u64);
    r.u64("routes/ipv6", routes6 as u64);
    r.u64("neighbours/ipv6", arp6 as u64);
    r.u64("burst", s.burst as u64);
    r.u64("flush_us", s.flush_interval.as_micros() as u64);
    r.u64("tx_wait_us", s.tx_wait.as_micros() as u64);
    r.u64("mbufs", u64::from(s.mbufs));
    r.u64("tx_desc", u64::from(s.tx_desc));
    r.string("errors", if s.mos_errors { "mos" } else { "report" });
    r.u64("kernel_tables", u64::from(s.kernel_tables));
    r.string(
        "tcp_flags",
        if s.tcp_flags_from_packet { "packet" } else { "ack" },
    );
    r.string(
        "pcapng",
        &crate::tap::path()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    r.u64("telemetry", u64::from(s.telemetry));
    r.string(
        "conf",
        &s.conf_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    );
    Ok(())
}
