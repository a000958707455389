//! The three ways an existing mOS middlebox takes this library, each done as a user would:
//! linking (shared through pkg-config from an installed prefix, static, against mOS's own
//! declarations, beside mOS's headers, instead of mOS's static archive), `LD_PRELOAD`, and the
//! exported symbol list.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use support::cbuild::*;
use support::*;

/// Checks the three frames mos_middlebox.c sends.
fn check_mos_middlebox_frames(pcap: &Path) {
    let frames = read_pcap(pcap);
    assert_eq!(frames.len(), 3, "three frames on the wire");
    check_acks(&frames);
}

/// The three ACKs of mos_middlebox.c.
fn check_acks(frames: &[Vec<u8>]) {
    for (i, f) in frames.iter().enumerate() {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("not TCP")
        };
        assert_eq!((t.destination_port(), t.sequence_number()), (80, 500 + i as u32));
        assert_eq!(
            t.checksum(),
            t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap()
        );
    }
}

fn mos_include() -> String {
    format!("-I{}", manifest_dir().join("tests/c/mos").display())
}

/// The languages a middlebox written for mOS's headers is compiled as, each with
/// `-Wall -Wextra -Werror`: (compiler, flags).
const LANGUAGES: [(&str, &[&str]); 4] = [
    ("cc", &["-std=gnu99"]),
    ("cc", &["-std=gnu11"]),
    ("cc", &["-std=c11", "-pedantic"]),
    ("c++", &["-x", "c++", "-std=c++11", "-pedantic"]),
];

/// Compiles mos_middlebox.c with `compiler` and `flags` and links it with `link`.
fn build_mos_middlebox_as(
    dir: &Path,
    name: &str,
    compiler: &str,
    flags: &[&str],
    link: Vec<String>,
) -> PathBuf {
    let exe = dir.join(name);
    let mut args = strings(&["-Wall", "-Wextra", "-Werror"]);
    args.extend(strings(flags));
    args.extend([
        mos_include(),
        c_source("mos_middlebox.c"),
        // Back to the linker's default language for what follows (`-x c++` applies onwards).
        "-x".into(),
        "none".into(),
        "-o".into(),
        exe.display().to_string(),
    ]);
    args.extend(link);
    tool(compiler, &args);
    exe
}

/// Compiles mos_middlebox.c as strict C11 with `flags` and links it with `link`.
fn build_mos_middlebox(dir: &Path, name: &str, flags: &[&str], link: Vec<String>) -> PathBuf {
    let mut all = strings(&STRICT);
    all.extend(strings(flags));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    build_mos_middlebox_as(dir, name, "cc", &all, link)
}

#[test]
fn a_middlebox_built_against_mos_declarations_only_works() {
    let dir = test_dir("mos_declarations_only");
    let exe = build_mos_middlebox(&dir, "box", &[], link_shared());
    let pcap = dir.join("out.pcap");
    let out = run(&exe, &pcap_env("mosdecl", &dir, &pcap));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mos_middlebox: done"));
    check_mos_middlebox_frames(&pcap);
}

/// mOS's headers (stand-ins with the real include lines: mtcp_api.h, mtcp_epoll.h, mos_api.h,
/// the kernel's `struct tcphdr` and `struct ethhdr`), then ours: compiles as C99, C11 and C++
/// with warnings as errors, and each build sends.
#[test]
fn our_header_after_mos_headers_compiles_and_works() {
    let dir = test_dir("mos_headers_then_ours");
    for (i, (compiler, lang)) in LANGUAGES.iter().enumerate() {
        let mut flags = vec!["-DWITH_MTCP_SENDPKT_H".to_string(), include_flag()];
        flags.extend(strings(lang));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let exe = build_mos_middlebox_as(&dir, &format!("box{i}"), compiler, &flags, link_shared());
        let pcap = dir.join(format!("out{i}.pcap"));
        let out = run(&exe, &pcap_env(&format!("moshdr{i}"), &dir, &pcap));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("stats say 3 transmitted"),
            "{compiler} {lang:?}"
        );
        check_mos_middlebox_frames(&pcap);
    }
}

