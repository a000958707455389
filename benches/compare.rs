//! `make bench`: our `mtcp_sendpkt` (called from C, as a middlebox calls it) against its peers,
//! measured in one run on this machine, alternating rounds, medians reported:
//! - a hand-written C DPDK sender doing exactly the same per-frame work (`benches/c/c_sender.c`:
//!   the caller's headers read with the Timestamp scan, the mOS frame written, both checksums in
//!   software with DPDK's helpers, mbufs allocated and burst 32 at a time): the honest ceiling;
//! - `dpdk-testpmd --forward-mode=txonly` (a template copy, no TCP checksum: the DPDK TX
//!   ceiling) and `--forward-mode=flowgen` (a per-packet IPv4 checksum);
//! - a naive per-packet DPDK sender in C (standing in for mOS's path) and a plain C AF_PACKET
//!   `sendto` sender on a veth pair (Linux's path).
//!
//! All DPDK cases run on `net_null`, one core. Then instructions per call outside the PMD
//! (callgrind, stable on a noisy machine), ours against the C sender's, and 2-core scaling.
//!
//! Knobs: BENCH_ROUNDS (5), BENCH_CALLS (5 000 000 per DPDK case), BENCH_TESTPMD_SECS (4).
//! The table is printed and written to target/bench/bench.md (beside the library measured).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SIZES: [(&str, usize); 2] = [("66 B", 0), ("1514 B", 1448)];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn pkg_config(what: &str) -> Vec<String> {
    run(Command::new("pkg-config").args([what, "libdpdk"]))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// target/release (or its twin under another CARGO_TARGET_DIR, as `make bench DPDK=...` sets):
/// where this bench binary and the library it measures were built.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/release/deps")
        .to_path_buf()
}

/// Builds the C bench programs into `dir`.
fn build(dir: &Path) {
    let lib = lib_dir();
    let c = |name: &str| root().join("benches/c").join(name).display().to_string();
    let out = |name: &str| dir.join(name).display().to_string();
    // As a C programmer on DPDK builds (DPDK's own default is machine=native): -O3 for this
    // machine, after pkg-config's flags, whose -march (corei7 in Debian's) would otherwise win.
    let opt = ["-std=gnu11", "-Wall", "-Wextra", "-Werror"];
    let native = ["-O3", "-march=native"];
    // Each program that callgrind runs has a copy built for AVX2 machines (x86-64-v3): valgrind
    // 3.19 cannot run the AVX-512 code -march=native may emit here.
    for (bin, march) in [("ours", native[1]), ("ours-cg", "-march=x86-64-v3")] {
        run(Command::new("cc")
            .args(opt)
            .args(["-O3", march])
            .arg(format!("-I{}", root().join("include").display()))
            .args([
                c("sendpkt_bench.c"),
                "-o".into(),
                out(bin),
                format!("-L{}", lib.display()),
                format!("-Wl,-rpath,{}", lib.display()),
                "-lmtcp_sendpkt".into(),
                "-lpthread".into(),
            ]));
    }
    for (src, bin, march) in [
        ("naive_dpdk.c", "naive", native[1]),
        ("c_replay.c", "creplay", native[1]),
        ("c_sender.c", "csender", native[1]),
        ("c_sender.c", "csender-cg", "-march=x86-64-v3"),
    ] {
        run(Command::new("cc")
            .args(opt)
            .args(pkg_config("--cflags"))
            .args(["-O3", march])
            .args([c(src), "-o".into(), out(bin)])
            .args(pkg_config("--libs")));
    }
    run(Command::new("cc")
        .args(opt)
        .args(native)
        .args([c("af_packet_bench.c"), "-o".into(), out("afp")]));
}

fn eal(tag: &str) -> String {
    format!(
        "--no-huge -m 512 --no-pci --no-shconf --file-prefix bench-{tag}-{} --log-level=*:error",
        std::process::id()
    )
}

