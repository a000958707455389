//! The library's knobs, read from the environment (zero code change for an existing binary) or
//! given by `mtcp_sendpkt_init`. Every default is documented in the README and the header.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::InitError;
#[cfg(doc)]
use crate::error::SendError;

/// Largest staging batch (frames per `rte_eth_tx_burst`).
pub const MAX_BURST: usize = 512;
/// Most core contexts (one per `mctx->cpu`), as DPDK's `RTE_MAX_LCORE`.
pub const MAX_CORES: usize = 128;
/// Most lanes per core context (`MTCP_SENDPKT_LANES`).
pub const MAX_LANES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `MTCP_SENDPKT_EAL_ARGS`, split on white space.
    pub eal_args: Vec<String>,
    /// `MTCP_SENDPKT_CONF`: mOS config files, `:`-separated.
    pub conf_paths: Vec<PathBuf>,
    /// `MTCP_SENDPKT_CORES`: number of core contexts (default: as the netdev core masks imply, else 1).
    pub cores: Option<usize>,
    /// `MTCP_SENDPKT_LANES` (default 1; 0 when attached to a host's EAL): TX queues of its own,
    /// per core context, for threads that call with an `mctx` another thread owns (a *lane*,
    /// claimed by one such thread at a time; the others hand their frames over to the owner).
    /// Fewer when a port or the mempool cannot hold them.
    pub lanes: Option<usize>,
    /// `MTCP_SENDPKT_BURST` (default 32): frames staged per port before a burst; 1 sends within
    /// the call.
    pub burst: usize,
    /// `MTCP_SENDPKT_FLUSH_US` (default 100): the longest a staged frame waits; a frame after
    /// this long a quiet spell is sent within the call.
    pub flush_interval: Duration,
    /// `MTCP_SENDPKT_TX_WAIT_US` (default 1000): how long a call waits for a full TX queue.
    pub tx_wait: Duration,
    /// `MTCP_SENDPKT_FLUSHER_NICE` (default 19): the flusher thread's nice value.
    pub flusher_nice: libc::c_int,
    /// `MTCP_SENDPKT_MBUFS` (default 8191): mbufs in the library's mempool.
    pub mbufs: u32,
    /// `MTCP_SENDPKT_TX_DESC` (default 1024): descriptors per TX queue.
    pub tx_desc: u16,
    /// `MTCP_SENDPKT_TXQ`: attached to a host's EAL, core context k sends on TX queue
    /// `tx_queue_base + k` of each port (the host set those queues up for the library).
    pub tx_queue_base: Option<u16>,
    /// `MTCP_SENDPKT_MEMPOOL`: attached to a host's EAL, the name of the host's mempool to use
    /// (default: the library creates its own).
    pub mempool_name: Option<String>,
    /// `MTCP_SENDPKT_ERRORS=mos`: the C call returns 0 where mOS did (see [`SendError::mos_returns_zero`]).
    pub mos_errors: bool,
    /// `MTCP_SENDPKT_KERNEL_TABLES` (default 1): take the kernel's ARP entries of `dpdk*`
    /// devices and its routes, before the configuration's, as mOS does; 0 turns it off.
    pub kernel_tables: bool,
    /// `MTCP_SENDPKT_TELEMETRY` (default 0): 1 starts DPDK's telemetry socket (the library's
    /// EAL then gets no `--no-telemetry`), where `/mtcp_sendpkt/stats` and
    /// `/mtcp_sendpkt/config` answer.
    pub telemetry: bool,
    /// `MTCP_SENDPKT_PCAPNG`: a pcapng file the tap writes every frame a TX queue takes to,
    /// from start to shutdown (default: no tap).
    pub pcapng: Option<PathBuf>,
    /// `MTCP_SENDPKT_TCP_FLAGS=packet`: `mtcp_sendpkt`'s frames carry the flags byte of
    /// `pinfo->tcph`, as the mmTLS fork of mOS sends them; `ack` (the default): ACK only, as
    /// upstream mOS.
    pub tcp_flags_from_packet: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            eal_args: Vec::new(),
            conf_paths: Vec::new(),
            cores: None,
            lanes: None,
            burst: 32,
            flush_interval: Duration::from_micros(100),
            tx_wait: Duration::from_micros(1000),
            flusher_nice: 19,
            mbufs: 8191,
            tx_desc: 1024,
            tx_queue_base: None,
            mempool_name: None,
            mos_errors: false,
            kernel_tables: true,
            telemetry: false,
            pcapng: None,
            tcp_flags_from_packet: false,
        }
    }
}

