//! What an operator sees of the library: its own DPDK log type, its telemetry commands (read
//! through the socket as any client does, and with DPDK's `dpdk-telemetry.py`), and the
//! `mtcp-sendpkt stats` live view against a running process.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::telemetry::{socket_path, Client};
use support::*;

/// The `--file-prefix` the child's EAL got (see `support::eal_args`).
fn file_prefix() -> String {
    let args = std::env::var("MTCP_SENDPKT_EAL_ARGS").expect("EAL args");
    let mut it = args.split_whitespace();
    it.find(|a| *a == "--file-prefix");
    it.next().expect("a file prefix").to_owned()
}

/// A config with one line mOS skips (a warning), on top of the standard one.
fn conf_with_a_warning() -> String {
    CONF.replace(
        "        10.0.0.0/24  90:e2",
        "        bogus line\n        10.0.0.0/24  90:e2",
    )
}

/// `--log-level=mtcp_sendpkt:<level>` in the library's EAL arguments: `debug` shows its debug
/// lines, `error` silences its warnings; without it, warnings show and debug lines do not.
#[test]
fn its_own_log_type_follows_log_level() {
    const NAME: &str = "its_own_log_type_follows_log_level";
    let conf = conf_with_a_warning();
    for (level, warning, debug) in [
        (None, true, false),
        (Some("mtcp_sendpkt:debug"), true, true),
        (Some("mtcp_sendpkt:error"), false, false),
    ] {
        let mut args = eal_args(NAME, "--vdev net_null0");
        if let Some(l) = level {
            args += &format!(" --log-level={l}");
        }
        let t = Isolated::new(NAME)
            .env("MTCP_SENDPKT_EAL_ARGS", args)
            .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
            .file("mos.conf", &conf);
        let Some((_, out)) = t.run(|_| {
            let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"x");
            assert_eq!(send(0, 1, &o.pkt_info()), Ok(()));
            flush(0);
        }) else {
            return;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.contains("mtcp_sendpkt: warning:") && err.contains("bogus line"),
            warning,
            "{level:?}\n{err}"
        );
        assert_eq!(
            err.contains(&format!(
                "mtcp_sendpkt: started on DPDK {}: 1 core contexts",
                support::dpdk_version()
            )) && err.contains("mtcp_sendpkt: port 0 (net_null0): MAC"),
            debug,
            "{level:?}\n{err}"
        );
    }
}

