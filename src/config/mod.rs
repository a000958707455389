//! An mOS deployment's configuration as mOS reads it: its `mos.conf` (any of the files mOS's
//! `setup.sh` writes, `application` blocks and all), the kernel's ARP and route tables, and
//! mTCP-style `arp.conf` / `route.conf` files (`ARP_ENTRY <n>` / `ROUTES <n>`, one entry a line).
//!
//! mOS skips a line it cannot read without a word; so does this module, with a warning naming the
//! line ([`MosConfig::warnings`]). What mOS refuses (or crashes on) is an error naming the line.
//! Every entry keeps where it came from ([`Origin`]), for `mtcp-sendpkt check`.

mod cscan;
pub(crate) mod kernel;
mod mos_file;
pub mod netdev;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::nic::PortIdentity;
use crate::route::{Arp6Table, ArpTable, IpPrefix, Ipv6Prefix, Prefix, PrefixTable};
use netdev::Finder;

/// A configuration mOS refuses: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line number; 0 when the problem is the file as a whole.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Why [`MosConfig::load`] failed: a file it could not read, or a configuration mOS refuses.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Refused(#[from] ConfigError),
}

/// A line skipped (or read in a way its writer may not expect), as mOS would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.text)
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Kernel { path: &'static str, line: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Kernel { path, line } => write!(f, "kernel ({path}:{line})"),
        }
    }
}

/// A device of the `netdev` block: a name that finds a DPDK port ([`netdev::Finder`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    pub name: String,
    pub core_mask: u64,
    pub origin: Origin,
    /// How its port is found (a kernel device's MAC, `dpdkN`, a DPDK device name).
    pub finder: Finder,
    /// Its DPDK port, once [`MosConfig::resolve`] found it among the ports DPDK has.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpEntry {
    pub prefix: IpPrefix,
    pub mac: [u8; 6],
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub prefix: IpPrefix,
    /// The device as written (a `netdev` name; the kernel's interface name).
    pub device: String,
    pub origin: Origin,
}

/// What the library takes from an mOS deployment, in mOS's order: kernel entries first, then the
/// files' entries in the order read.
#[derive(Debug, Clone, Default)]
pub struct MosConfig {
    /// The `netdev` devices that name DPDK ports; empty without a `netdev` block (every DPDK
    /// port is then used).
    pub netdevs: Vec<NetDev>,
    /// Whether a `netdev` block was read (routes then name its devices).
    pub has_netdev: bool,
    pub arp: Vec<ArpEntry>,
    pub routes: Vec<RouteEntry>,
    /// `nic_forward_table` pairs (bump-in-the-wire): read, not used for sending (mOS uses them
    /// for forwarded frames, not for `mtcp_sendpkt`).
    pub forward: Vec<(String, String, Origin)>,
    /// OR of every netdev core mask read.
    pub cpu_mask: u64,
    pub warnings: Vec<Warning>,
    /// The kernel's routes left out: their device is not a netdev, so they belong to the host's
    /// other interfaces (its management interface's default route, say). mOS takes them and
    /// sends their frames out of port 0 by accident; here they never shadow the file's routes
    /// or a netdev's kernel route.
    pub left_out: Vec<RouteEntry>,
    /// How many of `arp` / `routes` came from the kernel (they come first).
    kernel_arp: usize,
    kernel_routes: usize,
}

