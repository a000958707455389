//! The library as a C program sees it: `tests/c/abi_check.c` compiled with
//! `-Wall -Wextra -Werror -pedantic` against `include/mtcp_sendpkt.h` (layout asserted with
//! `_Static_assert`), linked once against the shared and once against the static library, run on a
//! `net_pcap` port; the frames it sent are checked here. The header alone also compiles as strict
//! C99 and as C++.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>, where cargo left libmtcp_sendpkt.{so,a} for this test run.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn pkg_config_libs() -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--libs", "libdpdk"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn cc(args: &[&str], extra: &[String]) {
    let out = Command::new("cc").args(args).args(extra).output().expect("cc");
    assert!(
        out.status.success(),
        "cc {args:?} {extra:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const STRICT: [&str; 5] = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"];

fn build(dir: &Path, linkage: &str) -> PathBuf {
    let src = manifest_dir().join("tests/c/abi_check.c");
    let inc = format!("-I{}", manifest_dir().join("include").display());
    let exe = dir.join(format!("abi_check_{linkage}"));
    let lib = lib_dir();
    let mut args: Vec<String> = STRICT.iter().map(|s| s.to_string()).collect();
    args.extend([
        inc,
        src.display().to_string(),
        "-o".into(),
        exe.display().to_string(),
    ]);
    match linkage {
        "shared" => args.extend([
            format!("-L{}", lib.display()),
            format!("-Wl,-rpath,{}", lib.display()),
            "-lmtcp_sendpkt".into(),
        ]),
        _ => {
            // The README's static link line.
            args.push(lib.join("libmtcp_sendpkt.a").display().to_string());
            args.extend(pkg_config_libs());
            args.extend(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"].map(String::from));
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    cc(&refs, &[]);
    exe
}

fn run_c_program(linkage: &str) {
    let dir = test_dir(&format!("c_abi_{linkage}"));
    std::fs::write(dir.join("mos.conf"), CONF).unwrap();
    let exe = build(&dir, linkage);
    let pcap = dir.join("out.pcap");
    let out = Command::new(&exe)
        .env("MTCP_SENDPKT_CONF", dir.join("mos.conf"))
        .env(
            "MTCP_SENDPKT_EAL_ARGS",
            eal_args(
                &format!("c{linkage}"),
                &format!("--vdev net_pcap0,tx_pcap={}", pcap.display()),
            ),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 frames sent, 0 failures"), "{stdout}");
    let frames = read_pcap(&pcap);
    assert_eq!(frames.len(), 5);
    for (i, f) in frames.iter().enumerate() {
        // What abi_check.c's make_packet() built for frame i.
        let payload = format!("frame {i}");
        let mut input = Observed::new(
            [10, 0, 0, 10],
            1000 + i as u32,
            &[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9],
            payload.as_bytes(),
        );
        input.bytes[4..6].copy_from_slice(&(0x1000 + i as u16).to_be_bytes());
        input.bytes[20 + 8..20 + 12].copy_from_slice(&(2000 + i as u32).to_be_bytes());
        input.bytes[20 + 14..20 + 16].copy_from_slice(&512u16.to_be_bytes());
        check_frame(f, &input, ARP_10, f[6..12].try_into().unwrap());
    }
}

#[test]
fn c_program_linked_against_the_shared_library() {
    run_c_program("shared");
}

#[test]
fn c_program_linked_against_the_static_library() {
    run_c_program("static");
}

#[test]
fn header_alone_compiles_as_strict_c99_and_as_cpp() {
    let dir = test_dir("header_alone");
    let inc = format!("-I{}", manifest_dir().join("include").display());
    let c = dir.join("only_header.c");
    std::fs::write(
        &c,
        "#include \"mtcp_sendpkt.h\"\nint main(void) { return mtcp_sendpkt(0, 0, 0) == -1 ? 0 : 1; }\n",
    )
    .unwrap();
    cc(
        &[
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-c",
            &inc,
            c.to_str().unwrap(),
            "-o",
        ],
        &[dir.join("c.o").display().to_string()],
    );
    let cpp = dir.join("only_header.cpp");
    std::fs::write(&cpp, "#include \"mtcp_sendpkt.h\"\nint main() { return mtcp_sendpkt(nullptr, 0, nullptr) == -1 ? 0 : 1; }\n").unwrap();
    let out = Command::new("c++")
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-c",
            &inc,
            cpp.to_str().unwrap(),
            "-o",
        ])
        .arg(dir.join("cpp.o"))
        .output()
        .expect("c++");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