/// The mmTLS fork's `mos_api.h` declares `int mtcp_sendpkt_raw(mctx_t, int, uint8_t *,
/// uint16_t)`; its middlebox replays frames it held back with it. Built against that header alone
/// and linked with ours (it used to die with SIGSEGV on the first call: our call of that name took
/// a `pkt_info`), and with ours included after it (C99, C11, C++, warnings as errors): the
/// replayed frame is on the wire byte for byte but for its two MACs (the ARP entry's, the
/// port's), and a frame toward an address with no route or ARP entry gets -1 and EHOSTUNREACH.
#[test]
fn the_mmtls_forks_replay_call_sends_the_held_frame() {
    let dir = test_dir("mmtls_raw");
    let builds: Vec<(String, &str, Vec<&str>)> =
        std::iter::once(("fork".to_string(), "cc", vec!["-std=gnu11"]))
            .chain(LANGUAGES.iter().enumerate().map(|(i, (compiler, lang))| {
                let mut f = vec!["-DWITH_MTCP_SENDPKT_H"];
                f.extend(lang.iter().copied());
                (format!("ours{i}"), *compiler, f)
            }))
            .collect();
    let include = include_flag();
    for (name, compiler, lang) in &builds {
        let mut flags = vec!["-DMMTLS_FORK", include.as_str()];
        flags.extend(lang.iter().copied());
        let exe = build_mos_middlebox_as(&dir, name, compiler, &flags, link_shared());
        let pcap = dir.join(format!("{name}.pcap"));
        let out = run(&exe, &pcap_env(&format!("mmtls{name}"), &dir, &pcap));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("mos_middlebox: replay: sent"), "{name}: {stdout}");
        assert!(
            stdout.contains("mos_middlebox: replay nowhere: -1 No route to host"),
            "{name}: {stdout}"
        );
        let held: Vec<u8> = stdout
            .lines()
            .find_map(|l| l.strip_prefix("mos_middlebox: held "))
            .map(|h| {
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                    .collect()
            })
            .expect("the held frame");
        let frames = read_pcap(&pcap);
        assert_eq!(frames.len(), 4, "{name}: three ACKs and the replay");
        check_acks(&frames[..3]);
        let replay = &frames[3];
        assert_eq!(replay.len(), held.len(), "{name}");
        assert_eq!(replay[..6], ARP_10, "{name}: the ARP entry's MAC");
        assert_eq!(
            replay[6..12],
            [0x02, 0x70, 0x63, 0x61, 0x70, 0x00],
            "{name}: net_pcap's MAC"
        );
        assert_eq!(replay[12..], held[12..], "{name}: every other byte as held");
    }
}

#[test]
fn ld_preload_swaps_in_our_implementation() {
    let dir = test_dir("ld_preload");
    // The "old" shared library the middlebox was linked against.
    let old = dir.join("libmtcp.so");
    cc(&[
        "-shared".into(),
        "-fPIC".into(),
        c_source("old_libmtcp.c"),
        "-o".into(),
        old.display().to_string(),
    ]);
    let link = vec![
        format!("-L{}", dir.display()),
        format!("-Wl,-rpath,{}", dir.display()),
        "-lmtcp".into(),
    ];
    let exe = build_mos_middlebox(&dir, "box", &["-DOLD_LIBRARY_VERSION"], link);
    let pcap = dir.join("out.pcap");
    let env = pcap_env("preload", &dir, &pcap);

    // Plainly: the old library answers.
    let plain = Command::new(&exe).envs(env.iter().cloned()).output().unwrap();
    let plain_out = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(!plain.status.success(), "the stand-in refuses every call");
    assert_eq!(
        plain_out.matches("Function not implemented").count(),
        3,
        "{plain_out}"
    );
    assert!(!pcap.exists(), "nothing sent without our library");

    // LD_PRELOAD on this one command only: ours answers, the rest of the old library stays.
    let ours = lib_dir().join("libmtcp_sendpkt.so");
    let pre = Command::new(&exe)
        .envs(env.iter().cloned())
        .env("LD_PRELOAD", &ours)
        .output()
        .unwrap();
    let pre_out = String::from_utf8_lossy(&pre.stdout).into_owned();
    assert!(
        pre.status.success(),
        "{pre_out}\n{}",
        String::from_utf8_lossy(&pre.stderr)
    );
    assert_eq!(
        pre_out,
        plain_out.replace("Function not implemented", "sent"),
        "only the send results differ"
    );
    assert!(pre_out.contains("linked with the old mOS library (stand-in)"));
    check_mos_middlebox_frames(&pcap);

    // The mmTLS fork's middlebox, linked with the fork's library: LD_PRELOAD swaps in our
    // mtcp_sendpkt_raw (its prototype) as well, and the held frame goes out.
    let link = vec![
        format!("-L{}", dir.display()),
        format!("-Wl,-rpath,{}", dir.display()),
        "-lmtcp".into(),
    ];
    let exe = build_mos_middlebox(&dir, "fork", &["-DOLD_LIBRARY_VERSION", "-DMMTLS_FORK"], link);
    let pcap = dir.join("fork.pcap");
    let env = pcap_env("preloadfork", &dir, &pcap);
    let plain = Command::new(&exe).envs(env.iter().cloned()).output().unwrap();
    let plain_out = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(
        plain_out.contains("replay: Function not implemented"),
        "{plain_out}"
    );
    let pre = Command::new(&exe)
        .envs(env.iter().cloned())
        .env("LD_PRELOAD", &ours)
        .output()
        .unwrap();
    let pre_out = String::from_utf8_lossy(&pre.stdout).into_owned();
    assert!(pre.status.success(), "{pre_out}");
    assert!(pre_out.contains("replay: sent"), "{pre_out}");
    assert!(
        pre_out.contains("replay nowhere: -1 No route to host"),
        "{pre_out}"
    );
    assert_eq!(read_pcap(&pcap).len(), 4, "three ACKs and the replay");
}

