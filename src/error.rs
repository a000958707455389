//! Why a call failed, and the errno each reason maps to (the README's errno table).

use std::path::PathBuf;

/// Why one `mtcp_sendpkt` call did not accept its frame. Each maps to one errno value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[repr(u8)]
pub enum SendError {
    #[error("mctx is NULL or its cpu is not a configured core")]
    NoContext,
    #[error("the library is not initialized (or its initialization failed, or it was shut down)")]
    NotInitialized,
    #[error("pinfo is NULL")]
    NullPktInfo,
    #[error("sockid is negative")]
    BadSocket,
    #[error("iph or tcph is NULL, or not a valid IPv4/TCP header")]
    NoHeaders,
    #[error("payloadlen > 0 but payload is NULL")]
    NullPayload,
    #[error("an output argument is NULL")]
    NullOutput,
    #[error("directions is not MTCP_SENDPKT_TO_SENDER, MTCP_SENDPKT_TO_RECEIVER or both")]
    BadDirections,
    #[error("the frame is NULL, or not Ethernet (VLAN tags allowed) then an IPv4 or IPv6 header")]
    BadFrame,
    #[error("the frame (66 + payloadlen bytes) is longer than the output port's MTU + 14")]
    TooLong,
    #[error("no route to the destination")]
    NoRoute,
    #[error("no ARP entry for the destination and no pinfo->ethh to take it from")]
    NoArpEntry,
    #[error("no mbuf: the mempool is empty")]
    NoMbuf,
    #[error("the TX queue did not drain within the bounded wait (or another thread held the TX side)")]
    TxBusy,
    #[error(
        "called while this thread is inside the library already (from a signal handler that interrupted it)"
    )]
    Reentered,
    #[error("internal error (a bug): a panic was caught at the C boundary")]
    Internal,
    #[error("a burst's pkts is NULL, or its count is above INT_MAX")]
    BadBurst,
}

impl SendError {
    /// Whether mOS's `mtcp_sendpkt` returned 0 here, sending nothing (`MOS_COMPAT.md`, "What
    /// mOS does with a call", 6): no route, no ARP entry, its TX batch full, a payload too long.
    pub fn mos_returns_zero(self) -> bool {
        matches!(
            self,
            SendError::NoRoute | SendError::NoArpEntry | SendError::TxBusy | SendError::TooLong
        )
    }

    /// The errno value the C API reports for this error.
    pub fn errno(self) -> libc::c_int {
        match self {
            SendError::NoContext | SendError::NotInitialized | SendError::NullPktInfo => libc::EACCES,
            SendError::BadSocket => libc::EBADF,
            SendError::NoHeaders => libc::ENODATA,
            SendError::NullPayload
            | SendError::NullOutput
            | SendError::BadDirections
            | SendError::BadFrame
            | SendError::BadBurst => libc::EINVAL,
            SendError::TooLong => libc::EMSGSIZE,
            SendError::NoRoute | SendError::NoArpEntry => libc::EHOSTUNREACH,
            SendError::NoMbuf => libc::ENOBUFS,
            SendError::TxBusy => libc::EAGAIN,
            SendError::Reentered => libc::EDEADLK,
            SendError::Internal => libc::EIO,
        }
    }
}

impl From<crate::frame::FrameError> for SendError {
    /// Headers that are not IPv4/TCP are `ENODATA`; a frame that cannot fit, `EMSGSIZE`.
    fn from(e: crate::frame::FrameError) -> Self {
        use crate::frame::FrameError::*;
        match e {
            BadIpv4Header | BadTcpHeader => SendError::NoHeaders,
            PayloadTooLong | BufferTooSmall => SendError::TooLong,
        }
    }
}

impl From<crate::config::LoadError> for InitError {
    fn from(e: crate::config::LoadError) -> Self {
        match e {
            crate::config::LoadError::Read { path, source } => InitError::Io { path, source },
            crate::config::LoadError::Refused(e) => InitError::Config(e),
        }
    }
}

/// Why the library could not initialize. Reported once, then every call fails with EACCES.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("environment variable {var}={value:?}: {reason}")]
    Setting {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("rte_eal_init failed ({reason}) with EAL arguments {args:?}")]
    Eal { args: Vec<String>, reason: String },
    #[error("DPDK's EAL was initialized by the host while the library was starting it")]
    EalAlreadyInitialized,
    #[error(
        "the host initialized DPDK's EAL: name the TX queues the library may use \
         (MTCP_SENDPKT_TXQ=<first queue> or mtcp_sendpkt_attach())"
    )]
    AttachNeedsQueues,
    #[error("mtcp_sendpkt_attach: DPDK's EAL is not initialized in this process")]
    AttachWithoutEal,
    #[error("no DPDK port to send on (give one with --vdev in MTCP_SENDPKT_EAL_ARGS)")]
    NoPort,
    #[error("port {port}: {reason}")]
    Port { port: u16, reason: String },
    #[error("mempool: {0}")]
    Mempool(String),
    #[error("cannot start the TX flush thread: {0}")]
    Thread(std::io::Error),
}

impl From<crate::nic::MbufTooSmall> for SendError {
    /// A frame longer than the mbuf's room: the port's frame limit is checked before, so this
    /// only says the frame did not fit.
    fn from(_: crate::nic::MbufTooSmall) -> Self {
        SendError::TooLong
    }
}
