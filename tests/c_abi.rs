//! The library as a C program sees it: `tests/c/abi_check.c` compiled with
//! `-Wall -Wextra -Werror -pedantic` against `include/mtcp_sendpkt.h` (layout asserted with
//! `_Static_assert`), linked once against the shared and once against the static library, run on a
//! `net_pcap` port; the frames it sent are checked here. The header alone also compiles as strict
//! C99 and as C++.

mod support;

use support::cbuild::*;
use support::*;

/// Checks the frames abi_check.c's make_packet() built for frames 0..n.
pub fn check_abi_check_frames(pcap: &std::path::Path) {
    let frames = read_pcap(pcap);
    assert_eq!(frames.len(), 5);
    for (i, f) in frames.iter().enumerate() {
        let payload = format!("frame {i}");
        let ts = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        let mut input = Observed::new([10, 0, 0, 10], 1000 + i as u32, &ts, payload.as_bytes());
        input.bytes[4..6].copy_from_slice(&(0x1000 + i as u16).to_be_bytes());
        input.bytes[20 + 8..20 + 12].copy_from_slice(&(2000 + i as u32).to_be_bytes());
        input.bytes[20 + 14..20 + 16].copy_from_slice(&512u16.to_be_bytes());
        check_frame(f, &input, ARP_10, f[6..12].try_into().unwrap());
    }
}

fn run_abi_check(linkage: &str) {
    let dir = test_dir(&format!("c_abi_{linkage}"));
    let exe = dir.join("abi_check");
    let mut args = strings(&STRICT);
    args.extend([
        include_flag(),
        c_source("abi_check.c"),
        "-o".into(),
        exe.display().to_string(),
    ]);
    args.extend(if linkage == "shared" {
        link_shared()
    } else {
        link_static()
    });
    cc(&args);
    let pcap = dir.join("out.pcap");
    let out = run(&exe, &pcap_env(&format!("c{linkage}"), &dir, &pcap));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("5 frames sent, 0 failures"), "{stdout}");
    check_abi_check_frames(&pcap);
}

#[test]
fn c_program_linked_against_the_shared_library() {
    run_abi_check("shared");
}

#[test]
fn c_program_linked_against_the_static_library() {
    run_abi_check("static");
}

/// Our header alone brings what mOS's headers would: code written for mOS, which uses the
/// kernel's `struct tcphdr` names (`source`, `doff`, `ece`, `cwr`) and `struct ethhdr`, compiles
/// with it as C99, C11 and C++ with warnings as errors and no feature-test macro.
#[test]
fn header_alone_compiles_as_c99_c11_and_cpp() {
    let dir = test_dir("header_alone");
    let c = dir.join("only_header.c");
    std::fs::write(
        &c,
        r#"#include "mtcp_sendpkt.h"
static int mos_style(struct pkt_info *p, struct tcphdr *th, struct ethhdr *eh)
{
	th->source = htons(1);
	th->doff = 5;
	th->ece = 1;
	th->cwr = 0;
	eh->h_proto = htons(ETH_P_IP);
	p->tcph = th;
	p->ethh = eh;
	p->iph = NULL;
	return mtcp_sendpkt(NULL, 0, p);
}
int main(void)
{
	struct pkt_info p;
	struct tcphdr th;
	struct ethhdr eh;
	return mos_style(&p, &th, &eh) == -1 ? 0 : 1;
}
"#,
    )
    .unwrap();
    let languages: [(&str, &[&str]); 4] = [
        ("cc", &["-std=gnu99"]),
        ("cc", &["-std=c99", "-pedantic"]),
        ("cc", &["-std=gnu11"]),
        ("c++", &["-x", "c++", "-std=c++11", "-pedantic"]),
    ];
    for (i, (compiler, lang)) in languages.iter().enumerate() {
        let mut args = strings(&["-Wall", "-Wextra", "-Werror"]);
        args.extend(strings(lang));
        args.extend([
            include_flag(),
            c.display().to_string(),
            "-x".into(),
            "none".into(),
            "-o".into(),
            dir.join(format!("alone{i}")).display().to_string(),
        ]);
        args.extend(link_shared());
        tool(compiler, &args);
        // Our library answers the NULL mctx with -1 (EACCES): the program exits 0.
        let status = std::process::Command::new(dir.join(format!("alone{i}")))
            .status()
            .unwrap();
        assert!(status.success(), "{compiler} {lang:?}");
    }
}

/// Frames still staged when a C program ends are on the wire: by `exit()` and by returning from
/// `main`.
#[test]
fn frames_staged_when_a_c_program_ends_are_sent() {
    let dir = test_dir("exit_staged");
    let exe = dir.join("exit_staged");
    let mut args = strings(&STRICT);
    args.extend([
        include_flag(),
        c_source("exit_staged.c"),
        "-o".into(),
        exe.display().to_string(),
    ]);
    args.extend(link_shared());
    cc(&args);
    for how in ["exit", "return"] {
        let pcap = dir.join(format!("{how}.pcap"));
        let mut env = pcap_env(&format!("exit{how}"), &dir, &pcap);
        // Overridden so that the frames are still staged when the process ends: exit must send them.
        env.push(("MTCP_SENDPKT_BURST".into(), "64".into()));
        env.push(("MTCP_SENDPKT_FLUSH_US".into(), "1000000".into()));
        let out = std::process::Command::new(&exe)
            .arg(how)
            .envs(env)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{how}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("10 frames staged"), "{stdout}");
        assert_eq!(read_pcap(&pcap).len(), 10, "staged frames flushed at {how}");
    }
}
