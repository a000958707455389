//! The library's one global state: initialized once (lazily on the first call, or by
//! `mtcp_sendpkt_init`), it owns the ports, the mempool, the routing tables and the core contexts,
//! and runs the request path: route → ARP → mbuf → frame → core context.
//!
//! Threads the library starts: one, `mtcp-sendpkt-tx`, which sleeps unless frames are waiting
//! (a full TX queue, or a partial batch with `MTCP_SENDPKT_BURST` > 1, flushed every
//! `MTCP_SENDPKT_FLUSH_US`). DPDK's EAL, when the library starts it, adds its interrupt thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, JoinHandle};

use crate::config::MosConfig;
use crate::core_ctx::{CoreContext, FlushOutcome, TxParams};
use crate::error::{InitError, SendError};
use crate::frame::{self, ChecksumMode};
use crate::port::{self, Mempool, PortInfo};
use crate::request::SendRequest;
use crate::route::PrefixTable;
use crate::settings::{Settings, MAX_CORES};

pub struct Runtime {
    ports: Vec<PortInfo>,
    /// Destination → index into `ports`; `None` without a route table (everything to port 0).
    routes: Option<PrefixTable<usize>>,
    arp: crate::route::ArpTable,
    contexts: Box<[CoreContext]>,
    pool: Mempool,
    settings: Settings,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

static RUNTIME: OnceLock<Result<Runtime, InitError>> = OnceLock::new();
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);
static STOP_FLUSHER: AtomicBool = AtomicBool::new(false);
/// Set when a pass of the flusher was asked for and it has not started yet.
static FLUSH_WANTED: AtomicBool = AtomicBool::new(false);

/// How an explicit initialization went.
#[derive(Debug, PartialEq, Eq)]
pub enum InitOutcome {
    Started,
    AlreadyRunning,
    Failed,
}

/// The runtime, starting it from the environment on first use. `None` once shut down or when
/// initialization failed (the reason was logged once, see [`init_error`]).
#[inline]
pub fn get() -> Option<&'static Runtime> {
    if SHUT_DOWN.load(Ordering::Acquire) {
        return None;
    }
    RUNTIME
        .get_or_init(|| Settings::from_env().and_then(|s| start_logged(s, None)))
        .as_ref()
        .ok()
}

/// The runtime if it is running, without starting it.
pub fn running() -> Option<&'static Runtime> {
    if SHUT_DOWN.load(Ordering::Acquire) {
        return None;
    }
    RUNTIME.get().and_then(|r| r.as_ref().ok())
}

/// An explicit request to attach to the host's EAL (`mtcp_sendpkt_attach`).
pub struct AttachRequest {
    /// The host's mempool, when it passed one.
    pub pool: Option<Mempool>,
}

/// Starts the runtime with `settings` unless it was started (or tried) before; with `attach`, only
/// by attaching to the host's EAL.
pub fn init_with(settings: Result<Settings, InitError>, attach: Option<AttachRequest>) -> InitOutcome {
    if SHUT_DOWN.load(Ordering::Acquire) {
        return InitOutcome::Failed;
    }
    let mut ran = false;
    let r = RUNTIME.get_or_init(|| {
        ran = true;
        settings.and_then(|s| start_logged(s, attach))
    });
    match (r, ran) {
        (Ok(_), true) => InitOutcome::Started,
        (Ok(_), false) => InitOutcome::AlreadyRunning,
        (Err(_), _) => InitOutcome::Failed,
    }
}

/// Why initialization failed, if it did.
pub fn init_error() -> Option<&'static InitError> {
    RUNTIME.get().and_then(|r| r.as_ref().err())
}

fn start_logged(settings: Settings, attach: Option<AttachRequest>) -> Result<Runtime, InitError> {
    let r = Runtime::start(settings, attach);
    if let Err(e) = &r {
        // Logged once: every later call fails with EACCES without a word.
        eprintln!("mtcp_sendpkt: cannot initialize: {e}; every mtcp_sendpkt call will fail with EACCES");
    }
    r
}

