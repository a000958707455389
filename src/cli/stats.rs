//! `mtcp-sendpkt stats`: a live view of a running process's counters, read from its DPDK
//! telemetry socket (`/mtcp_sendpkt/stats`), as rates per core context every interval.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::telemetry::STATS;

/// What `stats` was asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    pub file_prefix: String,
    pub interval: Duration,
    /// Screens to print; `None`: until the process ends or the tool is stopped.
    pub count: Option<u64>,
    pub json: bool,
}

impl Options {
    /// Parses `[--file-prefix P] [--interval S] [--count N] [--json]`.
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            file_prefix: "rte".into(),
            interval: Duration::from_secs(1),
            count: None,
            json: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (a.as_str(), None),
            };
            let mut value = |what: &str| {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{flag} needs {what}"))
            };
            match flag {
                "--file-prefix" => o.file_prefix = value("a file prefix")?,
                "--interval" => {
                    let v = value("seconds")?;
                    let s: f64 = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| (0.01..=3600.0).contains(s))
                        .ok_or_else(|| format!("--interval {v:?}: expected seconds from 0.01 to 3600"))?;
                    o.interval = Duration::from_secs_f64(s);
                }
                "--count" => {
                    let v = value("a number")?;
                    o.count = Some(
                        v.parse()
                            .ok()
                            .filter(|&n: &u64| n > 0)
                            .ok_or_else(|| format!("--count {v:?}: expected a positive number"))?,
                    );
                }
                "--json" if inline.is_none() => o.json = true,
                other => return Err(format!("stats: unknown argument {other:?}")),
            }
        }
        Ok(o)
    }
}

/// Where DPDK puts the telemetry socket of a process with `file_prefix` (its runtime directory).
pub(crate) fn socket_path(file_prefix: &str) -> PathBuf {
    // SAFETY: plain query.
    let base = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/run/dpdk")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("dpdk"))
            .unwrap_or_else(|| PathBuf::from("/tmp/dpdk"))
    };
    base.join(file_prefix).join("dpdk_telemetry.v2")
}

/// A connection to a DPDK telemetry socket (`SOCK_SEQPACKET`, one JSON reply per request).
pub(crate) struct Telemetry {
    fd: std::os::fd::OwnedFd,
    /// The greeting: `pid`, `version`, `max_output_len`.
    pub info: Value,
    max_len: usize,
}

/// How long a reply may take.
const REPLY_DEADLINE: Duration = Duration::from_secs(5);

impl Telemetry {
    pub(crate) fn connect(path: &std::path::Path) -> std::io::Result<Self> {
        use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: sockaddr_un is plain old data; all zeroes is valid.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        if bytes.len() >= addr.sun_path.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "socket path too long",
            ));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: plain socket creation.
        let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        crate::sync::set_receive_deadline(fd.as_fd(), REPLY_DEADLINE)?;
        // SAFETY: `addr` is a filled sockaddr_un of the size given.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut t = Telemetry {
            fd,
            info: Value::Null,
            max_len: 16384,
        };
        t.info = t.receive()?;
        if let Some(n) = t.info.get("max_output_len").and_then(Value::as_u64) {
            t.max_len = (n as usize).clamp(1024, 1 << 20);
        }
        Ok(t)
    }

    fn receive(&self) -> std::io::Result<Value> {
        use std::os::fd::AsRawFd;
        let mut buf = vec![0u8; self.max_len];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the process closed its telemetry socket",
            ));
        }
        serde_json::from_slice(&buf[..n as usize])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Sends `cmd` and returns its answer (the value under `cmd` in the reply).
    pub(crate) fn query(&self, cmd: &str) -> std::io::Result<Value> {
        use std::os::fd::AsRawFd;
        // SAFETY: `cmd` is readable for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), cmd.as_ptr().cast(), cmd.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut reply = self.receive()?;
        let key = cmd.split(',').next().unwrap_or(cmd);
        match reply.get_mut(key).map(Value::take) {
            Some(v) if !v.is_null() => Ok(v),
            _ => Err(std::io::Error::other(format!(
                "{cmd}: no answer (is libmtcp_sendpkt loaded in that process?)"
            ))),
        }
    }
}