fn mpps(output: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix("mpps "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no mpps line in:\n{output}"))
}

fn ours(dir: &Path, payload: usize, burst: u32, threads: u32, calls: u64) -> f64 {
    ours_with(dir, payload, burst, threads, calls, &[])
}

/// Our `mtcp_sendpkt_raw` (the mmTLS fork's replay) of a held frame of 66 + `payload` bytes,
/// default settings, one core.
fn ours_replay(dir: &Path, payload: usize, calls: u64) -> f64 {
    ours_mode(dir, "raw", payload, calls)
}

/// `benches/c/sendpkt_bench.c` in `mode` (`raw`, `burst`) on the single ACK's packet with
/// `payload` bytes, default settings, one core.
fn ours_mode(dir: &Path, mode: &str, payload: usize, calls: u64) -> f64 {
    let out = run(Command::new(dir.join("ours"))
        .args([
            "mos".into(),
            payload.to_string(),
            calls.to_string(),
            "1".into(),
            mode.into(),
        ])
        .env("MTCP_SENDPKT_CONF", conf())
        .env("MTCP_SENDPKT_EAL_ARGS", format!("{} --vdev net_null0", eal(mode))));
    mpps(&out)
}

fn ours_with(dir: &Path, payload: usize, burst: u32, threads: u32, calls: u64, env: &[(&str, &str)]) -> f64 {
    let out = run(Command::new(dir.join("ours"))
        .args([
            "mos".into(),
            payload.to_string(),
            calls.to_string(),
            threads.to_string(),
        ])
        .envs(env.iter().copied())
        .env("MTCP_SENDPKT_CONF", conf())
        .env("MTCP_SENDPKT_CORES", threads.to_string())
        .env("MTCP_SENDPKT_BURST", burst.to_string())
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            format!("{} --vdev net_null0", eal("ours")),
        ));
    mpps(&out)
}

/// Our `mtcp_sendpkt_burst`, 32 packets per call, default settings, one core.
fn ours_burst_call(dir: &Path, payload: usize, calls: u64) -> f64 {
    ours_mode(dir, "burst", payload, calls)
}

/// Our sender, default settings, on the traffic `shape` (benches/c/bench_input.h) with
/// `payload` bytes; `guests`: 2 threads calling with one mctx (one owner, one guest).
fn ours_shape(dir: &Path, shape: &str, payload: usize, guests: bool, calls: u64) -> f64 {
    let mut cmd = Command::new(dir.join("ours"));
    cmd.args([shape.to_owned(), payload.to_string(), calls.to_string()]);
    if guests {
        cmd.args(["2", "guests"]);
    }
    let out = run(cmd.env("MTCP_SENDPKT_CONF", conf()).env(
        "MTCP_SENDPKT_EAL_ARGS",
        format!("{} --vdev net_null0", eal("shape")),
    ));
    mpps(&out)
}

/// The C sender on the traffic `shape`, one core.
fn c_shape(dir: &Path, shape: &str, payload: usize, calls: u64) -> f64 {
    let mut cmd = Command::new(dir.join("csender"));
    cmd.args([shape.to_owned(), payload.to_string(), calls.to_string()])
        .args(eal("cshape").split_whitespace())
        .args(["-l", "0", "--vdev", "net_null0"]);
    mpps(&run(&mut cmd))
}

/// The configuration every case of ours runs with: the routes and ARP entries of the shapes.
fn conf() -> PathBuf {
    root().join("benches/bench.conf")
}

/// One of the C DPDK programs (`naive`, `csender`, `creplay`) on net_null, on CPU `cpu`.
fn c_command(dir: &Path, name: &str, payload: usize, calls: u64, cpu: &str) -> Command {
    let mut cmd = Command::new(dir.join(name));
    if name.starts_with("csender") {
        cmd.arg("mos");
    }
    cmd.args([payload.to_string(), calls.to_string()])
        .args(eal(&format!("{name}{cpu}")).split_whitespace())
        .args(["-l", cpu, "--vdev", "net_null0"]);
    cmd
}

/// One of the C DPDK programs on net_null, one core.
fn c_program(dir: &Path, name: &str, payload: usize, calls: u64) -> f64 {
    mpps(&run(&mut c_command(dir, name, payload, calls, "0")))
}

/// Two copies of a C program at once, one on each of CPUs 0 and 1 (separate processes, nothing
/// shared but the machine): the sum of their rates. Against one copy alone, what two cores give
/// on this machine for this work: the ceiling for our 2-core scaling.
fn c_program_pair(dir: &Path, name: &str, payload: usize, calls: u64) -> f64 {
    let spawn = |cpu: &str| {
        c_command(dir, name, payload, calls, cpu)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn("0"), spawn("1"));
    [a, b]
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "{name} failed:\n{text}");
            mpps(&text)
        })
        .sum()
}

