//! The library's own DPDK log type, `mtcp_sendpkt`: everything the library prints goes through
//! it, so `--log-level=mtcp_sendpkt:debug` turns on its debug lines and `:error` silences its
//! warnings, in the library's EAL arguments or (attached) the host's. DPDK writes to stderr until
//! its EAL sets another stream, so before the EAL is up, lines still reach stderr. The level
//! starts at INFO, unless `--log-level` named the type (DPDK keeps such levels for types
//! registered later).

use std::ffi::CString;
use std::fmt;
use std::sync::OnceLock;

/// The type's name, as `--log-level` takes it.
pub(crate) const NAME: &str = "mtcp_sendpkt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warning,
    Debug,
}

impl Level {
    fn rte(self) -> u32 {
        match self {
            Level::Error => dpdk_sys::RTE_LOG_ERR,
            Level::Warning => dpdk_sys::RTE_LOG_WARNING,
            Level::Debug => dpdk_sys::RTE_LOG_DEBUG,
        }
    }
}

/// The registered log type, `None` if DPDK refused to register it (then lines go to stderr).
fn logtype() -> Option<u32> {
    static TYPE: OnceLock<Option<u32>> = OnceLock::new();
    *TYPE.get_or_init(|| {
        let name = CString::new(NAME).expect("no NUL in the name");
        // SAFETY: a NUL-terminated name that DPDK copies; registration is thread-safe and may
        // happen before the EAL is initialized (DPDK's own types register from constructors).
        let t =
            unsafe { dpdk_sys::rte_log_register_type_and_pick_level(name.as_ptr(), dpdk_sys::RTE_LOG_INFO) };
        u32::try_from(t).ok()
    })
}

/// Whether a line of `level` would be printed (to skip formatting debug lines).
pub(crate) fn enabled(level: Level) -> bool {
    match logtype() {
        // SAFETY: plain query of a registered type.
        Some(t) => unsafe { dpdk_sys::rte_log_can_log(t, level.rte()) },
        None => level != Level::Debug,
    }
}

/// Prints `mtcp_sendpkt: <args>` at `level`.
pub(crate) fn log(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let text = format!("{NAME}: {args}");
    match (logtype(), CString::new(text.replace('\0', "\\0"))) {
        // SAFETY: a NUL-terminated message; shim_log passes it as the argument of "%s\n".
        (Some(t), Ok(msg)) => unsafe { dpdk_sys::shim_log(level.rte(), t, msg.as_ptr()) },
        _ => eprintln!("{text}"),
    }
}

macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warning, format_args!($($arg)*)) };
}
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($arg)*)) };
}
pub(crate) use {debug, error, warning};
