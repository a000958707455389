//! Building and running C programs against the library the way a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>, where cargo left libmtcp_sendpkt.{so,a} for this test run, with the
/// soname link (libmtcp_sendpkt.so.1) that `make build` also makes.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    // `cargo test` rebuilds only the rlib: a C test must not run against a .so or .a older than
    // the sources they are built from.
    let newest_source = newest_mtime(&manifest_dir().join("src"))
        .max(newest_mtime(&manifest_dir().join("dpdk-sys/shim")))
        .max(newest_mtime(&manifest_dir().join("build.rs")));
    for artifact in ["libmtcp_sendpkt.so", "libmtcp_sendpkt.a"] {
        assert!(
            newest_mtime(&dir.join(artifact)) >= newest_source,
            "{} is missing or older than the sources: run `cargo build` first (`make test` does)",
            dir.join(artifact).display()
        );
    }
    let link = dir.join("libmtcp_sendpkt.so.1");
    if std::fs::symlink_metadata(&link).is_err() {
        // Several test processes may race here; whoever wins, the link is the same.
        let _ = std::os::unix::fs::symlink("libmtcp_sendpkt.so", &link);
    }
    dir
}

/// The newest modification time of a file, or of any file below a directory.
fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| newest_mtime(&e.ok()?.path()))
        .max()
}

pub fn include_flag() -> String {
    format!("-I{}", manifest_dir().join("include").display())
}

pub fn c_source(name: &str) -> String {
    manifest_dir().join("tests/c").join(name).display().to_string()
}

pub const STRICT: [&str; 5] = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// Runs a build tool and fails the test with its output if it fails.
pub fn tool(program: &str, args: &[String]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn cc(args: &[String]) -> Output {
    tool("cc", args)
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `-L<lib_dir> -Wl,-rpath,<lib_dir> -lmtcp_sendpkt`.
pub fn link_shared() -> Vec<String> {
    let lib = lib_dir();
    vec![
        format!("-L{}", lib.display()),
        format!("-Wl,-rpath,{}", lib.display()),
        "-lmtcp_sendpkt".into(),
    ]
}

/// The README's static link line after the archive: DPDK shared, plus Rust's native libraries.
pub fn link_static() -> Vec<String> {
    let mut v = vec![lib_dir().join("libmtcp_sendpkt.a").display().to_string()];
    let out = tool("pkg-config", &strings(&["--libs", "libdpdk"]));
    v.extend(
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned),
    );
    v.extend(strings(&[
        "-lgcc_s",
        "-lutil",
        "-lrt",
        "-lpthread",
        "-lm",
        "-ldl",
        "-lc",
    ]));
    v
}

/// Environment that points the library at a net_pcap port writing `pcap` and the standard config.
pub fn pcap_env(tag: &str, dir: &Path, pcap: &Path) -> Vec<(String, String)> {
    std::fs::write(dir.join("mos.conf"), super::CONF).unwrap();
    vec![
        (
            "MTCP_SENDPKT_CONF".into(),
            dir.join("mos.conf").display().to_string(),
        ),
        (
            "MTCP_SENDPKT_EAL_ARGS".into(),
            super::eal_args(tag, &format!("--vdev net_pcap0,tx_pcap={}", pcap.display())),
        ),
    ]
}

/// Runs `exe` with `env`, returning its output; fails the test when it exits non-zero.
pub fn run(exe: &Path, env: &[(String, String)]) -> Output {
    let out = Command::new(exe).envs(env.iter().cloned()).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {:?}\n{}{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Builds `tests/c/<source>` into `dir/<name>` as a DPDK application that also links the
/// library (shared): DPDK's own flags from pkg-config, as its users build.
pub fn build_with_dpdk(dir: &Path, source: &str, name: &str) -> PathBuf {
    let exe = dir.join(name);
    let words = |o: Output| -> Vec<String> {
        String::from_utf8(o.stdout)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let mut args = strings(&["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread"]);
    args.extend(words(tool("pkg-config", &strings(&["--cflags", "libdpdk"]))));
    args.extend([
        include_flag(),
        c_source(source),
        "-o".into(),
        exe.display().to_string(),
    ]);
    args.extend(link_shared());
    args.extend(words(tool("pkg-config", &strings(&["--libs", "libdpdk"]))));
    cc(&args);
    exe
}