/// testpmd's own Tx-pps readings (one a second), median of those after the first.
fn testpmd(mode: &str, payload: usize, secs: u64) -> f64 {
    let len = 66 + payload;
    let out = Command::new("timeout")
        .args(["-s", "INT", &secs.to_string(), "dpdk-testpmd"])
        .args(eal("testpmd").split_whitespace())
        .args([
            "-l",
            "0-1",
            "--vdev",
            "net_null0",
            "--",
            &format!("--forward-mode={mode}"),
        ])
        .args([
            format!("--txpkts={len}"),
            "--total-num-mbufs=8192".into(),
            "--stats-period=1".into(),
        ])
        .args(["--auto-start", "--no-lsc-interrupt"])
        .output()
        .expect("dpdk-testpmd (Debian package dpdk-dev)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut pps: Vec<f64> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Tx-pps:"))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .skip(1)
        .collect();
    assert!(!pps.is_empty(), "no Tx-pps from testpmd:\n{text}");
    median(&mut pps) / 1e6
}

/// A veth pair whose far end lives in a namespace of its own (so frames go nowhere else).
struct Veth {
    ns: String,
    near: String,
}

impl Veth {
    fn new() -> Option<Self> {
        let id = std::process::id() % 100_000;
        let (ns, near, far) = (
            format!("mtcpbench{id}"),
            format!("mtcpbx{id}"),
            format!("mtcpby{id}"),
        );
        let ok = |args: &[&str]| {
            Command::new(args[0])
                .args(&args[1..])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let v = Veth {
            ns: ns.clone(),
            near: near.clone(),
        };
        let made = ok(&["ip", "netns", "add", &ns])
            && ok(&["ip", "link", "add", &near, "type", "veth", "peer", "name", &far])
            && ok(&["ip", "link", "set", &far, "netns", &ns])
            && ok(&["ip", "netns", "exec", &ns, "ip", "link", "set", &far, "up"])
            && ok(&["ip", "link", "set", &near, "up"]);
        made.then_some(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.near]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

/// What the capture holds, for the table's label.
struct CaptureInfo {
    path: PathBuf,
    packets: usize,
    flows: usize,
    without_timestamp: usize,
    sizes: (usize, usize),
}

/// A capture of real traffic, made here: a Linux transfer between two network namespaces over
/// a veth pair (many flows of mixed sizes, some from a host with TCP timestamps off), taken with
/// `dumpcap` on the receiving end, GSO limited to one segment so every packet is one a wire
/// carries. Written for the C programs as records (2-byte little-endian length, then the IPv4
/// packet). `None` without namespaces (not root) or `dumpcap`.
fn capture(dir: &Path) -> Option<CaptureInfo> {
    let id = std::process::id() % 100_000;
    let (a, b) = (format!("mtcpcapa{id}"), format!("mtcpcapb{id}"));
    let ok = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    struct Cleanup(Vec<String>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for ns in &self.0 {
                let _ = Command::new("ip").args(["netns", "pids", ns]).output().map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        let _ = Command::new("kill").arg(pid).output();
                    }
                });
                let _ = Command::new("ip").args(["netns", "del", ns]).output();
            }
        }
    }
    let _cleanup = Cleanup(vec![a.clone(), b.clone()]);
    let made = ok(&["ip", "netns", "add", &a])
        && ok(&["ip", "netns", "add", &b])
        && ok(&[
            "ip", "link", "add", "cap0", "netns", &a, "type", "veth", "peer", "name", "cap1", "netns", &b,
        ])
        && ok(&["ip", "-n", &a, "addr", "add", "10.1.0.1/24", "dev", "cap0"])
        && ok(&["ip", "-n", &b, "addr", "add", "10.1.0.2/24", "dev", "cap1"])
        && ok(&["ip", "-n", &a, "link", "set", "cap0", "up", "gso_max_segs", "1"])
        && ok(&["ip", "-n", &b, "link", "set", "cap1", "up", "gso_max_segs", "1"]);
    if !made {
        return None;
    }
    let script = root().join("benches/transfer.py").display().to_string();
    let mut server = Command::new("ip")
        .args([
            "netns", "exec", &b, "python3", &script, "server", "10.1.0.2", "8080",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take()?), &mut line).ok()?;
    let pcap = dir.join("capture.pcap");
    let mut dumpcap = Command::new("ip")
        .args(["netns", "exec", &b, "dumpcap", "-q", "-P", "-i", "cap1", "-w"])
        .arg(&pcap)
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // dumpcap has no "ready" line with -q: a first exchange until the file holds a packet.
    let started = std::time::Instant::now();
    while std::fs::metadata(&pcap).map_or(0, |m| m.len()) <= 24 && started.elapsed() < Duration::from_secs(10)
    {
        ok(&[
            "ip", "netns", "exec", &a, "python3", &script, "client", "10.1.0.2", "8080", "100",
        ]);
    }
    let fetch = |sizes: &[&str]| {
        let mut args = vec![
            "ip", "netns", "exec", &a, "python3", &script, "client", "10.1.0.2", "8080",
        ];
        args.extend_from_slice(sizes);
        ok(&args)
    };
    let ts = |on: &str| {
        ok(&[
            "ip",
            "netns",
            "exec",
            &a,
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv4.tcp_timestamps={on}"),
        ])
    };
    let fetched = fetch(&[
        "300000", "1000", "50000", "200", "120000", "7000", "15000", "600", "2500",
    ]) && ts("0")
        && fetch(&["200000", "3000", "90", "40000", "800"]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-INT", &dumpcap.id().to_string()])
        .output();
    let _ = dumpcap.wait();
    let _ = server.kill();
    let _ = server.wait();
    if !fetched {
        return None;
    }
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).ok()?).ok()?;
    let mut records = Vec::new();
    let mut flows = std::collections::BTreeSet::new();
    let (mut packets, mut without_timestamp, mut smallest, mut largest) = (0, 0, usize::MAX, 0);
    while let Some(Ok(p)) = reader.next_packet() {
        // IPv4 TCP packets, parsed by etherparse.
        let Ok(sliced) = etherparse::SlicedPacket::from_ethernet(&p.data) else {
            continue;
        };
        let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Tcp(tcp))) =
            (&sliced.net, &sliced.transport)
        else {
            continue;
        };
        let bytes = &p.data[14..14 + usize::from(ip.header().total_len())];
        records.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        records.extend_from_slice(bytes);
        packets += 1;
        smallest = smallest.min(14 + bytes.len());
        largest = largest.max(14 + bytes.len());
        let ends = [
            (ip.header().source(), tcp.source_port()),
            (ip.header().destination(), tcp.destination_port()),
        ];
        flows.insert((ends[0].min(ends[1]), ends[0].max(ends[1])));
        if !tcp
            .options_iterator()
            .any(|o| matches!(o, Ok(etherparse::TcpOptionElement::Timestamp(..))))
        {
            without_timestamp += 1;
        }
    }
    let path = dir.join("capture.records");
    std::fs::write(&path, records).ok()?;
    Some(CaptureInfo {
        path,
        packets,
        flows: flows.len(),
        without_timestamp,
        sizes: (smallest, largest),
    })
}

