//! The edges of the library's life, as a C middlebox meets them (`tests/c/edges.c`, on DPDK
//! vdevs, default settings unless the case itself is a setting): the tap at process and thread
//! exit, shutdown beside a tap writer stuck on a stalled FIFO, a signal handler that sends, a
//! pool of worker threads taking turns, a stalled port beside a healthy one. Each asserts on
//! counts and on bounds far from both the fixed and the broken behaviour.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cbuild::*;
use support::*;

fn build(dir: &Path) -> PathBuf {
    build_with_dpdk(dir, "edges.c", "edges")
}

/// The program's `edges: key value` lines.
fn values(stdout: &str) -> HashMap<String, f64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("edges: "))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// Waits for `child` at most `limit` (killing it then): its exit status and output.
fn finish(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status,
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?} (a hang): killed\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `edges MODE ARGS` with `env`; fails on a non-zero exit or a panic message.
fn run_mode(exe: &Path, mode: &[&str], env: &[(String, String)], limit: Duration) -> HashMap<String, f64> {
    let child = Command::new(exe)
        .args(mode)
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stdout, stderr) = finish(child, limit);
    assert!(status.success(), "{mode:?}: {status:?}\n{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{mode:?}: a panic\n{stderr}");
    eprintln!("measured: edges {mode:?}:\n{stdout}");
    values(&stdout)
}

fn env_with(dir: &Path, tag: &str, vdevs: &str, conf: &str) -> Vec<(String, String)> {
    std::fs::write(dir.join("mos.conf"), conf).unwrap();
    vec![
        (
            "MTCP_SENDPKT_CONF".into(),
            dir.join("mos.conf").display().to_string(),
        ),
        ("MTCP_SENDPKT_EAL_ARGS".into(), eal_args(tag, vdevs)),
    ]
}

/// Every frame of a pcapng file (pcap-file's reader).
fn read_pcapng(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).expect("pcapng section header");
    let mut frames = Vec::new();
    while let Some(b) = r.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(p) = b.expect("pcapng block") {
            frames.push(p.data.into_owned());
        }
    }
    frames
}

/// The tap at exit: frames still staged when the process returns from `main`, or when a worker
/// thread that sent them exits, are sent and tapped, with no panic; the worker's exit gives its
/// context up, so shutdown does not wait for it (it used to wait 1 s for a sender "inside a copy").
#[test]
fn staged_frames_are_sent_and_tapped_at_process_and_thread_exit() {
    let dir = test_dir("edges_tap_exit");
    let exe = build(&dir);
    for mode in ["tap-exit-main", "tap-exit-worker"] {
        let pcap = dir.join(format!("{mode}.pcap"));
        let pcapng = dir.join(format!("{mode}.pcapng"));
        let mut env = env_with(
            &dir,
            mode,
            &format!("--vdev net_pcap0,tx_pcap={}", pcap.display()),
            CONF,
        );
        // Overridden so that the 40 frames are still staged when the process or thread ends
        // (8 past a burst of 32): the case under test. The tap is the feature under test.
        env.push(("MTCP_SENDPKT_BURST".into(), "32".into()));
        env.push(("MTCP_SENDPKT_FLUSH_US".into(), "1000000".into()));
        env.push(("MTCP_SENDPKT_PCAPNG".into(), pcapng.display().to_string()));
        let v = run_mode(&exe, &[mode], &env, Duration::from_secs(60));
        let wire = read_pcap(&pcap);
        assert_eq!(wire.len(), 40, "{mode}: every frame on the wire");
        assert_eq!(
            read_pcapng(&pcapng),
            wire,
            "{mode}: every frame in the tap, as sent"
        );
        if mode == "tap-exit-main" {
            assert!(v["staged"] > 0.0, "frames were staged at the return: {v:?}");
        } else {
            assert!(v["shutdown_ms"] < 500.0, "shutdown waited: {v:?}");
        }
    }
}