/// With MTCP_SENDPKT_TELEMETRY=1 the process's telemetry socket answers `/mtcp_sendpkt/stats`
/// and `/mtcp_sendpkt/config` with exactly what the calls did; DPDK's own client reads them too.
/// Without it there is no socket.
#[test]
fn telemetry_reports_what_the_calls_did() {
    const NAME: &str = "telemetry_reports_what_the_calls_did";
    let body = |telemetry: bool| {
        move |_: &std::path::Path| {
            let prefix = file_prefix();
            if !telemetry {
                assert!(
                    !std::path::Path::new(&socket_path(&prefix)).exists(),
                    "no socket unless asked for"
                );
                return;
            }
            // Core 0: 5 frames and one reset toward the receiver (its frame counts as accepted
            // too); core 1: 3 frames and 2 calls
            // without an IP header (ENODATA), 1 to an address without a route (EHOSTUNREACH).
            for _ in 0..5 {
                let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"abc");
                assert_eq!(send(0, 1, &o.pkt_info()), Ok(()));
            }
            let mut seen = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
            assert_eq!(support::segment::reset(&seen.pkt_info(), 2), Ok(1));
            for _ in 0..3 {
                let mut o = Observed::new([10, 0, 0, 11], 1, &TS_OPTIONS, b"");
                assert_eq!(send(1, 1, &o.pkt_info()), Ok(()));
            }
            for _ in 0..2 {
                let mut o = Observed::new([10, 0, 0, 11], 1, &TS_OPTIONS, b"");
                let mut pi = o.pkt_info();
                pi.iph = std::ptr::null_mut();
                assert_eq!(send(1, 1, &pi), Err(libc::ENODATA));
            }
            let mut far = Observed::new([192, 0, 2, 1], 1, &TS_OPTIONS, b"");
            assert_eq!(send(1, 1, &far.pkt_info()), Err(libc::EHOSTUNREACH));
            flush(0);
            flush(1);

            let (c, hello) = Client::connect(&socket_path(&prefix));
            assert_eq!(hello["pid"], Value::from(std::process::id()));
            let s = c.ask("/mtcp_sendpkt/stats");
            eprintln!("measured: /mtcp_sendpkt/stats {s}");
            assert_eq!(s["state"], "running");
            assert_eq!(s["cores"], 2);
            let want = [
                ("accepted", 9, [6, 3]),
                ("transmitted", 9, [6, 3]),
                ("pending", 0, [0, 0]),
                ("rejected", 3, [0, 3]),
                ("rejected/ENODATA", 2, [0, 2]),
                ("rejected/EHOSTUNREACH", 1, [0, 1]),
                ("rejected/EAGAIN", 0, [0, 0]),
                ("resets_sent", 1, [1, 0]),
                ("raw_frames_sent", 0, [0, 0]),
                ("dropped_at_shutdown", 0, [0, 0]),
            ];
            for (name, total, per_core) in want {
                assert_eq!(s[name], total, "{name}: {s}");
                assert_eq!(
                    s[format!("per_core/{name}")],
                    serde_json::json!(per_core),
                    "{name}: {s}"
                );
            }
            let one = c.ask("/mtcp_sendpkt/stats,1");
            assert_eq!(
                (one["core"].as_u64(), one["accepted"].as_u64()),
                (Some(1), Some(3))
            );
            assert_eq!(one["rejected/ENODATA"], 2);
            assert!(c.ask("/mtcp_sendpkt/stats,7").is_null(), "no core context 7");
            let cfg = c.ask("/mtcp_sendpkt/config");
            eprintln!("measured: /mtcp_sendpkt/config {cfg}");
            assert_eq!(cfg["ports/name"], serde_json::json!(["net_pcap0"]));
            assert_eq!(cfg["cores"], 2);
            assert_eq!(
                (cfg["routes/ipv4"].as_u64(), cfg["arp/ipv4"].as_u64()),
                (Some(1), Some(2))
            );
            assert_eq!(cfg["burst"], 32);
            assert_eq!(cfg["attached"], 0);
            assert_eq!(
                cfg["lanes_per_core"], 0,
                "two tx_pcap files, two TX queues: one per core, none left for lanes"
            );

            // DPDK's own client, as an operator runs it.
            // (dpdk-dev ships it; `make deps` checks for it.)
            let mut py = Command::new("dpdk-telemetry.py")
                .args(["-f", &prefix])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("dpdk-telemetry.py");
            py.stdin
                .take()
                .unwrap()
                .write_all(b"/mtcp_sendpkt/stats\n")
                .unwrap();
            let out = py.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let at = text
                .find('{')
                .unwrap_or_else(|| panic!("no JSON from dpdk-telemetry.py: {text}"));
            let v: Value = serde_json::Deserializer::from_str(&text[at..])
                .into_iter::<Value>()
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(v["/mtcp_sendpkt/stats"]["accepted"], 9, "{text}");
        }
    };
    if std::env::var("MTCP_SENDPKT_TEST_CHILD").is_ok() {
        let on = std::env::var("MTCP_SENDPKT_TELEMETRY").as_deref() == Ok("1");
        Isolated::new(NAME).run(body(on));
        return;
    }
    for telemetry in [true, false] {
        Isolated::new(NAME)
            .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap,tx_pcap={dir}/q1.pcap")
            // Two core contexts from one netdev mask: the per-core counters need two.
            .env("MTCP_SENDPKT_CORES", "2")
            // The setting under test: both values.
            .env("MTCP_SENDPKT_TELEMETRY", if telemetry { "1" } else { "0" })
            .run(body(telemetry));
    }
}