/// The counters `stats` shows, per core context: (name, array) from `per_core/<name>`.
const RATES: [(&str, &str); 5] = [
    ("accepted", "accepted/s"),
    ("transmitted", "transmitted/s"),
    ("rejected", "rejected/s"),
    ("resets_sent", "resets/s"),
    ("raw_frames_sent", "raw/s"),
];

fn per_core(v: &Value, name: &str) -> Vec<u64> {
    v.get(format!("per_core/{name}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| x.as_u64().unwrap_or(0)).collect())
        .unwrap_or_default()
}

/// Errno names the stats carry (`rejected/<ERRNO>`).
fn errnos(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("per_core/rejected/"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// One screen: the rates between two answers `dt` apart, as JSON.
pub(crate) fn rates(before: &Value, after: &Value, dt: Duration) -> Value {
    let secs = dt.as_secs_f64().max(1e-9);
    let rate = |name: &str| -> Vec<f64> {
        let (a, b) = (per_core(before, name), per_core(after, name));
        b.iter()
            .enumerate()
            .map(|(i, &x)| x.saturating_sub(a.get(i).copied().unwrap_or(0)) as f64 / secs)
            .collect()
    };
    let cores = per_core(after, "accepted").len();
    let pending = per_core(after, "pending");
    let errnos = errnos(after);
    let by_errno: Vec<(String, Vec<f64>)> = errnos
        .iter()
        .map(|e| (e.clone(), rate(&format!("rejected/{e}"))))
        .collect();
    let columns: Vec<(&str, Vec<f64>)> = RATES.iter().map(|(n, _)| (*n, rate(n))).collect();
    let mut list = Vec::new();
    for k in 0..cores {
        let mut c = Map::new();
        c.insert("core".into(), json!(k));
        for (name, v) in &columns {
            c.insert(format!("{name}_per_s"), json!(v[k]));
        }
        c.insert("pending".into(), json!(pending.get(k).copied().unwrap_or(0)));
        let errors: Map<String, Value> = by_errno
            .iter()
            .filter(|(_, v)| v[k] > 0.0)
            .map(|(e, v)| (e.clone(), json!(v[k])))
            .collect();
        c.insert("errors_per_s".into(), Value::Object(errors));
        list.push(Value::Object(c));
    }
    let mut total = Map::new();
    for (name, v) in &columns {
        total.insert(format!("{name}_per_s"), json!(v.iter().sum::<f64>()));
    }
    total.insert("pending".into(), json!(pending.iter().sum::<u64>()));
    let errors: Map<String, Value> = by_errno
        .iter()
        .map(|(e, v)| (e.clone(), v.iter().sum::<f64>()))
        .filter(|(_, s)| *s > 0.0)
        .map(|(e, s)| (e, json!(s)))
        .collect();
    total.insert("errors_per_s".into(), Value::Object(errors));
    json!({
        "state": after.get("state").cloned().unwrap_or(Value::Null),
        "interval_s": secs,
        "cores": list,
        "total": total,
    })
}

/// The screen of [`rates`] as text.
pub(crate) fn render(screen: &Value, pid: Option<u64>, prefix: &str) -> String {
    use std::fmt::Write as _;
    let mut w = String::new();
    let cores = screen["cores"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        w,
        "mtcp_sendpkt in pid {} (file prefix {prefix}): core contexts: {}, {}, over {:.2} s",
        pid.map_or("?".into(), |p| p.to_string()),
        cores.len(),
        screen["state"].as_str().unwrap_or("?"),
        screen["interval_s"].as_f64().unwrap_or(0.0)
    );
    let _ = write!(w, "{:<6}", "core");
    for (_, title) in RATES {
        let _ = write!(w, " {title:>14}");
    }
    let _ = writeln!(w, " {:>10}  errors/s by errno", "pending");
    let row = |w: &mut String, label: &str, c: &Value| {
        let _ = write!(w, "{label:<6}");
        for (name, _) in RATES {
            let _ = write!(w, " {:>14.1}", c[format!("{name}_per_s")].as_f64().unwrap_or(0.0));
        }
        let errors: Vec<String> = c["errors_per_s"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(e, v)| format!("{e} {:.1}", v.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            w,
            " {:>10}  {}",
            c["pending"].as_u64().unwrap_or(0),
            if errors.is_empty() {
                "-".into()
            } else {
                errors.join(", ")
            }
        );
    };
    for c in &cores {
        row(&mut w, &c["core"].to_string(), c);
    }
    row(&mut w, "total", &screen["total"]);
    w
}

/// Runs the live view; returns the exit status.
pub(crate) fn run(o: &Options, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let path = socket_path(&o.file_prefix);
    let t = match Telemetry::connect(&path) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(
                err,
                "mtcp-sendpkt: cannot connect to {} ({e}): is a process with file prefix {:?} running, \
                 with MTCP_SENDPKT_TELEMETRY=1 (or its own EAL's telemetry on)?",
                path.display(),
                o.file_prefix
            );
            return 1;
        }
    };
    let pid = t.info.get("pid").and_then(Value::as_u64);
    let sample = |t: &Telemetry| t.query(STATS).map(|v| (Instant::now(), v));
    let mut before = match sample(&t) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "mtcp-sendpkt: {e}");
            return 1;
        }
    };
    let mut shown = 0;
    while o.count.is_none_or(|n| shown < n) {
        std::thread::sleep(o.interval);
        let after = match sample(&t) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(err, "mtcp-sendpkt: {e}");
                return 1;
            }
        };
        let screen = rates(&before.1, &after.1, after.0 - before.0);
        let text = if o.json {
            let mut s = screen;
            s["pid"] = json!(pid);
            format!("{s}\n")
        } else {
            format!("{}\n", render(&screen, pid, &o.file_prefix))
        };
        if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
            return 0; // the reader went away (a closed pipe)
        }
        before = after;
        shown += 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse() {
        let a = |v: &[&str]| Options::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let o = a(&["--file-prefix", "mb", "--interval=0.5", "--count", "3", "--json"]).unwrap();
        assert_eq!(o.file_prefix, "mb");
        assert_eq!(o.interval, Duration::from_millis(500));
        assert_eq!((o.count, o.json), (Some(3), true));
        assert_eq!(a(&[]).unwrap().file_prefix, "rte");
        assert!(a(&["--interval", "0"]).is_err());
        assert!(a(&["--count", "0"]).is_err());
        assert!(a(&["--bogus"]).is_err());
        assert!(a(&["--file-prefix"]).is_err());
    }

    #[test]
    fn rates_are_differences_over_time_per_core() {
        let before = json!({"state": "running", "per_core/accepted": [100, 0], "per_core/transmitted": [90, 0],
            "per_core/pending": [10, 0], "per_core/rejected": [0, 0], "per_core/rejected/EAGAIN": [0, 0],
            "per_core/resets_sent": [0, 0], "per_core/raw_frames_sent": [0, 0]});
        let after = json!({"state": "running", "per_core/accepted": [300, 50], "per_core/transmitted": [300, 50],
            "per_core/pending": [0, 0], "per_core/rejected": [4, 0], "per_core/rejected/EAGAIN": [4, 0],
            "per_core/resets_sent": [0, 2], "per_core/raw_frames_sent": [0, 0]});
        let s = rates(&before, &after, Duration::from_secs(2));
        assert_eq!(s["cores"][0]["accepted_per_s"], json!(100.0));
        assert_eq!(s["cores"][1]["resets_sent_per_s"], json!(1.0));
        assert_eq!(s["cores"][0]["errors_per_s"]["EAGAIN"], json!(2.0));
        assert_eq!(s["total"]["transmitted_per_s"], json!(130.0));
        assert_eq!(s["total"]["errors_per_s"], json!({"EAGAIN": 2.0}));
        let text = render(&s, Some(7), "rte");
        assert!(text.contains("pid 7"), "{text}");
        assert!(text.contains("EAGAIN 2.0"), "{text}");
        assert!(text.lines().last().unwrap().starts_with("total"), "{text}");
    }
}