impl Settings {
    /// Reads every `MTCP_SENDPKT_*` variable; unset ones keep their defaults.
    pub fn from_env() -> Result<Self, InitError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`Settings::from_env`], with the variables looked up through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let mut s = Settings::default();
        if let Some(v) = var("MTCP_SENDPKT_EAL_ARGS") {
            s.eal_args = v.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(v) = var("MTCP_SENDPKT_CONF") {
            s.conf_paths = v
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect();
        }
        let num = |name: &'static str, lo: u64, hi: u64| -> Result<Option<u64>, InitError> {
            let Some(v) = var(name) else { return Ok(None) };
            match v.trim().parse::<u64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
                _ => Err(InitError::Setting {
                    var: name,
                    value: v,
                    reason: format!("expected a whole number from {lo} to {hi}"),
                }),
            }
        };
        // The ranges bound every cast below.
        if let Some(n) = num("MTCP_SENDPKT_CORES", 1, MAX_CORES as u64)? {
            s.cores = Some(n as usize);
        }
        if let Some(n) = num("MTCP_SENDPKT_LANES", 0, MAX_LANES as u64)? {
            s.lanes = Some(n as usize);
        }
        if let Some(n) = num("MTCP_SENDPKT_BURST", 1, MAX_BURST as u64)? {
            s.burst = n as usize;
        }
        if let Some(n) = num("MTCP_SENDPKT_FLUSH_US", 1, 1_000_000)? {
            s.flush_interval = Duration::from_micros(n);
        }
        if let Some(n) = num("MTCP_SENDPKT_TX_WAIT_US", 0, 10_000_000)? {
            s.tx_wait = Duration::from_micros(n);
        }
        if let Some(n) = num("MTCP_SENDPKT_FLUSHER_NICE", 0, 19)? {
            s.flusher_nice = n as libc::c_int;
        }
        if let Some(n) = num("MTCP_SENDPKT_MBUFS", 63, 1 << 24)? {
            s.mbufs = n as u32;
        }
        if let Some(n) = num("MTCP_SENDPKT_TX_DESC", 32, 16384)? {
            s.tx_desc = n as u16;
        }
        if let Some(n) = num("MTCP_SENDPKT_TXQ", 0, 1023)? {
            s.tx_queue_base = Some(n as u16);
        }
        s.mempool_name = var("MTCP_SENDPKT_MEMPOOL").filter(|n| !n.is_empty());
        if let Some(v) = var("MTCP_SENDPKT_ERRORS") {
            s.mos_errors = match v.trim() {
                "mos" => true,
                "report" | "" => false,
                _ => {
                    return Err(InitError::Setting {
                        var: "MTCP_SENDPKT_ERRORS",
                        value: v,
                        reason: "expected 'report' (the default) or 'mos'".into(),
                    })
                }
            };
        }
        if let Some(v) = var("MTCP_SENDPKT_KERNEL_TABLES") {
            s.kernel_tables = match v.trim() {
                "1" | "" => true,
                "0" => false,
                _ => {
                    return Err(InitError::Setting {
                        var: "MTCP_SENDPKT_KERNEL_TABLES",
                        value: v,
                        reason: "expected 1 (the default: read them, as mOS does) or 0".into(),
                    })
                }
            };
        }
        if let Some(v) = var("MTCP_SENDPKT_TCP_FLAGS") {
            s.tcp_flags_from_packet = match v.trim() {
                "ack" | "" => false,
                "packet" => true,
                _ => {
                    return Err(InitError::Setting {
                        var: "MTCP_SENDPKT_TCP_FLAGS",
                        value: v,
                        reason: "expected 'ack' (the default: ACK only, as upstream mOS) or 'packet' \
                                 (pinfo->tcph's flags, as the mmTLS fork)"
                            .into(),
                    })
                }
            };
        }
        s.pcapng = var("MTCP_SENDPKT_PCAPNG")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        if let Some(v) = var("MTCP_SENDPKT_TELEMETRY") {
            s.telemetry = match v.trim() {
                "1" => true,
                "0" | "" => false,
                _ => {
                    return Err(InitError::Setting {
                        var: "MTCP_SENDPKT_TELEMETRY",
                        value: v,
                        reason: "expected 0 (the default: no telemetry socket) or 1".into(),
                    })
                }
            };
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, InitError> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn tcp_flags_are_acks_unless_asked_for() {
        assert!(!with(&[]).unwrap().tcp_flags_from_packet);
        assert!(
            with(&[("MTCP_SENDPKT_TCP_FLAGS", "packet")])
                .unwrap()
                .tcp_flags_from_packet
        );
        assert!(
            !with(&[("MTCP_SENDPKT_TCP_FLAGS", "ack")])
                .unwrap()
                .tcp_flags_from_packet
        );
        assert!(with(&[("MTCP_SENDPKT_TCP_FLAGS", "psh")]).is_err());
    }

    #[test]
    fn telemetry_is_off_unless_asked_for() {
        assert!(!with(&[]).unwrap().telemetry);
        assert!(with(&[("MTCP_SENDPKT_TELEMETRY", "1")]).unwrap().telemetry);
        assert!(!with(&[("MTCP_SENDPKT_TELEMETRY", "0")]).unwrap().telemetry);
        assert!(with(&[("MTCP_SENDPKT_TELEMETRY", "yes")]).is_err());
    }

    #[test]
    fn defaults_batch_32_with_a_100_us_bound() {
        let s = with(&[]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!((s.burst, s.flush_interval), (32, Duration::from_micros(100)));
    }

    #[test]
    fn values_are_read_and_split() {
        let s = with(&[
            ("MTCP_SENDPKT_EAL_ARGS", " --no-huge  -m 512 --vdev net_null0 "),
            ("MTCP_SENDPKT_CONF", "a.conf:b.conf"),
            ("MTCP_SENDPKT_BURST", "32"),
            ("MTCP_SENDPKT_FLUSH_US", "50"),
            ("MTCP_SENDPKT_CORES", "2"),
            ("MTCP_SENDPKT_LANES", "0"),
        ])
        .unwrap();
        assert_eq!(s.lanes, Some(0));
        assert_eq!(s.eal_args, ["--no-huge", "-m", "512", "--vdev", "net_null0"]);
        assert_eq!(s.conf_paths, [PathBuf::from("a.conf"), PathBuf::from("b.conf")]);
        assert_eq!((s.burst, s.cores), (32, Some(2)));
        assert_eq!(s.flush_interval, Duration::from_micros(50));
    }

    #[test]
    fn errors_are_reported_unless_mos_is_asked_for() {
        assert!(!with(&[]).unwrap().mos_errors);
        assert!(with(&[("MTCP_SENDPKT_ERRORS", "mos")]).unwrap().mos_errors);
        assert!(!with(&[("MTCP_SENDPKT_ERRORS", "report")]).unwrap().mos_errors);
    }

    #[test]
    fn kernel_tables_are_read_unless_turned_off() {
        assert!(with(&[]).unwrap().kernel_tables);
        assert!(
            !with(&[("MTCP_SENDPKT_KERNEL_TABLES", "0")])
                .unwrap()
                .kernel_tables
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("MTCP_SENDPKT_ERRORS", "quiet"),
            ("MTCP_SENDPKT_KERNEL_TABLES", "no"),
            ("MTCP_SENDPKT_BURST", "0"),
            ("MTCP_SENDPKT_BURST", "x"),
            ("MTCP_SENDPKT_CORES", "129"),
            ("MTCP_SENDPKT_LANES", "9"),
        ] {
            let e = with(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k), "{e}");
        }
    }
}