/// `mtcp-sendpkt stats` against a process that is sending: per-core rates and errors by errno,
/// as JSON and as a screen.
#[test]
fn the_stats_view_watches_a_running_process() {
    let t = Isolated::new("the_stats_view_watches_a_running_process")
        .with_port("--vdev net_null0")
        // The live view reads the telemetry socket, off by default (the feature under test).
        .env("MTCP_SENDPKT_TELEMETRY", "1");
    t.run(|_| {
        let prefix = file_prefix();
        // Started (the telemetry socket exists) before the tool looks for it.
        let mut first = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"abc");
        assert_eq!(send(0, 1, &first.pkt_info()), Ok(()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let sender = std::thread::spawn(move || {
            let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"abc");
            let pi = o.pkt_info();
            let mut bad = pi;
            bad.iph = std::ptr::null_mut();
            let mut n = 0u64;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = send(0, 1, &pi);
                if n % 100 == 0 {
                    let _ = send(0, 1, &bad);
                }
                n += 1;
                if n % 1000 == 0 {
                    // A steady, modest rate: the machine has two CPUs for this and the tool.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let tool = env!("CARGO_BIN_EXE_mtcp-sendpkt");
        let run = |args: &[&str]| {
            let out = Command::new(tool)
                .args(["stats", "--file-prefix", &prefix])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let json = run(&["--interval", "0.3", "--count", "2", "--json"]);
        let screen = run(&["--interval", "0.5", "--count", "1"]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sender.join().unwrap();
        for l in screen.lines().chain(json.lines()) {
            eprintln!("measured: {l}");
        }
        let lines: Vec<Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{json}");
        for l in &lines {
            let c = &l["cores"][0];
            assert!(c["accepted_per_s"].as_f64().unwrap() > 1000.0, "{l}");
            assert!(c["errors_per_s"]["ENODATA"].as_f64().unwrap() > 0.0, "{l}");
            assert_eq!(l["state"], "running");
            assert_eq!(l["pid"], Value::from(std::process::id()));
        }
        assert!(screen.contains("core contexts: 1, running"), "{screen}");
        assert!(screen.contains("ENODATA"), "{screen}");
        assert!(screen.lines().any(|l| l.starts_with("total")), "{screen}");
    });
    // No process behind the prefix: a clear error, exit 1.
    let out = Command::new(env!("CARGO_BIN_EXE_mtcp-sendpkt"))
        .args(["stats", "--file-prefix", "mtcpsp-nobody-here", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MTCP_SENDPKT_TELEMETRY=1"));
}

/// What `dpdk-telemetry-exporter.py` (DPDK 24.11 and later) serves from the library's endpoint
/// file (`telemetry-endpoints/mtcp_sendpkt.py`, which `make install` installs where the exporter
/// looks): the OpenMetrics text of a process with two core contexts, first with exact counts
/// (a `core` label per context, an `errno` label for rejections), then again while it sends.
#[test]
fn the_exporter_serves_core_and_errno_labels() {
    const NAME: &str = "the_exporter_serves_core_and_errno_labels";
    let Some(exporter) = which("dpdk-telemetry-exporter.py") else {
        // Debian 12's DPDK 22.11 does not ship it; CI runs this test on 25.11.
        return skip(
            NAME,
            "no dpdk-telemetry-exporter.py on PATH (it ships with DPDK 24.11 and later)",
        );
    };
    let t = Isolated::new(NAME)
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap,tx_pcap={dir}/q1.pcap")
        // The exporter reads the telemetry socket, off by default (the feature under test); two
        // core contexts from one netdev mask, so that the core label has two values.
        .env("MTCP_SENDPKT_TELEMETRY", "1")
        .env("MTCP_SENDPKT_CORES", "2");
    t.run(|_| {
        for (cpu, n) in [(0, 5), (1, 3)] {
            let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
            for _ in 0..n {
                assert_eq!(send(cpu, 1, &o.pkt_info()), Ok(()));
            }
            flush(cpu);
        }
        let mut bad = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        let mut pi = bad.pkt_info();
        pi.iph = std::ptr::null_mut();
        for _ in 0..2 {
            assert_eq!(send(1, 1, &pi), Err(libc::ENODATA));
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let endpoints = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("telemetry-endpoints");
        let mut server = Command::new(&exporter)
            .args(["-o", &format!("openmetrics://127.0.0.1:{port}")])
            .args(["-p", &endpoints.display().to_string(), "-e", "mtcp_sendpkt"])
            .args(["-s", &socket_path(&file_prefix())])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let scrape = || -> String {
            use std::io::Read;
            for _ in 0..200 {
                if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    c.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
                    let mut text = String::new();
                    c.read_to_string(&mut text).unwrap();
                    return text;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("the exporter never listened on port {port}");
        };
        let value = |text: &str, series: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        };
        let text = scrape();
        eprintln!("measured: the exporter's answer:\n{text}");
        for (series, want) in [
            ("dpdk_mtcp_sendpkt_accepted{core=\"0\"}", 5.0),
            ("dpdk_mtcp_sendpkt_accepted{core=\"1\"}", 3.0),
            ("dpdk_mtcp_sendpkt_transmitted{core=\"0\"}", 5.0),
            ("dpdk_mtcp_sendpkt_pending{core=\"1\"}", 0.0),
            ("dpdk_mtcp_sendpkt_rejected{core=\"1\", errno=\"ENODATA\"}", 2.0),
            ("dpdk_mtcp_sendpkt_rejected{core=\"0\", errno=\"ENODATA\"}", 0.0),
            (
                "dpdk_mtcp_sendpkt_rejected{core=\"1\", errno=\"EHOSTUNREACH\"}",
                0.0,
            ),
            ("dpdk_mtcp_sendpkt_tap_dropped", 0.0),
        ] {
            assert_eq!(value(&text, series), Some(want), "{series}\n{text}");
        }
        assert!(
            text.contains("# TYPE dpdk_mtcp_sendpkt_accepted counter"),
            "{text}"
        );
        assert!(text.contains("# TYPE dpdk_mtcp_sendpkt_pending gauge"), "{text}");
        // While the process sends, the next scrape counts more.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let sender = std::thread::spawn(move || {
            let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
            let pi = o.pkt_info();
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = send(0, 1, &pi);
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        let later = scrape();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sender.join().unwrap();
        let _ = server.kill();
        let _ = server.wait();
        let accepted = value(&later, "dpdk_mtcp_sendpkt_accepted{core=\"0\"}").expect("scraped");
        assert!(
            accepted > 5.0,
            "no more frames counted while sending: {accepted}\n{later}"
        );
    });
}

/// The first file named `name` on PATH.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A pcapng file as Wireshark's tools read it: capinfos's report, and the frames (converted to
/// pcap by editcap, then read with pcap-file).
fn read_pcapng(path: &std::path::Path) -> (String, Vec<Vec<u8>>) {
    let p = path.display().to_string();
    let out = Command::new("capinfos").arg(&p).output().expect("capinfos");
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "capinfos {p}: {info}");
    let pcap = format!("{p}.pcap");
    let out = Command::new("editcap")
        .args(["-F", "pcap", &p, &pcap])
        .output()
        .expect("editcap");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (info, read_pcap(std::path::Path::new(&pcap)))
}

fn tap(path: Option<&str>) -> i32 {
    let c = path.map(|p| std::ffi::CString::new(p).unwrap());
    // SAFETY: NULL or a NUL-terminated path.
    unsafe { mtcp_sendpkt::mtcp_sendpkt_tap(c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())) }
}

/// Starts the tap on `path`, retrying every 10 ms while it fails, for 5 s at most (then fails with
/// `why`).
fn tap_within_5s(path: &str, why: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while tap(Some(path)) != 0 {
        assert!(std::time::Instant::now() < deadline, "{why}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The tap holds exactly the frames the TX queue took, byte for byte as they reached the
/// `net_pcap` port, one interface per port with its name and nanosecond timestamps; a new tap
/// completes the old file, `NULL` stops it, and shutdown completes the last. tshark and capinfos
/// read the files.
#[test]
fn the_pcapng_tap_holds_exactly_what_the_queue_took() {
    let t = Isolated::new("the_pcapng_tap_holds_exactly_what_the_queue_took")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        // The tap, off by default, is the feature under test.
        .env("MTCP_SENDPKT_PCAPNG", "{dir}/first.pcapng");
    let Some((dir, _)) = t.run(|dir| {
        let frame = |i: usize| {
            let payload = vec![b'a' + (i % 26) as u8; i * 7];
            let mut o = Observed::new([10, 0, 0, 10], i as u32, &TS_OPTIONS, &payload);
            assert_eq!(send(0, 1, &o.pkt_info()), Ok(()));
        };
        for i in 0..10 {
            frame(i);
        }
        let mut seen = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
        assert_eq!(support::segment::reset(&seen.pkt_info(), 2), Ok(1));
        let mut bad = Observed::new([192, 0, 2, 1], 1, &TS_OPTIONS, b"");
        assert_eq!(send(0, 1, &bad.pkt_info()), Err(libc::EHOSTUNREACH));
        flush(0);
        let second = dir.join("second.pcapng").display().to_string();
        assert_eq!(tap(Some(&second)), 0);
        for i in 10..15 {
            frame(i);
        }
        flush(0);
        assert_eq!(tap(None), 0);
        assert_eq!(
            mtcp_sendpkt::internals::tap_pending_bytes(),
            0,
            "the writer took every copy"
        );
        for i in 15..18 {
            frame(i);
        }
        flush(0);
        assert_eq!(tap(Some("/nonexistent/dir/x.pcapng")), -1);
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENOENT));
        let third = dir.join("third.pcapng").display().to_string();
        assert_eq!(tap(Some(&third)), 0);
        for i in 18..20 {
            frame(i);
        }
        // Not flushed: shutdown sends them, then completes the file.
        mtcp_sendpkt::mtcp_sendpkt_shutdown();
    }) else {
        return;
    };
    let wire = read_pcap(&dir.join("out.pcap"));
    assert_eq!(wire.len(), 21);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut at = 0;
    for (name, count) in [("first", 11), ("second", 5), ("third", 2)] {
        let path = dir.join(format!("{name}.pcapng"));
        let (info, frames) = read_pcapng(&path);
        eprintln!("measured: capinfos {name}.pcapng\n{info}");
        assert!(info.contains(&format!("Number of packets:   {count}")), "{info}");
        assert!(info.contains("Number of interfaces in file: 1"), "{info}");
        assert!(info.contains("Name = dpdk:0"), "{info}");
        assert!(info.contains("Hardware = vdev-net_pcap0"), "{info}");
        assert!(info.contains("Time precision = nanoseconds (9)"), "{info}");
        assert!(info.contains("Capture application: mtcp_sendpkt"), "{info}");
        assert_eq!(frames.len(), count, "{name}");
        for (i, bytes) in frames.iter().enumerate() {
            assert_eq!(bytes, &wire[at + i], "{name} frame {i}");
        }
        at += count + if name == "second" { 3 } else { 0 };
        let out = Command::new("tshark")
            .args(["-r", &path.display().to_string(), "-T", "fields"])
            .args([
                "-e",
                "frame.interface_name",
                "-e",
                "frame.time_epoch",
                "-e",
                "tcp.dstport",
            ])
            .output()
            .expect("tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert_eq!(text.lines().count(), count, "{text}");
        for l in text.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f[0], "dpdk:0", "{text}");
            let t: f64 = f[1].parse().unwrap();
            assert!(
                (now - t).abs() < 600.0,
                "a timestamp of now: {t} vs {now}\n{text}"
            );
        }
    }
}

/// A tap on a FIFO: with no reader, starting it fails at once (ENXIO) instead of blocking; with
/// a reader that stalls, sending goes on at full speed, stopping returns within its bound, a new
/// tap waits (EBUSY) until the stuck write ends, and a reader that goes away costs an EPIPE, not
/// the process (SIGPIPE).
#[test]
fn a_tap_on_a_stalled_pipe_never_blocks_sending() {
    let t = Isolated::new("a_tap_on_a_stalled_pipe_never_blocks_sending").with_port("--vdev net_null0");
    t.run(|dir| {
        // SAFETY: restores the default SIGPIPE action (what a C middlebox has; Rust's runtime
        // ignores it), so that a SIGPIPE would end this process.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let fifo = |name: &str| {
            let p = dir.join(name);
            let c = std::ffi::CString::new(p.display().to_string()).unwrap();
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            p.display().to_string()
        };
        let nobody = fifo("nobody");
        let started = std::time::Instant::now();
        assert_eq!(tap(Some(&nobody)), -1);
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENXIO));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        // A reader that takes 100 bytes and then holds the pipe without reading.
        let stalled = fifo("stalled");
        // One process (sh becomes sleep), holding the pipe, so that killing it closes the pipe.
        let mut reader = Command::new("sh")
            .args([
                "-c",
                &format!("exec 3<'{stalled}'; head -c 100 <&3 >/dev/null; exec sleep 60"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tap_within_5s(&stalled, "the reader never opened the pipe");
        let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, &[7u8; 1000]);
        let pi = o.pkt_info();
        let t0 = std::time::Instant::now();
        for _ in 0..50_000 {
            assert_eq!(send(0, 1, &pi), Ok(()));
        }
        flush(0);
        let sending = t0.elapsed();
        let t1 = std::time::Instant::now();
        assert_eq!(tap(None), 0);
        let stopping = t1.elapsed();
        eprintln!(
            "measured: 50000 frames of 1066 B into a stalled tap in {sending:?}; stop took {stopping:?}"
        );
        assert!(sending < std::time::Duration::from_secs(10), "{sending:?}");
        assert!(stopping < std::time::Duration::from_secs(4), "{stopping:?}");
        let other = dir.join("other.pcapng").display().to_string();
        assert_eq!(tap(Some(&other)), -1, "the stuck writer still holds the pipe");
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EBUSY));
        // The reader goes away: the stuck write ends with EPIPE, and the process lives on.
        let _ = reader.kill();
        let _ = reader.wait();
        tap_within_5s(&other, "the stuck writer never ended");
        assert_eq!(send(0, 1, &pi), Ok(()));
        flush(0);
        assert_eq!(tap(None), 0);
        assert_eq!(
            mtcp_sendpkt::internals::tap_pending_bytes(),
            0,
            "the writer took every copy"
        );
    });
}
