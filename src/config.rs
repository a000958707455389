//! Reading an mOS deployment's configuration: the `netdev`, `arp_table` and `route_table` blocks of
//! a `mos { ... }` file, or mTCP-style `arp.conf` / `route.conf` files (`ARP_ENTRY <n>` /
//! `ROUTES <n>` header, one entry a line). Format: `MOS_COMPAT.md`, "mOS configuration".
//!
//! Where mOS skips a malformed line without a word, this parser fails with file, line and reason.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::route::{ArpTable, Ipv4Prefix, RouteTable};

/// A malformed line: where it is and what is wrong with it.
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

/// One `netdev` line: `dpdkN <core mask>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    pub name: String,
    pub port: u16,
    pub core_mask: u64,
}

/// What the library takes from an mOS configuration.
#[derive(Debug, Clone, Default)]
pub struct MosConfig {
    pub netdevs: Vec<NetDev>,
    pub arp: ArpTable,
    pub routes: RouteTable,
    /// `nic_forward_table` pairs (bump-in-the-wire): validated, not used for sending, since a
    /// frame's port comes from the route table.
    pub forward: Vec<(u16, u16)>,
    /// Where each route and forward entry names a device, to check it against `netdev` once the
    /// whole file is read (the blocks may come in any order).
    device_refs: Vec<(u16, PathBuf, usize)>,
}

