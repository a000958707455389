//! A look at the EAL arguments before `rte_eal_init` takes them, where DPDK would end the
//! process over a bad one.
//!
//! From DPDK 25.07 the EAL parses its arguments with the argparse library, built to call
//! `exit()` on an argument it does not know, or one missing its value (`exit_on_error`): a typo in
//! `MTCP_SENDPKT_EAL_ARGS` would end the middlebox inside the library's first call. Earlier
//! releases return an error, which the library reports (every call then fails with EACCES).
//!
//! So on those releases a forked child parses the same arguments first, with `--help` in front:
//! argparse then reads them all and, if every one is good, prints the usage and exits with 0,
//! before the EAL has done anything but parse (no memory, no files, no devices); a bad one makes
//! it exit with an error and a line saying why. The child's exit runs none of the application's
//! exit handlers (an `on_exit` handler of its own, registered last, runs first and `_exit`s), and
//! its output goes to a pipe, not to the application's terminal.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::raw::{c_char, c_int, c_void};

use dpdk_sys as sys;

extern "C" {
    /// glibc's: `fn` runs at `exit()` with its status; handlers run in reverse order.
    fn on_exit(f: extern "C" fn(c_int, *mut c_void), arg: *mut c_void) -> c_int;
}

/// In the child: ends it at once with the status `exit()` was given.
extern "C" fn exit_now(status: c_int, _: *mut c_void) {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(status) };
}

/// Whether the EAL this library was built against exits on a bad argument.
pub(super) fn needed() -> bool {
    sys::SHIM_EAL_EXITS_ON_BAD_ARGS != 0
}

/// `Err(why)` if DPDK's EAL would refuse `args` (`args[0]` is the program name), with its own
/// words; `Ok` if it takes them, or if the check could not be made (the real parse decides).
pub(super) fn check(args: &[CString]) -> Result<(), String> {
    let mut argv: Vec<*mut c_char> = Vec::with_capacity(args.len() + 2);
    let help = c"--help";
    argv.push(args[0].as_ptr().cast_mut());
    argv.push(help.as_ptr().cast_mut());
    argv.extend(args[1..].iter().map(|a| a.as_ptr().cast_mut()));
    argv.push(std::ptr::null_mut());
    let argc = (argv.len() - 1) as c_int;
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Ok(());
    }
    // SAFETY: both descriptors are ours from here on, each owned once.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fork has no preconditions; the child below only makes async-signal-safe calls
    // (dup2, on_exit's registration, _exit) and the EAL's argument parsing, which allocates:
    // glibc's malloc is reset in a forked child, and nothing else of the parent is touched.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        use std::os::fd::AsRawFd;
        // SAFETY: the child's own copies of the descriptors and of argv (built before the fork,
        // NUL-terminated strings that outlive the call); it never returns.
        unsafe {
            libc::dup2(write_end.as_raw_fd(), 1);
            libc::dup2(write_end.as_raw_fd(), 2);
            on_exit(exit_now, std::ptr::null_mut());
            sys::rte_eal_init(argc, argv.as_mut_ptr());
            // The parse did not exit (it should have, either way): say nothing, decide nothing.
            libc::_exit(0);
        }
    }
    drop(write_end);
    if pid < 0 {
        return Ok(());
    }
    let mut out = Vec::new();
    let _ = std::fs::File::from(read_end).take(64 << 10).read_to_end(&mut out);
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-parameter.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    if waited != pid || (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        // Our child took its arguments (or SIGCHLD is ignored and its status is gone: the real
        // parse decides).
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out);
    let why = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Err(if why.is_empty() {
        format!(
            "DPDK's EAL refused them (exit status {})",
            libc::WEXITSTATUS(status)
        )
    } else {
        why
    })
}
