//! `mtcp-sendpkt`, the command-line tool for the person deploying the library: it reads the
//! configuration exactly as the library does at start (same code, same environment variables)
//! and shows what came of it. It never starts DPDK. `stats` watches a running process through
//! its DPDK telemetry socket (`stats.rs`).

mod stats;

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::netdev::{could_be_dpdk_device, Finder};
use crate::config::{MosConfig, NetDev, Origin};
use crate::nic::mac_text;
use crate::route::{IpPrefix, Prefix, PrefixTable};
use crate::settings::{Settings, MAX_CORES};

const USAGE: &str = "\
usage: mtcp-sendpkt check [CONF...]
       mtcp-sendpkt route ADDR [CONF...]
       mtcp-sendpkt stats [--file-prefix P] [--interval S] [--count N] [--json]
       mtcp-sendpkt --help | --version

Reads the configuration exactly as libmtcp_sendpkt does when it starts: the files CONF (default:
the colon-separated list in MTCP_SENDPKT_CONF) and, unless MTCP_SENDPKT_KERNEL_TABLES=0, the
kernel's ARP and route tables (/proc/net/arp, /proc/net/route; for IPv6 /proc/net/ipv6_route and
the neighbour table), before the files' entries.

  check       prints the ports and their core contexts, every route and ARP entry with where it
              came from (file:line or kernel), and every warning. Exit status 1 when the library
              would refuse to start.
  route ADDR  prints the port and Ethernet destination a frame to ADDR (IPv4, or IPv6 for
              mtcp_sendpkt_reset/_raw) gets, and which entries decide them. Exit status 1 when
              such a frame would be refused.
  stats       shows the counters of a running process as rates per core context (frames/s,
              errors/s by errno) every S seconds (default 1), N times (default: until stopped),
              read from its DPDK telemetry socket (file prefix P, default rte; the process runs
              with MTCP_SENDPKT_TELEMETRY=1). --json prints one JSON object per interval.

Exit status 2: bad usage.
";

/// Runs the tool with `args` (without the program name); returns the exit status.
pub fn run(args: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let usage = |err: &mut dyn Write, why: &str| {
        let _ = writeln!(err, "mtcp-sendpkt: {why}\n\n{USAGE}");
        2
    };
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "mtcp-sendpkt: {e}");
            return 2;
        }
    };
    let confs = |rest: &[String]| -> Vec<PathBuf> {
        if rest.is_empty() {
            settings.conf_paths.clone()
        } else {
            rest.iter().map(PathBuf::from).collect()
        }
    };
    let r = match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => {
            let _ = write!(out, "{USAGE}");
            return 0;
        }
        Some("-V" | "--version") => {
            let (runs, built) = crate::api::dpdk_version();
            let _ = writeln!(
                out,
                "mtcp-sendpkt {}, on DPDK {runs} (built against {built})",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Some("check") => check(&confs(&args[1..]), &settings, out),
        Some("stats") => {
            return match stats::Options::parse(&args[1..]) {
                Ok(o) => stats::run(&o, out, err),
                Err(why) => usage(err, &why),
            }
        }
        Some("route") => match args.get(1).map(|a| a.parse::<IpAddr>()) {
            Some(Ok(addr)) => route(addr, &confs(&args[2..]), &settings, out),
            Some(Err(_)) => return usage(err, &format!("{:?} is not an IP address", args[1])),
            None => return usage(err, "route needs an address"),
        },
        Some(other) => return usage(err, &format!("unknown command {other:?}")),
        None => return usage(err, "no command"),
    };
    match r {
        Ok(status) => status,
        Err(e) => {
            let _ = writeln!(err, "mtcp-sendpkt: error: {e}");
            1
        }
    }
}

/// The configuration as the library would load it (without DPDK, a netdev's port is said by how
/// it will be found: with no netdev block, every `dpdkN` a route names is taken to exist).
struct Loaded {
    cfg: MosConfig,
    all_ports: bool,
    cores: usize,
    cores_from: &'static str,
}