impl MosConfig {
    /// Reads and merges the given files (each an mOS `mos { }` file, an `arp.conf` or a `route.conf`).
    pub fn load(paths: &[PathBuf]) -> Result<Self, crate::error::InitError> {
        let mut cfg = MosConfig::default();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| crate::error::InitError::Io {
                path: path.clone(),
                source,
            })?;
            cfg.parse_into(path, &text)?;
        }
        cfg.check_devices()?;
        Ok(cfg)
    }

    /// Parses one file's text into `self`.
    pub fn parse_into(&mut self, file: &Path, text: &str) -> Result<(), ConfigError> {
        let lines: Vec<(usize, Vec<&str>)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, tokens(l)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        let err = |line: usize, reason: String| ConfigError {
            file: file.to_owned(),
            line,
            reason,
        };
        let mut refs = Vec::new();
        match lines.first().map(|(_, t)| t[0]) {
            Some("ARP_ENTRY") => self.parse_flat(&lines, Table::Arp, &mut refs, &err),
            Some("ROUTES") => self.parse_flat(&lines, Table::Route, &mut refs, &err),
            Some(_) => self.parse_blocks(&lines, &mut refs, &err),
            None => Err(err(0, "empty configuration file".into())),
        }?;
        self.device_refs
            .extend(refs.into_iter().map(|(port, line)| (port, file.to_owned(), line)));
        Ok(())
    }

    /// Checks, once every file is read, that routes and forward pairs name `netdev` devices.
    pub fn check_devices(&self) -> Result<(), ConfigError> {
        if self.netdevs.is_empty() {
            return Ok(());
        }
        for (port, file, line) in &self.device_refs {
            if !self.netdevs.iter().any(|d| d.port == *port) {
                return Err(ConfigError {
                    file: file.clone(),
                    line: *line,
                    reason: format!("dpdk{port} is not in the netdev block"),
                });
            }
        }
        Ok(())
    }

    fn parse_flat(
        &mut self,
        lines: &[(usize, Vec<&str>)],
        table: Table,
        refs: &mut Vec<(u16, usize)>,
        err: &dyn Fn(usize, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let (hline, header) = &lines[0];
        let count: usize = match header.as_slice() {
            [_, n] => n
                .parse()
                .map_err(|_| err(*hline, format!("bad entry count {n:?}")))?,
            _ => return Err(err(*hline, format!("expected `{} <count>`", header[0]))),
        };
        let entries = &lines[1..];
        if entries.len() != count {
            return Err(err(
                *hline,
                format!("header says {count} entries, file has {}", entries.len()),
            ));
        }
        for (line, toks) in entries {
            if let Some(port) = self.entry(table, toks).map_err(|r| err(*line, r))? {
                refs.push((port, *line));
            }
        }
        Ok(())
    }

    fn parse_blocks(
        &mut self,
        lines: &[(usize, Vec<&str>)],
        refs: &mut Vec<(u16, usize)>,
        err: &dyn Fn(usize, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        // Block names from the outermost in; entries are interpreted by the innermost.
        let mut stack: Vec<String> = Vec::new();
        let mut saw_mos = false;
        for (line, toks) in lines {
            let line = *line;
            let mut words: Vec<&str> = Vec::new();
            for &tok in toks {
                match tok {
                    "{" => {
                        let [name] = words.as_slice() else {
                            return Err(err(line, "expected one block name before `{`".into()));
                        };
                        if stack.is_empty() {
                            if *name != "mos" {
                                return Err(err(line, format!("expected `mos {{`, found `{name} {{`")));
                            }
                            saw_mos = true;
                        }
                        stack.push((*name).to_owned());
                        words.clear();
                    }
                    "}" => {
                        refs.extend(
                            self.block_entry(&stack, &words)
                                .map_err(|r| err(line, r))?
                                .into_iter()
                                .map(|p| (p, line)),
                        );
                        words.clear();
                        if stack.pop().is_none() {
                            return Err(err(line, "`}` without a matching `{`".into()));
                        }
                    }
                    w => words.push(w),
                }
            }
            refs.extend(
                self.block_entry(&stack, &words)
                    .map_err(|r| err(line, r))?
                    .into_iter()
                    .map(|p| (p, line)),
            );
        }
        if let Some(open) = stack.last() {
            return Err(err(
                lines.last().map_or(0, |l| l.0),
                format!("block `{open}` is not closed"),
            ));
        }
        if !saw_mos {
            return Err(err(0, "no `mos { ... }` block".into()));
        }
        Ok(())
    }

    /// Takes one entry of the innermost block; returns the ports it names, to check against
    /// `netdev` later.
    fn block_entry(&mut self, stack: &[String], words: &[&str]) -> Result<Vec<u16>, String> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let path: Vec<&str> = stack.iter().map(String::as_str).collect();
        match path.as_slice() {
            [] => Err(format!("`{}` outside the `mos {{ }}` block", words.join(" "))),
            ["mos"] => match words {
                // Settings of mOS that do not concern sending (num_cores, nb_mem_channels, ...).
                [_, "=", _, ..] => Ok(Vec::new()),
                _ => Err(format!(
                    "expected `key = value` or `name {{`, found `{}`",
                    words.join(" ")
                )),
            },
            ["mos", "netdev"] => self.netdev(words).map(|()| Vec::new()),
            ["mos", "arp_table" | "route_table"] => {
                let table = if path[1] == "arp_table" {
                    Table::Arp
                } else {
                    Table::Route
                };
                Ok(self.entry(table, words)?.into_iter().collect())
            }
            ["mos", "nic_forward_table"] => match words {
                [a, b] => {
                    let pair = (port_of(a)?, port_of(b)?);
                    self.forward.push(pair);
                    Ok(vec![pair.0, pair.1])
                }
                _ => Err(format!(
                    "expected `<device> <device>`, found `{}`",
                    words.join(" ")
                )),
            },
            // Blocks of mOS we do not use: their content is not ours to judge.
            _ => Ok(Vec::new()),
        }
    }

    fn netdev(&mut self, words: &[&str]) -> Result<(), String> {
        let [name, mask] = words else {
            return Err(format!(
                "expected `<device> <core mask>`, found `{}`",
                words.join(" ")
            ));
        };
        let port = port_of(name)?;
        let hex = mask
            .strip_prefix("0x")
            .or_else(|| mask.strip_prefix("0X"))
            .unwrap_or(mask);
        let core_mask = u64::from_str_radix(hex, 16)
            .map_err(|_| format!("core mask {mask:?} is not a hexadecimal number"))?;
        if core_mask == 0 {
            return Err(format!("core mask of {name} is 0: no core would send on it"));
        }
        if self.netdevs.iter().any(|d| d.port == port) {
            return Err(format!("device {name} listed twice"));
        }
        self.netdevs.push(NetDev {
            name: (*name).to_owned(),
            port,
            core_mask,
        });
        Ok(())
    }

    /// Adds an ARP or route entry; returns the port a route names.
    fn entry(&mut self, table: Table, words: &[&str]) -> Result<Option<u16>, String> {
        let [prefix, target] = words else {
            let want = match table {
                Table::Arp => "<ipv4>/<len> <mac>",
                Table::Route => "<ipv4>/<len> <device>",
            };
            return Err(format!("expected `{want}`, found `{}`", words.join(" ")));
        };
        let prefix = parse_prefix(prefix)?;
        match table {
            Table::Arp => {
                self.arp.insert(prefix, parse_mac(target)?);
                Ok(None)
            }
            Table::Route => {
                let port = port_of(target)?;
                self.routes.insert(prefix, port);
                Ok(Some(port))
            }
        }
    }

    /// Number of core contexts the netdev core masks ask for (highest core bit + 1), if any.
    pub fn cores_from_masks(&self) -> Option<usize> {
        self.netdevs
            .iter()
            .map(|d| 64 - d.core_mask.leading_zeros() as usize)
            .max()
    }
}