impl Runtime {
    fn start(settings: Settings, attach: Option<AttachRequest>) -> Result<Runtime, InitError> {
        let cfg = MosConfig::load(&settings.conf_paths)?;
        // An explicit MTCP_SENDPKT_CORES wins over what the netdev core masks imply.
        let cores = settings
            .cores
            .or(cfg.cores_from_masks())
            .unwrap_or(1)
            .min(MAX_CORES);

        // A host that initialized DPDK itself keeps its EAL, its ports and their configuration: the
        // library only sends through the TX queues the host names (MTCP_SENDPKT_TXQ / attach).
        let attached = port::eal_running();
        if attached {
            if !settings.eal_args.is_empty() {
                eprintln!("mtcp_sendpkt: the host initialized DPDK's EAL: MTCP_SENDPKT_EAL_ARGS is ignored");
            }
        } else if attach.is_some() {
            return Err(InitError::AttachWithoutEal);
        } else {
            port::init_eal(&settings.eal_args)?;
        }
        let available = port::port_count();
        let port_ids: Vec<u16> = if cfg.netdevs.is_empty() {
            (0..available).collect()
        } else {
            cfg.netdevs.iter().map(|d| d.port).collect()
        };
        if port_ids.is_empty() {
            return Err(InitError::NoPort);
        }
        let routes = if cfg.routes.is_empty() {
            None
        } else {
            let mut t = PrefixTable::default();
            for (prefix, id) in cfg.routes.iter() {
                let idx = port_ids
                    .iter()
                    .position(|p| p == id)
                    .ok_or_else(|| InitError::Port {
                        port: *id,
                        reason: format!(
                            "the route {prefix} names dpdk{id}, which is not one of the ports in use"
                        ),
                    })?;
                t.insert(*prefix, idx);
            }
            Some(t)
        };

        let pool = match (attach.and_then(|a| a.pool), &settings.mempool_name) {
            (Some(p), _) => p,
            (None, Some(name)) if attached => Mempool::lookup(name)?,
            _ => Mempool::new("mtcp_sendpkt", settings.mbufs)?,
        };
        // cores <= MAX_CORES (128) fits in u16.
        let (queue_base, ports) = if attached {
            let base = settings.tx_queue_base.ok_or(InitError::AttachNeedsQueues)?;
            let ports = port_ids
                .iter()
                .map(|&id| port::attach_port(id, base, cores as u16));
            (base, ports.collect::<Result<Vec<_>, _>>()?)
        } else {
            let ports = port_ids
                .iter()
                .map(|&id| port::setup_port(id, cores as u16, settings.tx_desc, &pool));
            (0, ports.collect::<Result<Vec<_>, _>>()?)
        };
        let params = TxParams {
            burst: settings.burst,
            tx_wait: settings.tx_wait,
        };
        let contexts = (0..cores)
            .map(|q| CoreContext::new(queue_base + q as u16, ports.len(), params))
            .collect();

        let flusher = thread::Builder::new()
            .name("mtcp-sendpkt-tx".into())
            .spawn(flusher_loop)
            .map_err(InitError::Thread)?;
        // SAFETY: registering a plain extern "C" fn with no arguments; see `at_exit`.
        unsafe {
            libc::atexit(at_exit);
        }
        Ok(Runtime {
            ports,
            routes,
            arp: cfg.arp,
            contexts,
            pool,
            settings,
            flusher: Mutex::new(Some(flusher)),
        })
    }

    /// The context of core `cpu`.
    #[inline]
    pub fn context(&self, cpu: usize) -> Result<&CoreContext, SendError> {
        self.contexts.get(cpu).ok_or(SendError::NoContext)
    }

    pub fn cores(&self) -> usize {
        self.contexts.len()
    }

    pub fn ports(&self) -> &[PortInfo] {
        &self.ports
    }

    pub fn mempool(&self) -> &Mempool {
        &self.pool
    }

    /// Free mbufs: those in the mempool and those the core contexts keep at hand (a context takes
    /// them from the pool in bulk; `flush` gives them back). For leak checks.
    pub fn free_mbufs(&self) -> u64 {
        u64::from(self.pool.available()) + self.contexts.iter().map(CoreContext::spare_mbufs).sum::<u64>()
    }

