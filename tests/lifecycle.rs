//! The TX path when things go wrong, as a user meets it: a TX queue that stops draining (calls
//! get EAGAIN in bounded time, the process then costs almost no CPU, other ports keep going),
//! shutdown from another thread while senders run (every call that returned 0 reaches the port,
//! later calls get EACCES), `fork()` after initialization (the child sends nothing, the parent
//! is unaffected), and a Rust `Core` kept across shutdown (errors, not a dangling pool).

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut ru), 0);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn shutdown() {
    mtcp_sendpkt::mtcp_sendpkt_shutdown();
}

const TX_WAIT_US: u64 = 1000;

/// Two threads on one `mctx`, a `net_ring` nobody reads: each call that cannot be accepted
/// returns EAGAIN within TX_WAIT_US plus a small bound; once the senders stop, the process uses
/// under 5% of a CPU although frames stay stuck; every accepted frame stays accounted for.
#[test]
fn a_stalled_tx_queue_gives_eagain_in_bounded_time_and_then_costs_no_cpu() {
    Isolated::new("a_stalled_tx_queue_gives_eagain_in_bounded_time_and_then_costs_no_cpu")
        .with_port("--vdev net_ring0")
        // The default, pinned: the bounds below are computed from it.
        .env("MTCP_SENDPKT_TX_WAIT_US", TX_WAIT_US.to_string())
        .run(|_| {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 1);
            let senders: Vec<_> = (0..2)
                .map(|i| {
                    std::thread::spawn(move || {
                        let mut o = Observed::new([10, 0, 0, 10], i, &TS_OPTIONS, b"stall");
                        let pi = o.pkt_info();
                        let (mut accepted, mut refusals) = (0u64, Vec::new());
                        // Until each thread has seen EAGAIN a few times.
                        while refusals.len() < 5 {
                            let t = Instant::now();
                            match send(0, 1, &pi) {
                                Ok(()) => accepted += 1,
                                Err(libc::EAGAIN) => refusals.push(t.elapsed()),
                                Err(e) => panic!("errno {e}"),
                            }
                            assert!(accepted < 100_000, "never pushed back");
                        }
                        (accepted, refusals)
                    })
                })
                .collect();
            let results: Vec<(u64, Vec<Duration>)> = senders.into_iter().map(|t| t.join().unwrap()).collect();
            let mut took: Vec<Duration> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
            took.sort_unstable();
            let (median, slowest) = (took[took.len() / 2], took[took.len() - 1]);
            eprintln!("measured: EAGAIN after {took:?} (TX_WAIT_US {TX_WAIT_US})");
            // The library's bound is TX_WAIT_US plus one backoff sleep (200 µs); on a loaded
            // 2-CPU machine a sleep can return milliseconds late, so the median is held to a
            // tight bound and the worst to one that still catches an unbounded wait.
            let tx_wait = Duration::from_micros(TX_WAIT_US);
            assert!(
                median < tx_wait + Duration::from_millis(2),
                "median EAGAIN after {median:?}"
            );
            assert!(
                slowest < tx_wait + Duration::from_millis(100),
                "an EAGAIN took {slowest:?}"
            );

            let before = cpu_time();
            let wall = Instant::now();
            std::thread::sleep(Duration::from_secs(1));
            let used = cpu_time() - before;
            let share = used.as_secs_f64() / wall.elapsed().as_secs_f64();
            eprintln!(
                "measured: CPU while frames are stuck: {used:?} in 1 s ({:.2}%)",
                share * 100.0
            );
            assert!(share < 0.05, "{:.1}% of a CPU while nobody calls", share * 100.0);

            let st = stats(0);
            let accepted: u64 = results.iter().map(|r| r.0).sum();
            assert_eq!(st.accepted, accepted);
            assert_eq!(
                st.accepted,
                st.transmitted + st.pending,
                "every accepted frame accounted for"
            );
            assert!(st.pending > 0, "frames are stuck, not dropped");
        });
}