#[derive(Clone, Copy)]
enum Table {
    Arp,
    Route,
}

/// Splits a line into words and braces, dropping a `#` comment.
fn tokens(line: &str) -> Vec<&str> {
    let line = line.split('#').next().unwrap_or("");
    let mut out = Vec::new();
    for word in line.split_whitespace() {
        let mut rest = word;
        while let Some(i) = rest.find(['{', '}']) {
            if i > 0 {
                out.push(&rest[..i]);
            }
            out.push(&rest[i..i + 1]);
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// `dpdkN` → DPDK port N.
fn port_of(device: &str) -> Result<u16, String> {
    device
        .strip_prefix("dpdk")
        .and_then(|n| n.parse::<u16>().ok())
        .filter(|n| usize::from(*n) < dpdk_sys::RTE_MAX_ETHPORTS as usize)
        .ok_or_else(|| format!("device {device:?} is not `dpdkN` with N a DPDK port number"))
}

fn parse_prefix(s: &str) -> Result<Ipv4Prefix, String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not <ipv4>/<len>"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("prefix length {len:?} is not a number"))?;
    Ipv4Prefix::new(addr, len).ok_or_else(|| format!("prefix length {len} is over 32"))
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        let part = parts.next().filter(|p| p.len() == 2);
        *byte = part
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("{s:?} is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
    }
    if parts.next().is_some() {
        return Err(format!("{s:?} is not a MAC address (xx:xx:xx:xx:xx:xx)"));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MosConfig, ConfigError> {
        let mut c = MosConfig::default();
        c.parse_into(Path::new("t.conf"), text).map(|()| c)
    }
    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    const SAMPLE: &str = "\
# an mOS deployment
mos {
\tnum_cores = 2          # ignored setting
\tnb_mem_channels = 4
\tnetdev {
\t\tdpdk0 0x0001
\t\tdpdk1 0x0002
\t}
\tarp_table {
\t\t10.0.0.10/32 90:e2:ba:7c:1f:a4
\t\t10.0.1.0/24  90:e2:ba:7c:1f:a5
\t}
\troute_table {
\t\t10.0.0.0/24 dpdk0
\t\t10.0.1.0/24 dpdk1
\t}
\tnic_forward_table {
\t\tdpdk0 dpdk1
\t}
\tmos_log { whatever goes here }
}
";

    #[test]
    fn reads_a_whole_mos_conf() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(c.netdevs.len(), 2);
        assert_eq!(
            c.netdevs[1],
            NetDev {
                name: "dpdk1".into(),
                port: 1,
                core_mask: 2
            }
        );
        assert_eq!(c.cores_from_masks(), Some(2));
        assert_eq!(
            c.arp.lookup(ip("10.0.0.10")),
            Some(&[0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4])
        );
        assert_eq!(
            c.arp.lookup(ip("10.0.1.200")),
            Some(&[0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa5])
        );
        assert_eq!(c.arp.lookup(ip("10.0.0.11")), None);
        assert_eq!(c.routes.lookup(ip("10.0.0.77")), Some(&0));
        assert_eq!(c.routes.lookup(ip("10.0.1.77")), Some(&1));
        assert_eq!(c.forward, vec![(0, 1)]);
    }

    #[test]
    fn malformed_lines_name_their_line_and_reason() {
        let cases = [
            ("mos {\n netdev {\n dpdk0 0xzz\n }\n}\n", 3, "hexadecimal"),
            ("mos {\n netdev {\n eth0 0x1\n }\n}\n", 3, "dpdkN"),
            (
                "mos {\n arp_table {\n 10.0.0.1/33 90:e2:ba:7c:1f:a4\n }\n}\n",
                3,
                "over 32",
            ),
            (
                "mos {\n arp_table {\n 10.0.0.1/32 90:e2:ba:7c:1f\n }\n}\n",
                3,
                "MAC",
            ),
            (
                "mos {\n arp_table {\n 10.0.0.300/32 90:e2:ba:7c:1f:a4\n }\n}\n",
                3,
                "IPv4",
            ),
            ("mos {\n route_table {\n 10.0.0.0/24\n }\n}\n", 3, "expected"),
            (
                "mos {\n route_table {\n 10.0.0.0 dpdk0\n }\n}\n",
                3,
                "<ipv4>/<len>",
            ),
            ("mos {\n netdev {\n dpdk0 0x1\n }\n", 4, "not closed"),
            ("mos {\n}\n}\n", 3, "without a matching"),
            ("mos {\n stray words\n}\n", 2, "key = value"),
            ("netdev {\n}\n", 1, "expected `mos {`"),
            ("mos {\n netdev {\n dpdk0 0x0\n }\n}\n", 3, "core mask"),
            ("mos {\n netdev {\n dpdk0 0x1\n dpdk0 0x2\n }\n}\n", 4, "twice"),
        ];
        for (text, line, needle) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(needle), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("t.conf:{line}: ")), "{e}");
        }
    }

    #[test]
    fn reads_mtcp_style_arp_and_route_files() {
        let mut c = MosConfig::default();
        c.parse_into(
            Path::new("arp.conf"),
            "ARP_ENTRY 2\n10.0.0.10/32 90:e2:ba:7c:1f:a4\n10.0.1.0/24 90:e2:ba:7c:1f:a5\n",
        )
        .unwrap();
        c.parse_into(Path::new("route.conf"), "# routes\nROUTES 1\n10.0.0.0/8 dpdk0\n")
            .unwrap();
        assert_eq!(c.arp.len(), 2);
        assert_eq!(c.routes.lookup(ip("10.200.0.1")), Some(&0));
        let e = MosConfig::default()
            .parse_into(Path::new("route.conf"), "ROUTES 2\n10.0.0.0/8 dpdk0\n")
            .unwrap_err();
        assert_eq!((e.line, e.reason.contains("header says 2")), (1, true));
    }

    #[test]
    fn routes_and_forward_pairs_must_name_netdev_devices() {
        let text = "mos {\n route_table {\n 10.0.0.0/8 dpdk0\n 10.1.0.0/16 dpdk3\n }\n netdev {\n dpdk0 0x1\n }\n}\n";
        let e = parse(text).unwrap().check_devices().unwrap_err();
        assert_eq!(
            (e.line, e.reason.as_str()),
            (4, "dpdk3 is not in the netdev block")
        );
        let text =
            "mos {\n netdev {\n dpdk0 0x1\n dpdk1 0x1\n }\n nic_forward_table {\n dpdk0 dpdk2\n }\n}\n";
        assert_eq!(parse(text).unwrap().check_devices().unwrap_err().line, 7);
        // Without a netdev block every port is used: nothing to check against.
        assert!(parse("mos {\n route_table {\n 10.0.0.0/8 dpdk5\n }\n}\n")
            .unwrap()
            .check_devices()
            .is_ok());
        // Across files: a route.conf checked against the netdevs of a mos.conf.
        let mut c = parse("mos {\n netdev {\n dpdk0 0x1\n }\n}\n").unwrap();
        c.parse_into(Path::new("route.conf"), "ROUTES 1\n10.0.0.0/8 dpdk1\n")
            .unwrap();
        let e = c.check_devices().unwrap_err();
        assert_eq!((e.file.as_path(), e.line), (Path::new("route.conf"), 2));
    }

    #[test]
    fn braces_may_touch_words() {
        let c = parse("mos{\nnetdev{\ndpdk0 0x3}\n}").unwrap();
        assert_eq!(c.netdevs[0].core_mask, 3);
        assert_eq!(c.cores_from_masks(), Some(2));
    }
}