impl MosConfig {
    /// Reads the files (each an mOS configuration, an `arp.conf` or a `route.conf`) and, with
    /// `kernel_tables`, the kernel's ARP and route tables, as mOS does at start.
    pub fn load(paths: &[PathBuf], kernel_tables: bool) -> Result<Self, LoadError> {
        let mut cfg = MosConfig::default();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            cfg.parse_into(path, &String::from_utf8_lossy(&bytes))?;
        }
        // Before the kernel's tables: its entries on a netdev's kernel device are taken.
        cfg.find_netdevs(netdev::kernel_mac);
        if kernel_tables {
            let read = |path: &'static str, cfg: &mut MosConfig| match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    cfg.warnings.push(Warning {
                        file: path.into(),
                        line: 0,
                        text: format!("cannot read the kernel's table ({e}): nothing taken from it"),
                    });
                    String::new()
                }
            };
            let arp = read(kernel::ARP_PATH, &mut cfg);
            let routes = read(kernel::ROUTE_PATH, &mut cfg);
            cfg.seed_kernel(&arp, &routes);
            // IPv6 (our extension): a kernel without IPv6 has no such file, and no neighbours.
            let routes6 = match std::fs::read_to_string(kernel::ROUTE6_PATH) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                _ => read(kernel::ROUTE6_PATH, &mut cfg),
            };
            let take = cfg.kernel_devices_taken();
            let neighbours = kernel::read_neighbours6(&take).unwrap_or_else(|e| {
                cfg.warnings.push(Warning {
                    file: kernel::NEIGH6_SOURCE.into(),
                    line: 0,
                    text: format!("cannot dump the kernel's IPv6 neighbours ({e}): nothing taken"),
                });
                Default::default()
            });
            cfg.seed_kernel6(&routes6, neighbours);
        }
        cfg.check_devices();
        Ok(cfg)
    }

    /// Parses one file's text into `self`.
    pub fn parse_into(&mut self, file: &Path, text: &str) -> Result<(), ConfigError> {
        let first_word = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .find_map(|l| l.split_whitespace().next());
        match first_word {
            Some(w @ ("ARP_ENTRY" | "ROUTES")) => self.parse_flat(file, text, w == "ARP_ENTRY"),
            Some(_) => self.parse_mos(file, text),
            None => Err(ConfigError {
                file: file.to_owned(),
                line: 0,
                reason: "empty configuration file".into(),
            }),
        }
    }

    fn parse_mos(&mut self, file: &Path, text: &str) -> Result<(), ConfigError> {
        let err = |line: usize, reason: String| ConfigError {
            file: file.to_owned(),
            line,
            reason,
        };
        let p = mos_file::parse(text.as_bytes()).map_err(|(line, reason)| err(line, reason))?;
        let at = |line| Origin::File {
            path: file.to_owned(),
            line,
        };
        let mut warn = |line: usize, text: String| {
            self.warnings.push(Warning {
                file: file.to_owned(),
                line,
                text,
            })
        };
        for (line, text) in p.warnings {
            warn(line, text);
        }
        let Some(mos_line) = p.mos_line else {
            return Err(err(0, "no `mos { ... }` block: not an mOS configuration".into()));
        };
        for app in &p.apps {
            if app.run.is_none() {
                return Err(err(
                    app.line,
                    "this `application` block has no `run = <program ...>`: mOS refuses to start".into(),
                ));
            }
        }
        for (present, block, meaning) in [
            (p.has_netdev, "netdev", "every DPDK port is used"),
            (
                p.has_arp_table,
                "arp_table",
                "only the kernel's ARP entries are used",
            ),
            (
                p.has_route_table,
                "route_table",
                "only the kernel's routes are used",
            ),
        ] {
            if !present {
                warn(
                    mos_line,
                    format!("`mos` has no `{block}` block (mOS crashes without one): {meaning}"),
                );
            }
        }
        self.cpu_mask |= p.cpu_mask;
        self.has_netdev |= p.has_netdev;
        for (line, name, core_mask) in p.netdevs {
            if self.netdevs.iter().any(|d| d.name == name) {
                warn(
                    line,
                    format!("{name} is already a netdev of an earlier file: ignored"),
                );
                continue;
            }
            self.netdevs.push(NetDev {
                // Without the kernel's devices yet: `load` looks them up (`find_netdevs`).
                finder: Finder::of(&name, |_| None),
                name,
                core_mask,
                origin: at(line),
                port: None,
            });
        }
        self.arp
            .extend(p.arp.into_iter().map(|(line, prefix, mac)| ArpEntry {
                prefix,
                mac,
                origin: at(line),
            }));
        self.routes
            .extend(p.routes.into_iter().map(|(line, prefix, device)| RouteEntry {
                prefix,
                device,
                origin: at(line),
            }));
        self.forward
            .extend(p.forward.into_iter().map(|(line, a, b)| (a, b, at(line))));
        Ok(())
    }

    /// An mTCP-style `arp.conf` or `route.conf`: a count header, then one entry a line.
    fn parse_flat(&mut self, file: &Path, text: &str, arp: bool) -> Result<(), ConfigError> {
        let lines: Vec<(usize, &str)> = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("")))
            .filter(|(_, l)| !l.trim().is_empty())
            .collect();
        let err = |line: usize, reason: String| ConfigError {
            file: file.to_owned(),
            line,
            reason,
        };
        let (hline, header) = lines[0];
        let words: Vec<&str> = header.split_whitespace().collect();
        let count: usize = match words.as_slice() {
            [_, n] => n
                .parse()
                .map_err(|_| err(hline, format!("bad entry count {n:?}")))?,
            _ => return Err(err(hline, format!("expected `{} <count>`", words[0]))),
        };
        let entries = &lines[1..];
        if entries.len() != count {
            return Err(err(
                hline,
                format!("header says {count} entries, file has {}", entries.len()),
            ));
        }
        for &(line, l) in entries {
            let origin = Origin::File {
                path: file.to_owned(),
                line,
            };
            let (parsed, want) = if arp {
                let r = mos_file::arp_entry(l.as_bytes()).map(|(prefix, mac)| {
                    self.arp.push(ArpEntry { prefix, mac, origin });
                });
                (r, "<ip>/<len> <mac>")
            } else {
                let r = mos_file::route_entry(l.as_bytes()).map(|(prefix, device)| {
                    self.routes.push(RouteEntry {
                        prefix,
                        device,
                        origin,
                    });
                });
                (r, "<ip>/<len> <device>")
            };
            if let Err(why) = parsed {
                let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                self.warnings.push(Warning {
                    file: file.to_owned(),
                    line,
                    text: format!("`{}` is not `{want}`{why}: skipped", l.trim()),
                });
            }
        }
        Ok(())
    }

    /// Puts the kernel's entries (the texts of `/proc/net/arp` and `/proc/net/route`) before
    /// the files' entries, as mOS does, leaving out the routes of devices that are not netdevs
    /// ([`Self::left_out`]). Called after the files are read: their `netdev` block decides
    /// which devices are netdevs.
    pub fn seed_kernel(&mut self, arp_text: &str, route_text: &str) {
        let arp = kernel::read_arp(arp_text, &self.kernel_devices_taken());
        let routes = kernel::read_routes(route_text);
        self.put_kernel((kernel::ARP_PATH, arp), (kernel::ROUTE_PATH, routes));
    }

    /// The same for IPv6 (our extension): the text of `/proc/net/ipv6_route` and the neighbours
    /// [`kernel::read_neighbours6`] dumped; after the kernel's IPv4 entries, before the files'.
    pub(crate) fn seed_kernel6(&mut self, route_text: &str, neighbours: kernel::KernelRead<[u8; 6]>) {
        let routes = kernel::read_ipv6_routes(route_text);
        self.put_kernel((kernel::NEIGH6_SOURCE, neighbours), (kernel::ROUTE6_PATH, routes));
    }

    fn put_kernel(
        &mut self,
        (arp_path, arp): (&'static str, kernel::KernelRead<[u8; 6]>),
        (route_path, routes): (&'static str, kernel::KernelRead<String>),
    ) {
        for (path, skipped) in [(arp_path, &arp.skipped), (route_path, &routes.skipped)] {
            for (line, text) in skipped {
                self.warnings.push(Warning {
                    file: path.into(),
                    line: *line,
                    text: format!("{text}: skipped"),
                });
            }
        }
        let origin = |path, line| Origin::Kernel { path, line };
        let at = self.kernel_arp;
        self.kernel_arp += arp.entries.len();
        self.arp.splice(
            at..at,
            arp.entries.into_iter().map(|e| ArpEntry {
                prefix: e.prefix,
                mac: e.value,
                origin: origin(arp_path, e.line),
            }),
        );
        let (taken, left_out): (Vec<RouteEntry>, Vec<RouteEntry>) = routes
            .entries
            .into_iter()
            .map(|e| RouteEntry {
                prefix: e.prefix,
                device: e.value,
                origin: origin(route_path, e.line),
            })
            .partition(|r| self.is_netdev(&r.device));
        self.left_out.extend(left_out);
        let at = self.kernel_routes;
        self.kernel_routes += taken.len();
        self.routes.splice(at..at, taken);
    }

    /// Looks up how each netdev's port will be found, with the kernel's devices as
    /// `kernel_mac` gives them (a device's MAC; [`netdev::kernel_mac`] at start).
    pub fn find_netdevs(&mut self, kernel_mac: impl Fn(&str) -> Option<[u8; 6]>) {
        for d in &mut self.netdevs {
            d.finder = Finder::of(&d.name, &kernel_mac);
        }
    }

    /// The kernel devices whose ARP and IPv6 neighbour entries are taken: those named `dpdk*`
    /// (as mOS), and the netdevs (a netdev found by its kernel name: its neighbours are the
    /// deployment's).
    fn kernel_devices_taken(&self) -> impl Fn(&str) -> bool {
        let names: Vec<String> = self.netdevs.iter().map(|d| d.name.clone()).collect();
        move |device: &str| device.starts_with("dpdk") || names.iter().any(|n| n == device)
    }

    /// Finds each netdev's DPDK port among `ports` (the ports DPDK has, the library's EAL's or
    /// the host's), as mOS finds them. A file route naming a netdev that no port answers stops
    /// the start, as in mOS (`Interface '...' not found`): the error names the device, what was
    /// looked for (its MAC) and the ports found. A netdev no route names and no port answers is
    /// skipped with a warning; one whose port another netdev found first, too.
    pub(crate) fn resolve(&mut self, ports: &[PortIdentity]) -> Result<(), ConfigError> {
        // Why each netdev has no port, if it has none.
        let mut why: Vec<Option<String>> = Vec::with_capacity(self.netdevs.len());
        let mut taken: Vec<u16> = Vec::new();
        for d in &mut self.netdevs {
            d.port = d.finder.find(&d.name, ports);
            why.push(match d.port {
                Some(p) if taken.contains(&p) => {
                    d.port = None;
                    Some(format!("{}: DPDK port {p} is an earlier netdev's", d.name))
                }
                Some(p) => {
                    taken.push(p);
                    None
                }
                None => Some(d.finder.why_not_found(&d.name, ports)),
            });
        }
        for r in &self.routes {
            let Origin::File { path, line } = &r.origin else {
                continue;
            };
            if let Some(Some(reason)) = self
                .netdevs
                .iter()
                .position(|d| d.name == r.device)
                .map(|i| &why[i])
            {
                return Err(ConfigError {
                    file: path.clone(),
                    line: *line,
                    reason: format!("the route {} names the netdev {}: {reason}", r.prefix, r.device),
                });
            }
        }
        for (d, why) in self.netdevs.iter().zip(why) {
            if let (Some(text), Origin::File { path, line }) = (why, &d.origin) {
                self.warnings.push(Warning {
                    file: path.clone(),
                    line: *line,
                    text: format!("{text}; no route names it: skipped"),
                });
            }
        }
        Ok(())
    }

    /// Whether `device` is one of the deployment's netdevs: a name of the `netdev` block, or
    /// without one a `dpdkN` name. The kernel's routes on any other device are left out.
    pub fn is_netdev(&self, device: &str) -> bool {
        if self.has_netdev {
            self.netdevs.iter().any(|d| d.name == device)
        } else {
            dpdk_port(device).is_some()
        }
    }

    /// Warns about the files' routes and forward pairs that name no `netdev` device: mOS keeps
    /// such a route, and frames it matches are not sent (mOS: "No route").
    pub fn check_devices(&mut self) {
        if !self.has_netdev {
            return;
        }
        let mut warnings = Vec::new();
        for r in &self.routes {
            if let (Origin::File { path, line }, false) = (&r.origin, self.is_netdev(&r.device)) {
                let hint = if r.device.ends_with('\r') {
                    " (the line ends in \\r: a CRLF file?)"
                } else {
                    ""
                };
                warnings.push(Warning {
                    file: path.clone(),
                    line: *line,
                    text: format!(
                        "{:?} is not a netdev device{hint}: frames to {} are refused, as mOS drops them",
                        r.device, r.prefix
                    ),
                });
            }
        }
        for (a, b, origin) in &self.forward {
            if let Origin::File { path, line } = origin {
                for d in [a, b] {
                    if !self.is_netdev(d) {
                        warnings.push(Warning {
                            file: path.clone(),
                            line: *line,
                            text: format!("{d:?} is not a netdev device: the pair is not used"),
                        });
                    }
                }
            }
        }
        self.warnings.extend(warnings);
    }

    /// The DPDK port of a `netdev` device name, once found ([`Self::resolve`]).
    fn netdev_port(&self, device: &str) -> Option<u16> {
        self.netdevs
            .iter()
            .find(|d| d.name == device)
            .and_then(|d| d.port)
    }

    /// The DPDK port a route's device sends on, among `ports` (the ports in use): a `netdev`
    /// device's port; without a `netdev` block, `dpdkN`'s port N. `None`: frames it matches are
    /// refused.
    pub fn route_port(&self, device: &str, ports: &[u16]) -> Option<u16> {
        let port = if self.has_netdev {
            self.netdev_port(device)?
        } else {
            dpdk_port(device)?
        };
        ports.contains(&port).then_some(port)
    }

    /// The ports the `netdev` block's devices found ([`Self::resolve`]), in its order, or `None`
    /// (no block: every DPDK port).
    pub fn ports(&self) -> Option<Vec<u16>> {
        self.has_netdev
            .then(|| self.netdevs.iter().filter_map(|d| d.port).collect())
    }

    /// Number of core contexts the netdev core masks ask for: as in mOS, the number of bits set
    /// across all of them (mask 0x0A: two, cores 0 and 1).
    pub fn cores_from_masks(&self) -> Option<usize> {
        (self.cpu_mask != 0).then(|| self.cpu_mask.count_ones() as usize)
    }

    /// The IPv4 ARP table, in mOS's order.
    pub fn arp_table(&self) -> ArpTable {
        self.arp_of(IpPrefix::v4)
    }

    /// The IPv6 neighbour table (IPv6 entries of `arp_table` blocks and the kernel's).
    pub fn arp6_table(&self) -> Arp6Table {
        self.arp_of(IpPrefix::v6)
    }

    /// The IPv4 route table over `ports` (destination → index into `ports`, `None`: refused),
    /// or `None` without any IPv4 route (every IPv4 frame then goes to the first port).
    pub fn route_table(&self, ports: &[u16]) -> Option<PrefixTable<Option<usize>>> {
        self.routes_of(ports, IpPrefix::v4)
    }

    /// The IPv6 route table, as [`Self::route_table`]: `None` without any IPv6 route (IPv6
    /// frames then go to the first port).
    pub fn route6_table(&self, ports: &[u16]) -> Option<PrefixTable<Option<usize>, Ipv6Prefix>> {
        self.routes_of(ports, IpPrefix::v6)
    }

    fn arp_of<P: Prefix>(&self, family: fn(&IpPrefix) -> Option<P>) -> PrefixTable<[u8; 6], P> {
        let mut t = PrefixTable::default();
        for e in &self.arp {
            if let Some(p) = family(&e.prefix) {
                t.insert(p, e.mac);
            }
        }
        t
    }

    fn routes_of<P: Prefix>(
        &self,
        ports: &[u16],
        family: fn(&IpPrefix) -> Option<P>,
    ) -> Option<PrefixTable<Option<usize>, P>> {
        let mut t = PrefixTable::default();
        let mut any = false;
        for r in &self.routes {
            if let Some(p) = family(&r.prefix) {
                let idx = self
                    .route_port(&r.device, ports)
                    .and_then(|p| ports.iter().position(|&q| q == p));
                t.insert(p, idx);
                any = true;
            }
        }
        any.then_some(t)
    }
}

/// `dpdkN` → DPDK port N.
fn dpdk_port(device: &str) -> Option<u16> {
    device
        .strip_prefix("dpdk")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u16>().ok())
        .filter(|n| usize::from(*n) < crate::nic::MAX_PORTS)
}

#[cfg(test)]
mod tests;