/// Port 0 stops draining; port 1 (same core context) keeps working: a partial batch for it
/// leaves within the flush interval, and another thread's frames for it are accepted.
#[test]
fn a_stalled_port_does_not_hold_up_another() {
    const TWO_PORTS: &str = "\
mos {
    netdev {
        dpdk0 0x0001
        dpdk1 0x0001
    }
    arp_table {
        10.0.0.0/16 90:e2:ba:7c:1f:a5
    }
    route_table {
        10.0.0.0/24 dpdk0
        10.0.1.0/24 dpdk1
    }
}
";
    let done = Isolated::new("a_stalled_port_does_not_hold_up_another")
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            eal_args(
                "a_stalled_port_does_not_hold_up_another",
                "--vdev net_ring0 --vdev net_pcap1,tx_pcap={dir}/port1.pcap",
            ),
        )
        .env("MTCP_SENDPKT_CONF", "{dir}/mos.conf")
        // The defaults, pinned: the bounds below are computed from them.
        .env("MTCP_SENDPKT_BURST", "32")
        .env("MTCP_SENDPKT_TX_WAIT_US", TX_WAIT_US.to_string())
        .file("mos.conf", TWO_PORTS)
        .run(|_| {
            let mut stalled = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
            let pi = stalled.pkt_info();
            while send(0, 1, &pi) != Err(libc::EAGAIN) {}
            let stuck = stats(0).pending;
            assert!(stuck > 0);

            // Five frames to port 1 from this thread (the owner), five from another thread.
            let mut ok = Observed::new([10, 0, 1, 20], 2, &TS_OPTIONS, b"");
            let pi = ok.pkt_info();
            for _ in 0..5 {
                send(0, 1, &pi).expect("port 1 accepts");
            }
            std::thread::spawn(|| {
                let mut o = Observed::new([10, 0, 1, 21], 3, &TS_OPTIONS, b"");
                let pi = o.pkt_info();
                for _ in 0..5 {
                    send(0, 1, &pi).expect("port 1 accepts from another thread too");
                }
            })
            .join()
            .unwrap();
            // A partial batch: the flusher sends it; port 0's stuck frames do not hold it up.
            let deadline = Instant::now() + Duration::from_millis(200);
            while stats(0).pending > stuck {
                assert!(
                    Instant::now() < deadline,
                    "port 1's frames wait behind port 0: {:?}",
                    stats(0)
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            shutdown();
        });
    if let Some((dir, _)) = done {
        assert_eq!(read_pcap(&dir.join("port1.pcap")).len(), 10, "port 1 got all ten");
    }
}

/// Senders running while another thread shuts down: every call that returned 0 has its frame
/// on the port (a pcap file, read back afterwards), every call after the shutdown fails with
/// EACCES, and nothing crashes. One sender owns the context, one hands frames over.
#[test]
fn shutdown_racing_senders_loses_no_accepted_frame() {
    let done = Isolated::new("shutdown_racing_senders_loses_no_accepted_frame")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        .run(|dir| {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 1);
            let accepted = Arc::new(AtomicU64::new(0));
            let senders: Vec<_> = (0..2)
                .map(|i| {
                    let accepted = accepted.clone();
                    std::thread::spawn(move || {
                        let mut o = Observed::new([10, 0, 0, 10], i, &TS_OPTIONS, b"racing");
                        let pi = o.pkt_info();
                        loop {
                            match send(0, 1, &pi) {
                                Ok(()) => accepted.fetch_add(1, Ordering::Relaxed),
                                Err(libc::EACCES) => return,
                                Err(libc::EAGAIN) => continue,
                                Err(e) => panic!("errno {e}"),
                            };
                        }
                    })
                })
                .collect();
            while accepted.load(Ordering::Relaxed) < 5_000 {
                std::thread::yield_now();
            }
            shutdown();
            for s in senders {
                s.join().unwrap();
            }
            let mut o = Observed::new([10, 0, 0, 10], 9, &TS_OPTIONS, b"late");
            assert_eq!(
                send(0, 1, &o.pkt_info()),
                Err(libc::EACCES),
                "a call after shutdown"
            );
            let n = accepted.load(Ordering::Relaxed);
            std::fs::write(dir.join("accepted"), n.to_string()).unwrap();
            eprintln!("measured: {n} calls accepted before the shutdown, all on the port");
        });
    if let Some((dir, _)) = done {
        let accepted: usize = std::fs::read_to_string(dir.join("accepted"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            read_pcap(&dir.join("out.pcap")).len(),
            accepted,
            "every accepted frame reached the port, none twice"
        );
    }
}

/// Shutdown from two threads at once, and a late caller hammering the library meanwhile: one
/// shutdown does the work, the other waits for it; nothing crashes.
#[test]
fn concurrent_shutdowns_and_late_callers_are_safe() {
    Isolated::new("concurrent_shutdowns_and_late_callers_are_safe")
        .with_port("--vdev net_null0")
        .run(|_| {
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), 1);
            let stop = Arc::new(AtomicBool::new(false));
            let caller = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"");
                    let pi = o.pkt_info();
                    let mut refused = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if send(0, 1, &pi) == Err(libc::EACCES) {
                            refused += 1;
                        }
                        let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
                        // SAFETY: valid mctx.
                        unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) };
                    }
                    refused
                })
            };
            std::thread::sleep(Duration::from_millis(20));
            let a = std::thread::spawn(shutdown);
            shutdown();
            a.join().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            stop.store(true, Ordering::Relaxed);
            assert!(
                caller.join().unwrap() > 0,
                "calls after shutdown fail with EACCES"
            );
            assert_eq!(mtcp_sendpkt::mtcp_sendpkt_cores(), -1);
        });
}