#[test]
fn mos_static_archive_gives_way_when_localized_or_weakened() {
    let dir = test_dir("mos_archive");
    let obj = dir.join("old_libmtcp.o");
    cc(&[
        "-c".into(),
        c_source("old_libmtcp.c"),
        "-o".into(),
        obj.display().to_string(),
    ]);
    let archive = |name: &str| dir.join(name).display().to_string();
    tool(
        "ar",
        &["rcs".into(), archive("libmtcp.a"), obj.display().to_string()],
    );
    // The stand-in archive is the mmTLS fork's: it defines mtcp_sendpkt_raw too, which gives
    // way the same way.
    tool(
        "objcopy",
        &[
            "--localize-symbol=mtcp_sendpkt".into(),
            "--localize-symbol=mtcp_sendpkt_raw".into(),
            archive("libmtcp.a"),
            archive("libmtcp_localized.a"),
        ],
    );
    tool(
        "objcopy",
        &[
            "--weaken-symbol=mtcp_sendpkt".into(),
            "--weaken-symbol=mtcp_sendpkt_raw".into(),
            archive("libmtcp.a"),
            archive("libmtcp_weak.a"),
        ],
    );

    let cases: Vec<(&str, Vec<String>, bool)> = vec![
        // As mOS links it, plus our shared library: the archive's strong definition wins.
        (
            "as_is_plus_shared",
            [vec![archive("libmtcp.a")], link_shared()].concat(),
            false,
        ),
        // Localized in the archive: ours answers, in any link order, shared or static.
        (
            "localized_plus_shared",
            [vec![archive("libmtcp_localized.a")], link_shared()].concat(),
            true,
        ),
        (
            "localized_plus_static",
            [vec![archive("libmtcp_localized.a")], link_static()].concat(),
            true,
        ),
        // Weakened: ours must be linked statically and before the archive.
        (
            "static_then_weakened",
            [link_static(), vec![archive("libmtcp_weak.a")]].concat(),
            true,
        ),
        // A weak definition in the executable still beats a shared library's.
        (
            "weakened_plus_shared",
            [vec![archive("libmtcp_weak.a")], link_shared()].concat(),
            false,
        ),
    ];
    for (name, link, ours_answers) in cases {
        let exe = build_mos_middlebox(&dir, name, &["-DOLD_LIBRARY_VERSION"], link);
        let pcap = dir.join(format!("{name}.pcap"));
        let out = Command::new(&exe)
            .envs(pcap_env(name, &dir, &pcap))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("linked with the old mOS library"),
            "{name}: {stdout}"
        );
        if ours_answers {
            assert!(
                out.status.success(),
                "{name}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            check_mos_middlebox_frames(&pcap);
        } else {
            assert_eq!(
                stdout.matches("Function not implemented").count(),
                3,
                "{name}: old one answers"
            );
            assert!(!pcap.exists(), "{name}");
        }
    }
}