/// A tap writer stuck on a FIFO whose reader stalled, then shutdown (which frees the mempool and
/// the EAL), then the reader goes away: the stuck write ends, and the process lives on (it used
/// to crash: the writer freed its batch into the freed mempool).
#[test]
fn shutdown_beside_a_stuck_tap_writer_never_crashes() {
    let dir = test_dir("edges_stuck_tap");
    let exe = build(&dir);
    let fifo = dir.join("tap.fifo");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // A reader that takes 100 bytes and then holds the pipe without reading (one process: sh
    // becomes sleep, so that killing it closes the pipe).
    let mut reader = Command::new("sh")
        .args([
            "-c",
            &format!(
                "exec 3<'{}'; head -c 100 <&3 >/dev/null; exec sleep 60",
                fifo.display()
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let env = env_with(&dir, "stucktap", "--vdev net_null0", CONF);
    let mut child = Command::new(&exe)
        .args(["stuck-tap", &fifo.display().to_string()])
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    assert_eq!(first, "edges: shutdown returned");
    // The reader goes away: the stuck write ends (EPIPE) while the process still runs.
    let _ = reader.kill();
    let _ = reader.wait();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let (status, _, stderr) = finish(child, Duration::from_secs(30));
    assert!(status.success(), "{status:?} (139: SIGSEGV)\n{rest:?}\n{stderr}");
    assert_eq!(rest, ["edges: alive"], "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A signal handler that sends on the context its thread is sending on: a call that interrupts
/// the library on that thread fails with EDEADLK and touches nothing; every call that returned 0
/// put exactly one frame on the wire (it used to send some twice, or deadlock on net_pcap), and
/// every mbuf is back in the pool.
#[test]
fn a_signal_handler_that_sends_never_sends_twice_nor_hangs() {
    let dir = test_dir("edges_signal");
    let exe = build(&dir);
    for (port, calls) in [("null", 300_000u32), ("pcap", 50_000)] {
        let pcap = dir.join("signal.pcap");
        let vdev = match port {
            "null" => "--vdev net_null0".to_string(),
            _ => format!("--vdev net_pcap0,tx_pcap={}", pcap.display()),
        };
        let env = env_with(&dir, &format!("signal{port}"), &vdev, CONF);
        let v = run_mode(
            &exe,
            &["signal", &calls.to_string()],
            &env,
            Duration::from_secs(120),
        );
        let ok = v["main_ok"] + v["handler_ok"];
        assert_eq!(v["main_err"], 0.0, "{port}: {v:?}");
        assert_eq!(v["handler_other"], 0.0, "{port}: {v:?}");
        assert!(
            v["handler_ok"] + v["handler_edeadlk"] >= 1000.0,
            "{port}: signals handled: {v:?}"
        );
        assert_eq!(v["accepted"], ok, "{port}: accepted is what returned 0: {v:?}");
        assert_eq!(
            v["transmitted"], ok,
            "{port}: each accepted frame sent once: {v:?}"
        );
        assert_eq!(v["pending"], 0.0, "{port}: {v:?}");
        assert_eq!(v["port_opackets"], ok, "{port}: the port's own count: {v:?}");
        assert_eq!(
            v["mbufs_free"], v["mbufs_total"],
            "{port}: every mbuf back: {v:?}"
        );
        if port == "pcap" {
            assert_eq!(read_pcap(&pcap).len() as f64, ok, "frames in the capture");
        }
    }
}

/// 24 worker threads take turns on context 0, 1500 frames each, each staying alive after its
/// turn: no call fails with ENOBUFS (they used to, while the whole pool sat in 24 lcore caches),
/// and with every worker idle at least half the pool is free.
#[test]
fn a_pool_of_worker_threads_never_sees_enobufs_while_the_pool_is_free() {
    let dir = test_dir("edges_pool");
    let exe = build(&dir);
    let env = env_with(&dir, "pool", "--vdev net_null0", CONF);
    let v = run_mode(&exe, &["pool"], &env, Duration::from_secs(120));
    assert_eq!(v["enobufs"], 0.0, "{v:?}");
    assert_eq!(v["other"], 0.0, "{v:?}");
    assert_eq!(v["ok"], 36_000.0, "{v:?}");
    assert_eq!(v["accepted"], 36_000.0, "{v:?}");
    assert_eq!(v["transmitted"], 36_000.0, "{v:?}");
    assert_eq!(v["mbufs_free"], v["mbufs_total"], "every mbuf back: {v:?}");
    assert!(
        v["mbufs_in_lcore_caches"] <= v["mbufs_total"] / 2.0,
        "the idle workers' caches hold more than half the pool: {v:?}"
    );
}

/// Port 0 never drains and the owner of context 0 keeps calling for it; a guest thread sends
/// 2000 frames to port 1, which never refuses: none of its calls fails (it used to get EAGAIN),
/// none waits long (up to 1 s before), and port 1 has all of them soon after the last call.
#[test]
fn a_stalled_port_beside_a_busy_owner_does_not_hold_up_a_healthy_one() {
    const TWO_PORTS: &str = "mos {\n netdev {\n dpdk0 0x0001\n dpdk1 0x0001\n }\n arp_table {\n \
                             10.0.0.0/16 90:e2:ba:7c:1f:a5\n }\n route_table {\n 10.0.0.0/24 dpdk0\n \
                             10.0.1.0/24 dpdk1\n }\n}\n";
    let dir = test_dir("edges_stalled");
    let exe = build(&dir);
    let env = env_with(&dir, "stalled", "--vdev net_ring0 --vdev net_null1", TWO_PORTS);
    let v = run_mode(&exe, &["stalled"], &env, Duration::from_secs(120));
    assert!(v["owner_eagain"] > 0.0, "port 0 is stalled: {v:?}");
    assert_eq!(v["guest_eagain"], 0.0, "{v:?}");
    assert_eq!(v["guest_other"], 0.0, "{v:?}");
    assert_eq!(v["port1_opackets"], 2000.0, "{v:?}");
    assert!(v["guest_max_call_ms"] < 100.0, "{v:?}");
    let drained = v["port1_drained_ms"];
    assert!((0.0..100.0).contains(&drained), "{v:?}");
}