fn load(paths: &[PathBuf], settings: &Settings) -> Result<Loaded, crate::error::InitError> {
    let cfg = MosConfig::load(paths, settings.kernel_tables)?;
    let all_ports = !cfg.has_netdev;
    let (cores, cores_from) = match (settings.cores, cfg.cores_from_masks()) {
        (Some(n), _) => (n, "MTCP_SENDPKT_CORES"),
        (None, Some(n)) => (n.min(MAX_CORES), "the netdev core masks"),
        (None, None) => (1, "the default"),
    };
    Ok(Loaded {
        cfg,
        all_ports,
        cores,
        cores_from,
    })
}

/// A netdev's port, as the tool can say it without DPDK.
fn netdev_label(d: &NetDev) -> String {
    match d.finder {
        Finder::Index(n) => format!("port {n} ({})", d.name),
        Finder::KernelMac(mac) => format!("the port with MAC {} ({})", mac_text(&mac), d.name),
        Finder::DpdkName => format!("the port of DPDK device {0} ({0})", d.name),
    }
}

/// Where frames of a route to `device` go, or `None`: refused (not a netdev).
fn route_label(l: &Loaded, device: &str) -> Option<String> {
    if l.all_ports {
        let n = dpdk_index(device)?;
        Some(format!("port {n} (dpdk{n}, if DPDK has it)"))
    } else {
        l.cfg.netdevs.iter().find(|d| d.name == device).map(netdev_label)
    }
}

/// The first port, where every frame goes when no route exists.
fn first_port_label(l: &Loaded) -> String {
    match l.cfg.netdevs.first() {
        Some(d) if !l.all_ports => netdev_label(d),
        _ => "port 0 (dpdk0, if DPDK has it)".into(),
    }
}

/// `dpdkN` → N, below DPDK's port limit.
fn dpdk_index(device: &str) -> Option<u16> {
    match Finder::of(device, |_| None) {
        Finder::Index(n) => Some(n),
        _ => None,
    }
}