#[test]
fn installed_library_builds_with_pkg_config_alone() {
    let dir = test_dir("pkg_config");
    let prefix = dir.join("prefix");
    let profile = lib_dir().file_name().unwrap().to_string_lossy().into_owned();
    let out = Command::new("make")
        .arg("-C")
        .arg(manifest_dir())
        .args([
            "install",
            "NO_BUILD=1",
            &format!("PROFILE={profile}"),
            &format!("PREFIX={}", prefix.display()),
        ])
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make install:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lib = prefix.join("lib");
    let real = std::fs::read_link(lib.join("libmtcp_sendpkt.so.1")).unwrap();
    assert_eq!(
        real,
        PathBuf::from(format!("libmtcp_sendpkt.so.{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        std::fs::read_link(lib.join("libmtcp_sendpkt.so")).unwrap(),
        PathBuf::from("libmtcp_sendpkt.so.1")
    );
    let dynamic = tool("readelf", &["-d".into(), lib.join(&real).display().to_string()]);
    assert!(String::from_utf8_lossy(&dynamic.stdout).contains("Library soname: [libmtcp_sendpkt.so.1]"));
    for page in [
        "man3/mtcp_sendpkt.3",
        "man3/mtcp_sendpkt_flush.3",
        "man3/mtcp_sendpkt_burst.3",
        "man3/mtcp_sendpkt_config_warnings.3",
        "man1/mtcp-sendpkt.1",
    ] {
        assert!(prefix.join("share/man").join(page).exists(), "{page}");
    }
    // The tool is installed with the library and runs from there.
    let check = Command::new(prefix.join("bin/mtcp-sendpkt"))
        .args([
            "check",
            &manifest_dir()
                .join("tests/fixtures/mos/end-host.conf")
                .display()
                .to_string(),
        ])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    assert!(String::from_utf8_lossy(&check.stdout).contains("core contexts: 2"));

    // The install's own pkg-config directory first, then whatever finds DPDK (another prefix's,
    // with `make test DPDK=...`), as a user with DPDK elsewhere sets it.
    let with_existing = |var: &str, first: &Path| -> String {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => format!("{}:{v}", first.display()),
            _ => first.display().to_string(),
        }
    };
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "mtcp_sendpkt"])
        .env(
            "PKG_CONFIG_PATH",
            with_existing("PKG_CONFIG_PATH", &lib.join("pkgconfig")),
        )
        .output()
        .unwrap();
    assert!(
        flags.status.success(),
        "{}",
        String::from_utf8_lossy(&flags.stderr)
    );
    let flags: Vec<String> = String::from_utf8(flags.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert!(
        flags.contains(&format!("-I{}", prefix.join("include").display())),
        "{flags:?}"
    );

    // Only pkg-config's flags: no -I or -L into the source tree.
    let exe = dir.join("abi_check");
    let mut args = strings(&STRICT);
    args.extend([c_source("abi_check.c"), "-o".into(), exe.display().to_string()]);
    args.extend(flags);
    cc(&args);
    let pcap = dir.join("out.pcap");
    let mut env = pcap_env("pkgconfig", &dir, &pcap);
    env.push(("LD_LIBRARY_PATH".into(), with_existing("LD_LIBRARY_PATH", &lib)));
    let out = run(&exe, &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 frames sent, 0 failures"));
    assert_eq!(read_pcap(&pcap).len(), 5);
    let ldd = Command::new("ldd")
        .arg(&exe)
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    assert!(
        ldd.contains(&format!("{}/libmtcp_sendpkt.so.1", lib.display())),
        "{ldd}"
    );
}

#[test]
fn only_the_documented_api_is_exported() {
    let so = lib_dir().join("libmtcp_sendpkt.so");
    let out = tool(
        "nm",
        &["-D".into(), "--defined-only".into(), so.display().to_string()],
    );
    let mut symbols: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    symbols.sort();
    let documented = [
        "mtcp_sendpkt",
        "mtcp_sendpkt_attach",
        "mtcp_sendpkt_burst",
        "mtcp_sendpkt_config_warnings",
        "mtcp_sendpkt_cores",
        "mtcp_sendpkt_flush",
        "mtcp_sendpkt_init",
        "mtcp_sendpkt_init_error",
        "mtcp_sendpkt_raw",
        "mtcp_sendpkt_reset",
        "mtcp_sendpkt_segment",
        "mtcp_sendpkt_shutdown",
        "mtcp_sendpkt_stats",
        "mtcp_sendpkt_tap",
    ];
    assert_eq!(symbols, documented);
    // Each one is in the header and in the man page.
    let header = std::fs::read_to_string(manifest_dir().join("include/mtcp_sendpkt.h")).unwrap();
    let man = std::fs::read_to_string(manifest_dir().join("man/mtcp_sendpkt.3")).unwrap();
    for s in documented {
        assert!(header.contains(&format!("{s}(")), "{s} declared in the header");
        assert!(
            man.contains(&format!(".BR {s} ()")) || man.contains(&format!("{s}(")),
            "{s} in the man page"
        );
    }
}