/// fork() after initialization, with a frame staged: in the child every call fails with EACCES
/// and its exit sends nothing (the staged frame would otherwise go out twice); the parent keeps
/// sending. The pcap holds exactly the parent's three frames.
///
/// One frame is on the wire before the fork: `net_pcap` then has written libpcap's buffered
/// file header out, so the child's `exit()` (which flushes every stdio buffer it inherited) has
/// nothing of the parent's to write twice; what it could add would be the library's doing.
#[test]
fn a_forked_child_sends_nothing_and_the_parent_is_unaffected() {
    let done = Isolated::new("a_forked_child_sends_nothing_and_the_parent_is_unaffected")
        .with_port("--vdev net_pcap0,tx_pcap={dir}/out.pcap")
        // Overridden so that a frame is still staged when the child forks (the default burst,
        // pinned, and a flush interval longer than the test).
        .env("MTCP_SENDPKT_BURST", "32")
        .env("MTCP_SENDPKT_FLUSH_US", "1000000")
        .run(|_| {
            let mut o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"parent");
            let pi = o.pkt_info();
            let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
            send(0, 1, &pi).unwrap();
            // SAFETY: valid mctx.
            assert_eq!(unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) }, 1);
            send(0, 1, &pi).unwrap();
            assert_eq!(stats(0).pending, 1, "staged at fork time");
            // SAFETY: the child only calls the library and exits.
            match unsafe { libc::fork() } {
                0 => {
                    // In the child: exit codes say what went wrong (no test harness here).
                    let code = match send(0, 1, &pi) {
                        Err(libc::EACCES) => {
                            // SAFETY: valid mctx.
                            let rc = unsafe { mtcp_sendpkt::mtcp_sendpkt_flush(&mut ctx) };
                            let errno = std::io::Error::last_os_error().raw_os_error();
                            if rc == -1 && errno == Some(libc::EACCES) {
                                0
                            } else {
                                3
                            }
                        }
                        Ok(()) => 1,
                        Err(_) => 2,
                    };
                    // exit(), not _exit(): the atexit flush runs and must send nothing.
                    // SAFETY: ends the child process.
                    unsafe { libc::exit(code) };
                }
                pid => {
                    assert!(pid > 0, "fork failed");
                    let mut status = 0;
                    // SAFETY: waits for our own child.
                    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                    assert!(libc::WIFEXITED(status), "child died: {status}");
                    assert_eq!(
                        libc::WEXITSTATUS(status),
                        0,
                        "child: 1 = call accepted, 2 = wrong errno, 3 = flush not refused"
                    );
                }
            }
            send(0, 1, &pi).expect("the parent keeps sending");
            shutdown();
            assert_eq!(stats_after_shutdown_unavailable(), libc::EACCES);
        });
    if let Some((dir, _)) = done {
        assert_eq!(
            read_pcap(&dir.join("out.pcap")).len(),
            3,
            "the parent's three frames, once each"
        );
    }
}

/// After shutdown, the stats call itself reports EACCES (the library is gone).
fn stats_after_shutdown_unavailable() -> i32 {
    let mut ctx = mtcp_sendpkt::mtcp_context { cpu: 0 };
    let mut st = mtcp_sendpkt::mtcp_sendpkt_stats::default();
    // SAFETY: valid pointers.
    let rc = unsafe { mtcp_sendpkt::mtcp_sendpkt_stats(&mut ctx, &mut st) };
    assert_eq!(rc, -1);
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

/// A Rust `Core` handle kept across shutdown: its calls fail with `NotInitialized` instead of
/// touching the freed mempool; its counters still read.
#[test]
fn a_core_kept_across_shutdown_gets_errors() {
    Isolated::new("a_core_kept_across_shutdown_gets_errors")
        .with_port("--vdev net_null0")
        .run(|_| {
            use mtcp_sendpkt::api::{self, TcpPacket};
            let core = api::core(0).unwrap();
            let o = Observed::new([10, 0, 0, 10], 1, &TS_OPTIONS, b"x");
            let packet = TcpPacket::from_ipv4(&o.bytes).unwrap();
            core.send(&packet).unwrap();
            shutdown();
            assert_eq!(core.send(&packet), Err(mtcp_sendpkt::SendError::NotInitialized));
            assert_eq!(core.flush(), Err(mtcp_sendpkt::SendError::NotInitialized));
            let st = core.stats();
            assert_eq!(
                (st.accepted, st.transmitted),
                (1, 1),
                "sent before the ports closed"
            );
            assert_eq!(api::free_mbufs(), Err(mtcp_sendpkt::SendError::NotInitialized));
        });
}