    /// Builds the frame for `req` and hands it to `ctx`.
    #[inline]
    pub fn send(&self, ctx: &CoreContext, req: &SendRequest<'_>) -> Result<(), SendError> {
        let daddr = req.fields.daddr_u32();
        let port_idx = match &self.routes {
            Some(t) => *t.lookup(daddr).ok_or(SendError::NoRoute)?,
            None => 0,
        };
        let port = &self.ports[port_idx];
        let eth_dst = self
            .arp
            .lookup(daddr)
            .copied()
            .or(req.eth_dst_hint)
            .ok_or(SendError::NoArpEntry)?;
        let frame_len = frame::frame_len(req.payload.len());
        if frame_len > port.max_frame {
            return Err(SendError::TooLong);
        }
        let checksum = if port.checksum_offload {
            ChecksumMode::Offload
        } else {
            ChecksumMode::Software
        };
        let write = |room: &mut [u8]| {
            frame::write_frame(&req.fields, eth_dst, port.mac, req.payload, checksum, room)
                .map_err(|_| SendError::TooLong)
        };
        if ctx.send(&self.ports, &self.pool, port_idx, write)? {
            self.wake_flusher();
        }
        Ok(())
    }

    /// Flushes one context (see [`CoreContext::flush`]).
    pub fn flush(&self, ctx: &CoreContext) -> Option<FlushOutcome> {
        port::ensure_lcore();
        let o = ctx.flush(&self.ports);
        if o.is_none_or(|o| o.left > 0) {
            self.wake_flusher();
        }
        o
    }

    /// Asks the flusher for a pass; only the first request until that pass makes a system call.
    fn wake_flusher(&self) {
        if FLUSH_WANTED.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(guard) = self.flusher.lock() {
            if let Some(h) = guard.as_ref() {
                h.thread().unpark();
            }
        }
    }
}

fn flusher_loop() {
    let Ok(rt) = RUNTIME.wait() else { return };
    port::ensure_lcore();
    let batched = rt.settings.burst > 1;
    let mut pending = false;
    while !STOP_FLUSHER.load(Ordering::Acquire) {
        if batched || pending {
            thread::park_timeout(rt.settings.flush_interval);
        } else {
            thread::park();
        }
        if STOP_FLUSHER.load(Ordering::Acquire) {
            break;
        }
        pending = false;
        FLUSH_WANTED.store(false, Ordering::Release);
        for ctx in rt.contexts.iter() {
            pending |= ctx.flush_if_free(&rt.ports);
        }
    }
}

/// Frames still staged at normal process exit are sent: nothing accepted is lost by exiting.
extern "C" fn at_exit() {
    // A panic must not unwind out of an atexit handler.
    let _ = std::panic::catch_unwind(|| {
        if let Some(rt) = running() {
            for ctx in rt.contexts.iter() {
                rt.flush(ctx);
            }
        }
    });
}

/// Flushes every context, stops the flusher, releases the ports, the mempool and the EAL the
/// library owns (a host's EAL, ports and mempool are left as they are).
/// Returns the number of accepted frames that never left (the TX queues would not take them).
///
/// Calls after this fail with EACCES. It must not run while other threads are still calling.
pub fn shutdown() -> u64 {
    let Some(rt) = running() else {
        SHUT_DOWN.store(true, Ordering::Release);
        return 0;
    };
    STOP_FLUSHER.store(true, Ordering::Release);
    let handle = rt.flusher.lock().ok().and_then(|mut g| g.take());
    if let Some(h) = handle {
        h.thread().unpark();
        let _ = h.join();
    }
    port::ensure_lcore();
    let dropped: u64 = rt.contexts.iter().map(|c| c.flush_and_release(&rt.ports)).sum();
    if dropped > 0 {
        eprintln!(
            "mtcp_sendpkt: shutdown: {dropped} accepted frames were never taken by a TX queue and were freed"
        );
    }
    SHUT_DOWN.store(true, Ordering::Release);
    for p in rt.ports.iter().filter(|p| p.owned) {
        port::close_port(p.id);
    }
    if rt.ports.iter().all(|p| p.owned) {
        // The mempool and EAL are released last; the Runtime itself stays in its static (never
        // used again: every entry point checks SHUT_DOWN first).
        // SAFETY: no mbuf is in use any more: ports are closed and contexts released theirs.
        unsafe { rt.pool.release() };
        port::cleanup_eal();
    }
    dropped
}