fn check(
    paths: &[PathBuf],
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<i32, crate::error::InitError> {
    let l = load(paths, settings)?;
    let cfg = &l.cfg;
    let mut w = String::new();
    use std::fmt::Write as _;
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(
        w,
        "configuration: {}",
        if files.is_empty() {
            "(none)".into()
        } else {
            files.join(", ")
        }
    );
    let _ = writeln!(
        w,
        "kernel tables: {}",
        if settings.kernel_tables {
            "read (MTCP_SENDPKT_KERNEL_TABLES=0 turns this off)"
        } else {
            "not read"
        }
    );
    let _ = writeln!(
        w,
        "TCP flags of mtcp_sendpkt's frames: {}",
        if settings.tcp_flags_from_packet {
            "pinfo->tcph's flags byte, as the mmTLS fork of mOS (MTCP_SENDPKT_TCP_FLAGS=packet)"
        } else {
            "ACK only, as upstream mOS (MTCP_SENDPKT_TCP_FLAGS=packet: pinfo->tcph's, as the mmTLS fork)"
        }
    );
    // A route's netdev that can be no port here (not a kernel device, not dpdkN, not shaped
    // like a DPDK device name): the library would not start.
    let mut unfindable = Vec::new();
    if l.all_ports {
        let _ = writeln!(w, "ports: every DPDK port (no netdev block)");
    } else {
        let _ = writeln!(w, "ports (netdevs, found as mOS finds them):");
        for d in &cfg.netdevs {
            let _ = writeln!(
                w,
                "  {:<10} core mask {:#06x}   {}\n    {}",
                d.name,
                d.core_mask,
                d.origin,
                d.finder.describe(&d.name)
            );
            let routed = cfg
                .routes
                .iter()
                .any(|r| r.device == d.name && matches!(r.origin, Origin::File { .. }));
            if routed && d.finder == Finder::DpdkName && !could_be_dpdk_device(&d.name) {
                unfindable.push(d.name.clone());
            }
        }
    }
    let _ = writeln!(
        w,
        "core contexts: {} (from {}): mctx->cpu 0 to {}; context k sends on TX queue k of every port",
        l.cores,
        l.cores_from,
        l.cores - 1
    );
    let lanes = settings.lanes.unwrap_or(1);
    let _ = writeln!(
        w,
        "lanes: up to {lanes} per core context (MTCP_SENDPKT_LANES): threads that call with an mctx another thread owns send on TX queue {} and up, where a port has them",
        l.cores
    );
    if cfg.routes.is_empty() {
        let _ = writeln!(w, "routes: none: every frame goes to the first port");
    } else {
        let _ = writeln!(
            w,
            "routes ({}, in the order mOS reads them; longest prefix wins, then the first):",
            cfg.routes.len()
        );
        for r in &cfg.routes {
            let to = route_label(&l, &r.device).unwrap_or_else(|| "refused (not a netdev device)".into());
            let _ = writeln!(
                w,
                "  {:<18} {:<10} -> {:<30} {}",
                r.prefix.to_string(),
                r.device.escape_debug().to_string(),
                to,
                r.origin
            );
        }
    }
    if !cfg.left_out.is_empty() {
        let _ = writeln!(
            w,
            "kernel routes left out ({}: their devices are not netdevs but the host's other interfaces):",
            cfg.left_out.len()
        );
        for r in &cfg.left_out {
            let _ = writeln!(
                w,
                "  {:<18} {:<10} {}",
                r.prefix.to_string(),
                r.device.escape_debug().to_string(),
                r.origin
            );
        }
    }
    if cfg.arp.is_empty() {
        let _ = writeln!(w, "ARP entries: none: frames take pinfo->ethh->h_dest");
    } else {
        let _ = writeln!(w, "ARP entries ({}):", cfg.arp.len());
        for a in &cfg.arp {
            let _ = writeln!(
                w,
                "  {:<18} {}  {}",
                a.prefix.to_string(),
                mac_text(&a.mac),
                a.origin
            );
        }
    }
    if !cfg.forward.is_empty() {
        let _ = writeln!(w, "nic_forward pairs (read, not used by mtcp_sendpkt):");
        for (a, b, origin) in &cfg.forward {
            let _ = writeln!(w, "  {a} <-> {b}   {origin}");
        }
    }
    let _ = writeln!(w, "warnings: {}", cfg.warnings.len());
    for warning in &cfg.warnings {
        let _ = writeln!(w, "  {warning}");
    }
    for name in &unfindable {
        let _ = writeln!(
            w,
            "error: a route names the netdev {name}, which can be no DPDK port here: mtcp_sendpkt would not \
             start (mOS: Interface '{name}' not found)"
        );
    }
    let _ = out.write_all(w.as_bytes());
    Ok(i32::from(!unfindable.is_empty()))
}

/// The same lookup the library makes, over a table of entry indices of one family: whether the
/// family has any entry, and the index of the one that matches `addr`.
fn lookup<'a, P: Prefix>(
    prefixes: impl Iterator<Item = &'a IpPrefix>,
    family: fn(&IpPrefix) -> Option<P>,
    addr: P::Addr,
) -> (bool, Option<usize>) {
    let mut t = PrefixTable::<usize, P>::default();
    let mut any = false;
    for (i, p) in prefixes.enumerate() {
        if let Some(p) = family(p) {
            t.insert(p, i);
            any = true;
        }
    }
    (any, t.lookup(addr).copied())
}