fn af_packet(dir: &Path, veth: &Veth, payload: usize, calls: u64) -> f64 {
    mpps(&run(Command::new(dir.join("afp")).args([
        veth.near.clone(),
        payload.to_string(),
        calls.to_string(),
    ])))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Instructions per frame the C sender spends outside the PMD: the whole program's count minus
/// net_null's TX function, from the difference of two runs so start-up cancels out.
fn c_sender_instructions(dir: &Path, shape: &str) -> f64 {
    let (n1, n2) = (100_000u64, 200_000u64);
    let run_one = |calls: u64| -> (u64, u64) {
        let out_file = dir.join(format!("callgrind.csender.{shape}.{calls}"));
        run(Command::new("valgrind")
            .args([
                "--tool=callgrind",
                &format!("--callgrind-out-file={}", out_file.display()),
            ])
            .arg(dir.join("csender-cg"))
            .args([shape, "0", &calls.to_string()])
            .args(eal("cgc").split_whitespace())
            .args(["-l", "0", "--vdev", "net_null0"]));
        let text = run(
            Command::new("callgrind_annotate").args(["--inclusive=yes", &out_file.display().to_string()])
        );
        let count = |pat: &str| -> u64 {
            text.lines()
                .find(|l| l.contains(pat))
                .and_then(|l| l.split_whitespace().next())
                .map(|n| n.replace(',', ""))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {pat} in callgrind output"))
        };
        // net_null's TX function is the one the burst calls, named by address only.
        let pmd = text
            .lines()
            .filter(|l| l.contains("librte_net_null"))
            .filter_map(|l| l.split_whitespace().next()?.replace(',', "").parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        (count("(below main) ["), pmd)
    };
    let (t1, p1) = run_one(n1);
    let (t2, p2) = run_one(n2);
    ((t2 - t1) - (p2 - p1)) as f64 / (n2 - n1) as f64
}

/// Instructions callgrind counts inside `function` (inclusive) for a run of `calls` calls, with
/// `env` set too (its values in the output file's name).
fn callgrind(dir: &Path, function: &str, shape: &str, burst: u32, calls: u64, env: &[(&str, &str)]) -> u64 {
    let tag: String = env.iter().map(|(_, v)| format!(".{v}")).collect();
    let out_file = dir.join(format!("callgrind.{function}.{shape}.{burst}{tag}.{calls}"));
    // The burst call's runs call mtcp_sendpkt_burst, 32 packets at a time.
    let mode: &[&str] = if function == "mtcp_sendpkt_burst" {
        &["burst"]
    } else {
        &[]
    };
    let out = run(Command::new("valgrind")
        // The library forks a child to check the EAL arguments on DPDK 25.07 and later: its
        // summary must not be read as the run's.
        .args(["--tool=callgrind", "--child-silent-after-fork=yes"])
        .arg(format!("--toggle-collect={function}"))
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(dir.join("ours-cg"))
        .args([shape, "0", &calls.to_string(), "1"])
        .args(mode)
        .env("MTCP_SENDPKT_CONF", conf())
        .env("MTCP_SENDPKT_BURST", burst.to_string())
        .envs(env.iter().copied())
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            format!("{} -l 0 --vdev net_null0", eal("cg")),
        ));
    out.lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no callgrind total in:\n{out}"))
}

/// Instructions per call outside the PMD: inside mtcp_sendpkt minus inside the TX burst (the
/// PMD, which also frees the mbufs), from the difference of two runs so start-up cancels out.
/// `shape` as `benches/c/bench_input.h` names them ("mos": the owner's quick path); `env`
/// settings to run with.
/// `entry`: the function called (`mtcp_sendpkt`, or `mtcp_sendpkt_burst` with 32 packets per
/// call).
fn instructions_per_call(
    dir: &Path,
    entry: &str,
    shape: &str,
    burst: u32,
    env: &[(&str, &str)],
) -> (f64, f64) {
    let (n1, n2) = (50_000, 100_000);
    let cg = |function, calls| callgrind(dir, function, shape, burst, calls, env);
    let total = cg(entry, n2) - cg(entry, n1);
    let pmd = cg("shim_rte_eth_tx_burst", n2) - cg("shim_rte_eth_tx_burst", n1);
    let per = |x: u64| x as f64 / (n2 - n1) as f64;
    (per(total - pmd), per(pmd))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing we need to honour.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds = env_num("BENCH_ROUNDS", 5);
    let calls = env_num("BENCH_CALLS", 5_000_000);
    let tp_secs = env_num("BENCH_TESTPMD_SECS", 4);
    // Beside the library measured: each DPDK (`make bench DPDK=...`) has its own.
    let dir = lib_dir().parent().expect("target").join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    build(&dir);
    let veth = Veth::new();
    if veth.is_none() {
        eprintln!("bench: no network namespaces (needs root): the AF_PACKET case is skipped");
    }

    // case name -> size label -> samples
    let mut samples: BTreeMap<(usize, &str), BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    let mut add = |order: usize, case: &'static str, size: &'static str, v: f64| {
        samples
            .entry((order, case))
            .or_default()
            .entry(size)
            .or_default()
            .push(v);
    };
    const OURS: &str = "ours, default settings (MTCP_SENDPKT_BURST=32)";
    const OURS_1: &str = "ours, MTCP_SENDPKT_BURST=1 (one tx_burst per call)";
    const OURS_CALL: &str = "ours, mtcp_sendpkt_burst (32 packets per call)";
    const C_SENDER: &str = "hand-written C sender, same work (benches/c/c_sender.c)";
    const TXONLY: &str = "dpdk-testpmd txonly (template copy, no TCP checksum)";
    const FLOWGEN: &str = "dpdk-testpmd flowgen (per-packet IPv4 checksum)";
    const NAIVE: &str = "naive per-packet DPDK sender (mOS-like)";
    const AFP: &str = "Linux AF_PACKET sendto on a veth";
    // The scaling cases run 4x as many calls: a 2-thread run of the default count lasts about a
    // tenth of a second, where one scheduler hiccup on either CPU shows as a 20% loss.
    const ONE_LONG: &str = "ours, default settings, 1 thread (4x the calls)";
    const TWO: &str = "ours, default settings, 2 threads x 2 mctx (2 cores, 4x the calls)";
    const C_ONE_LONG: &str = "hand-written C sender, 1 process (4x the calls)";
    const C_TWO: &str = "hand-written C sender, 2 processes on 2 cores (sum, 4x the calls)";
    const TAP: &str = "ours, pcapng tap on (MTCP_SENDPKT_PCAPNG=/dev/null)";
    // The replay of a held frame (mtcp_sendpkt_raw, the mmTLS fork's call), beside
    // mtcp_sendpkt's frame of the same size.
    const REPLAY: &str = "ours, mtcp_sendpkt_raw replaying a held frame";
    const C_REPLAY: &str = "hand-written C replay, same work (benches/c/c_replay.c)";
    const SENDPKT_SAME: &str = "ours, mtcp_sendpkt, a frame of the same size";
    const REPLAY_SIZES: [(&str, usize); 3] = [("66 B", 0), ("590 B", 524), ("1514 B", 1448)];
    let mut replay: BTreeMap<(usize, &str), BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    // The traffic a middlebox really sends: (label, shape, payload, guests), ours against the C
    // sender on the same packets, one core. Guests: 2 threads on one mctx (the C sender, one
    // thread, is what that one TX queue can do).
    let captured = capture(&dir);
    if captured.is_none() {
        eprintln!("bench: no capture (needs root, network namespaces, dumpcap): its case is skipped");
    }
    let capture_label = captured.as_ref().map(|c| {
        format!(
            "replay of a capture ({} packets, {} flows, {} without Timestamp, {}-{} B)",
            c.packets, c.flows, c.without_timestamp, c.sizes.0, c.sizes.1
        )
    });
    let mut shapes: Vec<(String, String, usize, bool)> = vec![
        ("ACK, `pkt_info` as mOS fills it".into(), "mos".into(), 0, false),
        (
            "ACK, `pkt_info` hand-built (`ip_len` 0)".into(),
            "hand".into(),
            0,
            false,
        ),
        (
            "ACK, no ARP entry (MAC from `ethh`)".into(),
            "noarp".into(),
            0,
            false,
        ),
        (
            "ACK, a SACK block before its Timestamp (the full path's checks)".into(),
            "sack".into(),
            0,
            false,
        ),
        ("data segment, 100 B".into(), "mos".into(), 100, false),
        ("data segment, 536 B".into(), "mos".into(), 536, false),
        ("data segment, 1448 B".into(), "mos".into(), 1448, false),
        (
            "ACKs of 4 flows in turn, 8 next hops".into(),
            "flows4".into(),
            0,
            false,
        ),
        (
            "ACKs of 64 flows in turn, 8 next hops".into(),
            "flows64".into(),
            0,
            false,
        ),
        (
            "ACKs of 2000 flows in turn, 8 next hops".into(),
            "flows2000".into(),
            0,
            false,
        ),
        (
            "ACKs of 2000 flows in turn to random clients, one next hop".into(),
            "random2000".into(),
            0,
            false,
        ),
        (
            "ACK, guests (2 threads, one `mctx`)".into(),
            "mos".into(),
            0,
            true,
        ),
    ];
    if let (Some(c), Some(label)) = (&captured, &capture_label) {
        shapes.push((label.clone(), c.path.display().to_string(), 0, false));
    }
    // shape index -> (ours, C sender) per round
    let mut shape_samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); shapes.len()];
    for round in 0..rounds {
        eprintln!("bench: round {}/{rounds}", round + 1);
        for &(size, payload) in &SIZES {
            add(0, OURS, size, ours(&dir, payload, 32, 1, calls));
            add(1, OURS_1, size, ours(&dir, payload, 1, 1, calls));
            add(1, OURS_CALL, size, ours_burst_call(&dir, payload, calls));
            add(2, C_SENDER, size, c_program(&dir, "csender", payload, calls));
            add(3, TXONLY, size, testpmd("txonly", payload, tp_secs));
            add(4, FLOWGEN, size, testpmd("flowgen", payload, tp_secs));
            add(5, NAIVE, size, c_program(&dir, "naive", payload, calls));
            if let Some(v) = &veth {
                add(6, AFP, size, af_packet(&dir, v, payload, calls / 5));
            }
        }
        add(7, ONE_LONG, "66 B", ours(&dir, 0, 32, 1, 4 * calls));
        add(7, TWO, "66 B", ours(&dir, 0, 32, 2, 4 * calls));
        add(7, C_ONE_LONG, "66 B", c_program(&dir, "csender", 0, 4 * calls));
        add(7, C_TWO, "66 B", c_program_pair(&dir, "csender", 0, 4 * calls));
        for &(size, payload) in &SIZES {
            let tap = [("MTCP_SENDPKT_PCAPNG", "/dev/null")];
            add(8, TAP, size, ours_with(&dir, payload, 32, 1, calls, &tap));
        }
        for (k, (_, shape, payload, guests)) in shapes.iter().enumerate() {
            let o = ours_shape(&dir, shape, *payload, *guests, calls);
            let c = c_shape(&dir, shape, *payload, calls);
            shape_samples[k].push((o, c));
        }
        for &(size, payload) in &REPLAY_SIZES {
            for (order, case, v) in [
                (0, REPLAY, ours_replay(&dir, payload, calls)),
                (1, C_REPLAY, c_program(&dir, "creplay", 66 + payload, calls)),
                (2, SENDPKT_SAME, ours(&dir, payload, 32, 1, calls)),
            ] {
                replay
                    .entry((order, case))
                    .or_default()
                    .entry(size)
                    .or_default()
                    .push(v);
            }
        }
    }
    drop(veth);

    let med = |order: usize, case: &str, size: &str| -> Option<f64> {
        let s = samples
            .iter()
            .find(|((o, c), _)| *o == order && *c == case)?
            .1
            .get(size)?;
        Some(median(&mut s.clone()))
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = String::from_utf8_lossy(
        &Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_owned();
    let mut t = String::new();
    t += &format!("Measured {date} on {nproc} cores, {cpu}; `make bench` ({rounds} rounds, medians; Mpps, million frames per second)\n\n");
    t += "| case | 66 B | 1514 B |\n|---|---|---|\n";
    for ((order, case), sizes) in &samples {
        let cell = |s: &str| {
            sizes
                .get(s)
                .map_or("".to_owned(), |v| format!("{:.2}", median(&mut v.clone())))
        };
        let _ = order;
        t += &format!("| {case} | {} | {} |\n", cell("66 B"), cell("1514 B"));
    }
    let ours_default = |s| med(0, OURS, s);
    let ratio = |a: Option<f64>, b: Option<f64>| {
        a.zip(b)
            .map_or("n/a".to_owned(), |(a, b)| format!("{:.2}x", a / b))
    };
    t += "\n| ratio | 66 B | 1514 B |\n|---|---|---|\n";
    for (name, order, case) in [
        ("ours / hand-written C sender", 2, C_SENDER),
        ("ours / testpmd txonly", 3, TXONLY),
        ("ours / testpmd flowgen", 4, FLOWGEN),
        ("ours / naive per-packet DPDK", 5, NAIVE),
        ("ours / AF_PACKET", 6, AFP),
    ] {
        t += &format!(
            "| {name} | {} | {} |\n",
            ratio(ours_default("66 B"), med(order, case, "66 B")),
            ratio(ours_default("1514 B"), med(order, case, "1514 B"))
        );
    }
    let call = |s| {
        samples
            .iter()
            .find(|((_, c), _)| *c == OURS_CALL)
            .and_then(|(_, v)| v.get(s))
            .map(|v| median(&mut v.clone()))
    };
    t += &format!(
        "| ours with mtcp_sendpkt_burst / testpmd txonly | {} | {} |\n",
        ratio(call("66 B"), med(3, TXONLY, "66 B")),
        ratio(call("1514 B"), med(3, TXONLY, "1514 B"))
    );
    t += &format!(
        "| ours with mtcp_sendpkt_burst / ours, one call per packet | {} | {} |\n",
        ratio(call("66 B"), ours_default("66 B")),
        ratio(call("1514 B"), ours_default("1514 B"))
    );
    t += &format!(
        "| ours with BURST=1 / hand-written C sender | {} | {} |\n",
        ratio(med(1, OURS_1, "66 B"), med(2, C_SENDER, "66 B")),
        ratio(med(1, OURS_1, "1514 B"), med(2, C_SENDER, "1514 B"))
    );
    t += &format!(
        "| ours with the pcapng tap on / off | {} | {} |\n",
        ratio(med(8, TAP, "66 B"), ours_default("66 B")),
        ratio(med(8, TAP, "1514 B"), ours_default("1514 B"))
    );
    t += &format!(
        "| 2 cores / 1 core (ours, default) | {} | |\n",
        ratio(med(7, TWO, "66 B"), med(7, ONE_LONG, "66 B"))
    );
    t += &format!(
        "| 2 cores / 1 core (two C senders: this machine's ceiling) | {} | |\n",
        ratio(med(7, C_TWO, "66 B"), med(7, C_ONE_LONG, "66 B"))
    );
    let rmed = |order: usize, size: &str| -> Option<f64> {
        let s = replay.iter().find(|((o, _), _)| *o == order)?.1.get(size)?;
        Some(median(&mut s.clone()))
    };
    t += "\nReplay of a held frame (the mmTLS fork's `mtcp_sendpkt_raw`: copy, rewrite 12 bytes):\n\n";
    t += "| case | 66 B | 590 B | 1514 B |\n|---|---|---|---|\n";
    for (order, case) in replay.keys() {
        let cell = |s| rmed(*order, s).map_or(String::new(), |v| format!("{v:.2}"));
        t += &format!(
            "| {case} | {} | {} | {} |\n",
            cell("66 B"),
            cell("590 B"),
            cell("1514 B")
        );
    }
    for (name, other) in [
        ("replay / hand-written C replay", 1),
        ("replay / mtcp_sendpkt at the same size", 2),
    ] {
        let r = |s| ratio(rmed(0, s), rmed(other, s));
        t += &format!("| {name} | {} | {} | {} |\n", r("66 B"), r("590 B"), r("1514 B"));
    }
    t += "\nTraffic shapes (benches/c/bench_input.h, benches/bench.conf): ours against the hand-written \
          C sender on the same packets (one core; the C sender finds each destination's MAC with \
          `rte_lpm` after a last-destination check). Ratio: median and range of the rounds' ratios.\n\n";
    t += "| case | ours | C sender | ours / C | range |\n|---|---|---|---|---|\n";
    for ((label, ..), v) in shapes.iter().zip(&shape_samples) {
        let mut o: Vec<f64> = v.iter().map(|s| s.0).collect();
        let mut c: Vec<f64> = v.iter().map(|s| s.1).collect();
        let mut r: Vec<f64> = v.iter().map(|s| s.0 / s.1).collect();
        let (lo, hi) = r.iter().fold((f64::MAX, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
        t += &format!(
            "| {label} | {:.2} | {:.2} | {:.2}x | {lo:.2}-{hi:.2}x |\n",
            median(&mut o),
            median(&mut c),
            median(&mut r)
        );
    }
    let (default_instr, default_pmd) = instructions_per_call(&dir, "mtcp_sendpkt", "mos", 32, &[]);
    // The full path alone: with the packet's own TCP flags (the mmTLS fork's setting) the quick
    // path never applies.
    let (full_instr, full_pmd) = instructions_per_call(
        &dir,
        "mtcp_sendpkt",
        "mos",
        32,
        &[("MTCP_SENDPKT_TCP_FLAGS", "packet")],
    );
    // Options other than mOS's NOP, NOP, Timestamp first: the full path's checks read them, then
    // the quick path stages the frame.
    let (sack_instr, sack_pmd) = instructions_per_call(&dir, "mtcp_sendpkt", "sack", 32, &[]);
    // Many destinations: 2000 in a row (which the route cache holds) and 2000 random ones (a
    // cache miss on about two calls in five, looked up in the tables on the quick path).
    let (miss_instr, miss_pmd) = instructions_per_call(&dir, "mtcp_sendpkt", "flows2000", 32, &[]);
    let (rand_instr, rand_pmd) = instructions_per_call(&dir, "mtcp_sendpkt", "random2000", 32, &[]);
    let (burst1_instr, burst1_pmd) = instructions_per_call(&dir, "mtcp_sendpkt", "mos", 1, &[]);
    let (call_instr, call_pmd) = instructions_per_call(&dir, "mtcp_sendpkt_burst", "mos", 32, &[]);
    let c_instr = c_sender_instructions(&dir, "mos");
    let c_miss_instr = c_sender_instructions(&dir, "flows2000");
    let c_rand_instr = c_sender_instructions(&dir, "random2000");
    t += &format!(
        "\nInstructions per frame outside the PMD (callgrind, payload 0): ours {default_instr:.0} \
         (+{default_pmd:.0} in the PMD) on the quick path (`pkt_info` as mOS fills it), \
         {full_instr:.0} (+{full_pmd:.0}) on the full path (the same call with \
         `MTCP_SENDPKT_TCP_FLAGS=packet`, where the quick path never applies), \
         {sack_instr:.0} (+{sack_pmd:.0}) for the ACK with a SACK block before its Timestamp (the \
         full path's checks, then the quick path), {miss_instr:.0} (+{miss_pmd:.0}) for 2000 \
         flows in turn over 8 next hops, {rand_instr:.0} (+{rand_pmd:.0}) for 2000 random \
         clients behind one (a route cache miss on about two calls in five), \
         ours with BURST=1 {burst1_instr:.0} (+{burst1_pmd:.0}), `mtcp_sendpkt_burst` with 32 \
         packets per call {call_instr:.0} (+{call_pmd:.0}); the hand-written C sender \
         {c_instr:.0}, {c_miss_instr:.0} for the 2000 flows and {c_rand_instr:.0} for the 2000 \
         random clients.\n"
    );
    println!("\n{t}");
    std::fs::write(dir.join("bench.md"), &t).unwrap();
    std::thread::sleep(Duration::from_millis(10));
}
