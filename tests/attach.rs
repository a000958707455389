//! Attached to a host that already runs DPDK: the library does not initialize EAL again, does not
//! reconfigure the host's port, and sends through the TX queue and mempool the host names (through
//! the environment or `mtcp_sendpkt_attach`). `tests/c/dpdk_host.c` is the host.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::cbuild::*;
use support::*;

fn build_host(dir: &Path) -> PathBuf {
    build_with_dpdk(dir, "dpdk_host.c", "dpdk_host")
}

/// Runs the host in `mode`; returns its stdout, the host's queue-0 capture and the library's
/// queue-1 capture.
fn run_host(mode: &str, env: &[(&str, &str)]) -> (String, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let dir = test_dir(&format!("attach_{mode}"));
    let exe = build_host(&dir);
    std::fs::write(dir.join("mos.conf"), CONF).unwrap();
    let (q0, q1) = (dir.join("q0.pcap"), dir.join("q1.pcap"));
    let eal = eal_args(
        &format!("host{mode}"),
        &format!(
            "--vdev net_pcap0,tx_pcap={},tx_pcap={}",
            q0.display(),
            q1.display()
        ),
    );
    let out = Command::new(&exe)
        .arg(mode)
        .args(eal.split_whitespace())
        .env("MTCP_SENDPKT_CONF", dir.join("mos.conf"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, read_pcap(&q0), read_pcap(&q1))
}

fn assert_markers(q0: &[Vec<u8>]) {
    let markers: Vec<u8> = q0
        .iter()
        .map(|f| {
            assert_eq!(
                f[12..14],
                [0x88, 0xb5],
                "only the host's frames on the host's queue"
            );
            f[14]
        })
        .collect();
    assert_eq!(
        markers,
        [1, 2, 3],
        "the host's port worked before, during and after the library"
    );
}

fn assert_library_frames(q1: &[Vec<u8>]) {
    assert_eq!(q1.len(), 4, "the library's frames on the queue the host lent it");
    for (i, f) in q1.iter().enumerate() {
        check_frame(
            f,
            &host_segment(100 + i as u32, &[]),
            ARP_10,
            f[6..12].try_into().unwrap(),
        );
    }
}

/// The segment `send_tcp_payload` in dpdk_host.c sends: seq `seq` toward 10.0.0.10, ports
/// 7 -> 8, ack 0, window 0, id 0.
fn host_segment(seq: u32, payload: &[u8]) -> Observed {
    let mut input = Observed::new([10, 0, 0, 10], seq, &[], payload);
    input.bytes[4..6].copy_from_slice(&[0, 0]);
    input.bytes[20..24].copy_from_slice(&[0, 7, 0, 8]);
    input.bytes[28..32].copy_from_slice(&[0; 4]);
    input.bytes[34..36].copy_from_slice(&[0, 0]);
    input
}

#[test]
fn attaches_through_the_environment() {
    let (stdout, q0, q1) = run_host(
        "env",
        &[("MTCP_SENDPKT_TXQ", "1"), ("MTCP_SENDPKT_MEMPOOL", "host_pool")],
    );
    assert!(stdout.contains("dpdk_host: ok (env)"), "{stdout}");
    assert_markers(&q0);
    assert_library_frames(&q1);
}

#[test]
fn attaches_through_mtcp_sendpkt_attach() {
    let (stdout, q0, q1) = run_host("explicit", &[]);
    assert!(stdout.contains("dpdk_host: ok (explicit)"), "{stdout}");
    assert_markers(&q0);
    assert_library_frames(&q1);
}

/// A host's mempool that is not a packet mempool is refused at attach, with the reason; the
/// host's port is untouched.
#[test]
fn a_mempool_without_mbufs_is_refused_with_the_reason() {
    let (stdout, q0, q1) = run_host("plainpool", &[]);
    assert!(stdout.contains("not a packet mempool"), "{stdout}");
    assert!(stdout.contains("dpdk_host: ok (plainpool)"), "{stdout}");
    assert_markers(&q0);
    assert!(q1.is_empty());
}

/// A host's mempool whose mbufs are smaller than the port's MTU allows: the frames that fit go
/// out whole, a longer one fails with EMSGSIZE (never written past the buffer).
#[test]
fn a_hosts_small_mbufs_bound_the_frame_length() {
    let (stdout, q0, q1) = run_host("smallpool", &[]);
    assert!(stdout.contains("dpdk_host: ok (smallpool)"), "{stdout}");
    assert_markers(&q0);
    assert_eq!(q1.len(), 1, "only the frame that fits the host's mbufs: {q1:?}");
    assert_eq!(q1[0].len(), 200);
    check_frame(
        &q1[0],
        &host_segment(101, &[0; 134]),
        ARP_10,
        q1[0][6..12].try_into().unwrap(),
    );
}

#[test]
fn a_queue_the_host_did_not_set_up_is_refused_with_the_reason() {
    let (stdout, q0, q1) = run_host("missing", &[("MTCP_SENDPKT_TXQ", "2")]);
    assert!(stdout.contains("the host set up no TX queue 2"), "{stdout}");
    assert_markers(&q0);
    assert!(q1.is_empty());
}

/// Attached, the library registers its telemetry commands into the host's telemetry (the host's
/// EAL runs it by default): they answer on the host's socket while the host runs.
#[test]
fn the_hosts_telemetry_answers_for_the_attached_library() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use support::telemetry::{socket_path, Client};
    let dir = test_dir("attach_telemetry");
    let exe = build_host(&dir);
    std::fs::write(dir.join("mos.conf"), CONF).unwrap();
    let (q0, q1) = (dir.join("q0.pcap"), dir.join("q1.pcap"));
    let eal = eal_args(
        "hosttelemetry",
        &format!(
            "--vdev net_pcap0,tx_pcap={},tx_pcap={}",
            q0.display(),
            q1.display()
        ),
    );
    let prefix = format!("mtcpsp-hosttelemetry-{}", std::process::id());
    assert!(eal.contains(&prefix), "{eal}");
    let mut host = std::process::Command::new(&exe)
        .arg("env")
        .args(eal.split_whitespace())
        .env("MTCP_SENDPKT_CONF", dir.join("mos.conf"))
        .env("MTCP_SENDPKT_TXQ", "1")
        .env("MTCP_SENDPKT_MEMPOOL", "host_pool")
        .env("HOST_PAUSE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(host.stdout.take().unwrap()).lines();
    let paused = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l == "dpdk_host: paused");
    assert!(paused, "the host never paused");
    let (c, hello) = Client::connect(&socket_path(&prefix));
    assert_eq!(hello["pid"], serde_json::Value::from(host.id()));
    let s = c.ask("/mtcp_sendpkt/stats");
    assert_eq!(
        (s["accepted"].as_u64(), s["transmitted"].as_u64()),
        (Some(4), Some(4)),
        "{s}"
    );
    let cfg = c.ask("/mtcp_sendpkt/config");
    assert_eq!(cfg["attached"], 1, "{cfg}");
    assert_eq!(cfg["ports/name"], serde_json::json!(["net_pcap0"]), "{cfg}");
    host.stdin.take().unwrap().write_all(b"\n").unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(host.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|l| l == "dpdk_host: ok (env)"), "{rest:?}");
}