fn route(
    addr: IpAddr,
    paths: &[PathBuf],
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<i32, crate::error::InitError> {
    let l = load(paths, settings)?;
    let cfg = &l.cfg;
    let mut w = String::new();
    use std::fmt::Write as _;
    let routes = cfg.routes.iter().map(|r| &r.prefix);
    let arps = cfg.arp.iter().map(|e| &e.prefix);
    let ((any_route, route), (_, arp), family) = match addr {
        IpAddr::V4(a) => (
            lookup(routes, IpPrefix::v4, u32::from(a)),
            lookup(arps, IpPrefix::v4, u32::from(a)),
            "",
        ),
        IpAddr::V6(a) => (
            lookup(routes, IpPrefix::v6, u128::from(a)),
            lookup(arps, IpPrefix::v6, u128::from(a)),
            "IPv6 ",
        ),
    };
    if addr.is_ipv6() {
        let _ = writeln!(
            w,
            "(IPv6: for mtcp_sendpkt_reset, _segment and _raw; mtcp_sendpkt refuses it with ENODATA)"
        );
    }
    // The kernel route of another interface that the host itself would take, to say why it
    // does not answer here.
    let left_out = match addr {
        IpAddr::V4(a) => lookup(cfg.left_out.iter().map(|r| &r.prefix), IpPrefix::v4, u32::from(a)).1,
        IpAddr::V6(a) => {
            lookup(
                cfg.left_out.iter().map(|r| &r.prefix),
                IpPrefix::v6,
                u128::from(a),
            )
            .1
        }
    }
    .map(|i| &cfg.left_out[i]);
    let port = if !any_route {
        let first = first_port_label(&l);
        let _ = writeln!(
            w,
            "{addr}: {first}: no {family}route at all, every {family}frame goes to the first port"
        );
        Some(first)
    } else {
        match route.map(|i| &cfg.routes[i]) {
            None => {
                let _ = writeln!(w, "{addr}: refused (EHOSTUNREACH): no route matches");
                None
            }
            Some(r) => match route_label(&l, &r.device) {
                Some(p) => {
                    let _ = writeln!(w, "{addr}: {p}: route {} {} ({})", r.prefix, r.device, r.origin);
                    Some(p)
                }
                None => {
                    let _ = writeln!(
                        w,
                        "{addr}: refused (EHOSTUNREACH): route {} {} ({}) names a device that is not a netdev",
                        r.prefix,
                        r.device.escape_debug(),
                        r.origin
                    );
                    None
                }
            },
        }
    };
    // Said where mOS would have taken it: no file route matches, or none longer.
    let matched_len = route.map(|i| cfg.routes[i].prefix.len());
    if let Some(r) = left_out.filter(|r| matched_len.is_none_or(|len| r.prefix.len() >= len)) {
        let _ = writeln!(
            w,
            "(the kernel's route {} {} ({}) was left out: {} is not a netdev but another interface of the host)",
            r.prefix,
            r.device.escape_debug(),
            r.origin,
            r.device.escape_debug()
        );
    }
    let status = if port.is_some() {
        match arp.map(|i| &cfg.arp[i]) {
            Some(e) => {
                let _ = writeln!(
                    w,
                    "destination MAC {}: {} {} ({})",
                    mac_text(&e.mac),
                    if addr.is_ipv6() {
                        "neighbour entry"
                    } else {
                        "ARP entry"
                    },
                    e.prefix,
                    e.origin
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "destination MAC: from pinfo->ethh (no {}; without ethh: EHOSTUNREACH)",
                    if addr.is_ipv6() {
                        "neighbour entry"
                    } else {
                        "ARP entry"
                    }
                );
            }
        }
        0
    } else {
        1
    };
    if matches!(cfg.routes.first().map(|r| &r.origin), Some(Origin::Kernel { .. }))
        || cfg.arp.iter().any(|e| matches!(e.origin, Origin::Kernel { .. }))
    {
        let _ = writeln!(
            w,
            "(kernel entries come first: MTCP_SENDPKT_KERNEL_TABLES=0 leaves them out)"
        );
    }
    let _ = out.write_all(w.as_bytes());
    Ok(status)
}
