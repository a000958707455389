//! The library's one global state and its lifecycle: initialized once (lazily on the first call,
//! or by `mtcp_sendpkt_init`/`_attach`), it owns the ports, the mempool, the router and the core
//! contexts, and runs the request path: route → core context → frame in an mbuf.
//!
//! Lifecycle: `Running` → `ShuttingDown` → `ShutDown` (by `shutdown`, or at process exit
//! without releasing DPDK), or `Running` → `Forked` in a child process (`pthread_atfork`): there
//! DPDK belongs to the parent, so every call fails with EACCES and nothing is sent, flushed or
//! freed. Shutdown closes every core context (which waits for the calls inside and sends what
//! they accepted) before it releases anything, and releases nothing a caller could still reach.
//!
//! Threads the library starts: one, `mtcp-sendpkt-tx` (the flusher). DPDK's EAL, when the
//! library starts it, adds its interrupt thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::MosConfig;
use crate::core_ctx::{CoreContext, Finish, FlushOutcome, Quick, TxParams};
use crate::error::{InitError, SendError};
use crate::exclusive::{CallGuard, ThreadRec};
use crate::flusher::{self, FlushSignal};
use crate::frame;
use crate::port::{self, Dpdk, Mempool, PortInfo, TxQueue};
use crate::request::{AckRequest, BurstRequest, QuickPacket, SegmentRequest};
use crate::router::{Hop, HopCache, Router};
use crate::segment::{self, Direction, Link};
use crate::settings::{Settings, MAX_CORES};
use crate::sync::{self, Deadline};
use crate::telemetry;

pub(crate) struct Runtime {
    io: Dpdk,
    router: Router,
    /// Core context k: what `mctx->cpu` k names.
    contexts: Box<[CoreContext<Dpdk, HopCache>]>,
    /// The lanes: `lanes_per_core` contexts per core context, those of core k from index
    /// `k * lanes_per_core` (see [`Runtime::sender`]).
    lanes: Box<[CoreContext<Dpdk, HopCache>]>,
    lanes_per_core: usize,
    signal: Arc<FlushSignal>,
    settings: Settings,
    flusher: Mutex<Option<JoinHandle<()>>>,
    stop_flusher: AtomicBool,
    flusher_done: Arc<AtomicBool>,
}

static RUNTIME: OnceLock<Result<Runtime, InitError>> = OnceLock::new();
/// The runtime while it is `Running`, else NULL: what each call loads first (one load).
static LIVE: AtomicPtr<Runtime> = AtomicPtr::new(std::ptr::null_mut());

const RUNNING: u8 = 0;
const SHUTTING_DOWN: u8 = 1;
const SHUT_DOWN: u8 = 2;
const FORKED: u8 = 3;
static STATE: AtomicU8 = AtomicU8::new(RUNNING);

/// How an explicit initialization went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InitOutcome {
    Started,
    AlreadyRunning,
    Failed,
    /// Called from a signal handler that interrupted this thread's initialization.
    Reentered,
}

/// The runtime, starting it from the environment on first use. `None` once shut down (or in a
/// forked child) or when initialization failed (the reason was logged once, see [`init_error`]).
#[inline(always)]
pub(crate) fn get() -> Option<&'static Runtime> {
    // SAFETY: LIVE is NULL or points into RUNTIME, which is never dropped.
    match unsafe { LIVE.load(Ordering::Acquire).as_ref() } {
        Some(rt) => Some(rt),
        None => start_from_env(),
    }
}

/// What [`Runtime::try_send_quick`] did.
pub(crate) type QuickSend<'a> = Quick<'a, Dpdk, HopCache>;
/// The rest of a quick call that staged its frame (see [`Quick::Finish`]).
pub(crate) type QuickFinish<'a> = Finish<'a, Dpdk, HopCache>;

/// Completes a quick call that staged its frame (see [`Quick::Finish`]).
pub(crate) fn finish_quick(f: QuickFinish<'_>) {
    f.finish();
}

/// The runtime if it is running, without starting it (for the quick path, whose full path
/// does that).
#[inline(always)]
pub(crate) fn live() -> Option<&'static Runtime> {
    // SAFETY: as in `get`.
    unsafe { LIVE.load(Ordering::Acquire).as_ref() }
}

#[cold]
fn start_from_env() -> Option<&'static Runtime> {
    if STATE.load(Ordering::Acquire) != RUNNING {
        return None;
    }
    let _init = Initializing::enter()?;
    RUNTIME
        .get_or_init(|| Settings::from_env().and_then(|s| start_logged(s, None)))
        .as_ref()
        .ok()
        .inspect(|rt| publish_live(rt))
}

thread_local! {
    /// This thread is inside the runtime's first initialization: a call from a signal handler
    /// that interrupted it must not wait for it (it would wait for itself).
    static INITIALIZING: Cell<bool> = const { Cell::new(false) };
}

/// The calling thread inside the runtime's initialization, until dropped. Also makes sure, before
/// any thread starts initializing, that a child forked meanwhile knows it is one.
struct Initializing;

impl Initializing {
    /// `None`: this thread is initializing already (a signal handler's call).
    fn enter() -> Option<Self> {
        if INITIALIZING.with(|i| i.replace(true)) {
            return None;
        }
        register_fork_handler();
        Some(Initializing)
    }
}

impl Drop for Initializing {
    fn drop(&mut self) {
        INITIALIZING.with(|i| i.set(false));
    }
}

/// Why the runtime cannot be had now: the calling thread is initializing it (a signal handler's
/// call, [`SendError::Reentered`]), or it is not running.
#[cold]
pub(crate) fn why_not_running() -> SendError {
    if INITIALIZING.with(Cell::get) {
        SendError::Reentered
    } else {
        SendError::NotInitialized
    }
}

/// Registers [`in_forked_child`] once, before the first initialization starts: a child forked
/// while another thread initializes must not wait for that thread (which it does not have).
fn register_fork_handler() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registering a plain extern "C" fn with no arguments (see `in_forked_child`).
        unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
    }
}

/// Makes `rt` what [`get`] returns, unless the library stopped running meanwhile.
fn publish_live(rt: &'static Runtime) {
    LIVE.store(rt as *const Runtime as *mut Runtime, Ordering::Release);
    if STATE.load(Ordering::Acquire) != RUNNING {
        LIVE.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// The runtime if it is running, without starting it.
pub(crate) fn running() -> Option<&'static Runtime> {
    if STATE.load(Ordering::Acquire) != RUNNING {
        return None;
    }
    RUNTIME.get().and_then(|r| r.as_ref().ok())
}

/// The runtime in whatever state it is (`running`, `shutting_down`, `shut_down`, `forked`), for
/// observers (telemetry): its counters and descriptions stay readable after shutdown, since they
/// live as long as the process; nothing DPDK owns is touched through it.
pub(crate) fn observe() -> Option<(&'static str, &'static Runtime)> {
    let state = match STATE.load(Ordering::Acquire) {
        RUNNING => "running",
        SHUTTING_DOWN => "shutting_down",
        SHUT_DOWN => "shut_down",
        _ => "forked",
    };
    RUNTIME.get()?.as_ref().ok().map(|rt| (state, rt))
}

/// What the telemetry commands report (see [`observe`]).
fn telemetry_view() -> Option<telemetry::View> {
    let (state, rt) = observe()?;
    Some(telemetry::View {
        state,
        counters: rt.counters(),
        lanes_per_core: rt.lanes_per_core(),
        ports: rt.router.ports(),
        table_sizes: rt.router.table_sizes(),
        settings: &rt.settings,
    })
}

/// An explicit request to attach to the host's EAL (`mtcp_sendpkt_attach`).
pub(crate) struct AttachRequest {
    /// The host's mempool, when it passed one: a mempool that outlives the library's use of it
    /// (`mtcp_sendpkt_attach`'s contract), checked to be a packet mempool at init.
    pub pool: Option<std::ptr::NonNull<crate::abi::rte_mempool>>,
}

/// Starts the runtime with `settings` unless it was started (or tried) before; with `attach`, only
/// by attaching to the host's EAL.
pub(crate) fn init_with(settings: Result<Settings, InitError>, attach: Option<AttachRequest>) -> InitOutcome {
    if STATE.load(Ordering::Acquire) != RUNNING {
        return InitOutcome::Failed;
    }
    let Some(_init) = Initializing::enter() else {
        return InitOutcome::Reentered;
    };
    let mut ran = false;
    let r = RUNTIME.get_or_init(|| {
        ran = true;
        settings.and_then(|s| start_logged(s, attach))
    });
    match (r, ran) {
        (Ok(rt), true) => {
            publish_live(rt);
            InitOutcome::Started
        }
        (Ok(_), false) => InitOutcome::AlreadyRunning,
        (Err(_), _) => InitOutcome::Failed,
    }
}

static CONFIG_WARNINGS: OnceLock<Vec<String>> = OnceLock::new();

/// Prints the configuration's warnings (once: the configuration is read once per process) and
/// keeps them for [`config_warnings`].
fn publish_warnings(cfg: &MosConfig) {
    let lines: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    for w in &lines {
        crate::log::warning!("warning: {w}");
    }
    let _ = CONFIG_WARNINGS.set(lines);
}

/// The warnings of the configuration read at initialization, `None` before it was read.
pub(crate) fn config_warnings() -> Option<&'static [String]> {
    CONFIG_WARNINGS.get().map(Vec::as_slice)
}

/// Why initialization failed, if it did.
pub(crate) fn init_error() -> Option<&'static InitError> {
    RUNTIME.get().and_then(|r| r.as_ref().err())
}

fn start_logged(settings: Settings, attach: Option<AttachRequest>) -> Result<Runtime, InitError> {
    let r = Runtime::start(settings, attach);
    match &r {
        // Logged once: every later call fails with EACCES without a word.
        Err(e) => crate::log::error!("cannot initialize: {e}; every mtcp_sendpkt call will fail with EACCES"),
        Ok(rt) if crate::log::enabled(crate::log::Level::Debug) => {
            for p in rt.router.ports() {
                crate::log::debug!(
                    "port {} ({}): MAC {}, MTU {}, checksums {}",
                    p.id,
                    p.name,
                    crate::nic::mac_text(&p.mac),
                    p.mtu,
                    if p.checksum_offload {
                        "by the NIC"
                    } else {
                        "in software"
                    }
                );
            }
            crate::log::debug!(
                "started on DPDK {}: {} core contexts, {} lanes each, burst {}, flush {:?}, TX wait {:?}",
                port::dpdk_version(),
                rt.contexts.len(),
                rt.lanes_per_core,
                rt.settings.burst,
                rt.settings.flush_interval,
                rt.settings.tx_wait
            );
        }
        Ok(_) => {}
    }
    r
}

/// The ports as the pcapng tap's file names them.
fn tap_interfaces(ports: &[PortInfo]) -> Vec<crate::tap::Interface> {
    ports
        .iter()
        .map(|p| crate::tap::Interface {
            port: p.id,
            hardware: p.hardware.clone(),
            mac: p.mac,
            snaplen: p.max_frame as u32,
        })
        .collect()
}

/// Sends the frames of one call in order (`frames` sends one per item, lazily) and counts those
/// accepted: the first failure ends the call, and is its result when none was accepted.
fn until_first_failure(frames: impl Iterator<Item = Result<(), SendError>>) -> Result<usize, SendError> {
    let mut sent = 0;
    for result in frames {
        match result {
            Ok(()) => sent += 1,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(sent)
}

/// The ports in use, the TX queues of each, and whether the library attached to a host's EAL.
struct Ports {
    info: Vec<PortInfo>,
    /// `queues[port][core]`.
    queues: Vec<Vec<TxQueue>>,
}

impl Runtime {
    fn start(settings: Settings, attach: Option<AttachRequest>) -> Result<Runtime, InitError> {
        let mut cfg = MosConfig::load(&settings.conf_paths, settings.kernel_tables)?;
        // An explicit MTCP_SENDPKT_CORES wins over what the netdev core masks imply.
        let cores = settings
            .cores
            .or(cfg.cores_from_masks())
            .unwrap_or(1)
            .min(MAX_CORES);

        // A host that initialized DPDK itself keeps its EAL, its ports and their configuration: the
        // library only sends through the TX queues the host names (MTCP_SENDPKT_TXQ / attach).
        let attached = port::eal_running();
        let eal = if attached {
            if !settings.eal_args.is_empty() {
                crate::log::warning!("the host initialized DPDK's EAL: MTCP_SENDPKT_EAL_ARGS is ignored");
            }
            Ok(())
        } else if attach.is_some() {
            Err(InitError::AttachWithoutEal)
        } else {
            port::init_eal(&settings.eal_args, settings.telemetry)
        };
        // The netdevs' ports, found as mOS finds them (a kernel device's MAC, dpdkN, a DPDK
        // device name) among every port DPDK has: the library's, or the host's when attached.
        let available = eal.and_then(|()| {
            let available = port::identities()?;
            cfg.resolve(&available)?;
            Ok(available)
        });
        // After the EAL read `--log-level`, so that `mtcp_sendpkt:error` silences them, and
        // after the netdevs were found (which may warn).
        publish_warnings(&cfg);
        let available = available?;
        telemetry::register(telemetry_view);
        let port_ids: Vec<u16> = cfg
            .ports()
            .unwrap_or_else(|| available.iter().map(|p| p.id).collect());
        if port_ids.is_empty() {
            return Err(InitError::NoPort);
        }
        // Without a netdev block, a file's route to a port that is not there is a mistake to
        // report, not a route to drop.
        if !cfg.has_netdev {
            for r in &cfg.routes {
                if let (crate::config::Origin::File { path, line }, None) =
                    (&r.origin, cfg.route_port(&r.device, &port_ids))
                {
                    return Err(crate::config::ConfigError {
                        file: path.clone(),
                        line: *line,
                        reason: format!(
                            "the route {} names {:?}, which is not one of the DPDK ports (dpdk0 to dpdk{})",
                            r.prefix,
                            r.device,
                            port_ids.len().saturating_sub(1)
                        ),
                    }
                    .into());
                }
            }
        }
        let tables = crate::router::Tables {
            routes: cfg.route_table(&port_ids),
            arp: cfg.arp_table(),
            routes6: cfg.route6_table(&port_ids),
            arp6: cfg.arp6_table(),
        };
        let lanes_wanted = lanes_wanted(&settings, cores, port_ids.len(), attached);
        // How many calling threads get an lcore (a mempool cache) at a time: the owners of
        // the core contexts and of their lanes, and a few more.
        let slots = port::set_lcore_slots(cores * (1 + lanes_wanted));
        let pool = match (attach.and_then(|a| a.pool), &settings.mempool_name) {
            // SAFETY: the host's mempool, alive for as long as the library uses it
            // (`AttachRequest::pool`).
            (Some(p), _) => unsafe { Mempool::borrowed(p) }?,
            (None, Some(name)) if attached => Mempool::lookup(name)?,
            // Sized for the lcores that may hold a cache of it: the EAL's and the library's.
            _ => Mempool::new("mtcp_sendpkt", settings.mbufs, port::eal_lcores() + slots)?,
        };
        let ports = open_ports(&port_ids, cores, lanes_wanted, attached, &settings, &pool)?;
        // As many lanes per core as every port has queues for.
        let lanes_per_core = ports
            .queues
            .iter()
            .map(|q| q.len().saturating_sub(cores) / cores)
            .min()
            .unwrap_or(0)
            .min(lanes_wanted);
        if lanes_per_core < lanes_wanted {
            crate::log::debug!(
                "{lanes_per_core} lanes per core context, not {lanes_wanted}: a port has too few TX queues"
            );
        }

        let signal = Arc::new(FlushSignal::default());
        let params = TxParams {
            burst: settings.burst,
            tx_wait: settings.tx_wait,
            flush_interval: settings.flush_interval,
        };
        // Before the contexts: each records whether its owner's barrier must be a full fence.
        if !sync::enable_asymmetric_barrier() {
            crate::log::warning!(
                "membarrier(PRIVATE_EXPEDITED) is not available: \
                 the owner's path uses a full fence (slower)"
            );
        }
        // Core context k gets TX queue k of every port; lane j of core k gets queue
        // `cores + k * lanes_per_core + j`. A port's queues beyond those stay unused.
        let mut per_port: Vec<std::vec::IntoIter<TxQueue>> =
            ports.queues.into_iter().map(Vec::into_iter).collect();
        let mut next_context = || {
            let queues = per_port
                .iter_mut()
                .map(|q| q.next().expect("one queue per context"))
                .collect();
            CoreContext::new(Dpdk { pool: pool.handle() }, queues, params, signal.clone())
        };
        let contexts = (0..cores).map(|_| next_context()).collect();
        let lanes = (0..cores * lanes_per_core).map(|_| next_context()).collect();

        sync::clock::calibrate();
        let flusher_done = Arc::new(AtomicBool::new(false));
        let done = flusher_done.clone();
        let flusher = crate::own_thread::spawn("mtcp-sendpkt-tx", move || {
            if let Ok(rt) = RUNTIME.wait() {
                port::ensure_lcore();
                // A panic (a bug) ends the flusher, not the process; shutdown then sees it done.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    flusher::run(
                        [&rt.contexts, &rt.lanes],
                        &rt.signal,
                        &rt.stop_flusher,
                        &rt.settings,
                    )
                }));
            }
            done.store(true, Ordering::Release);
        })
        .map_err(InitError::Thread)?;
        // SAFETY: registering a plain extern "C" fn with no arguments; see `at_exit` (the fork
        // handler is registered before initialization began).
        unsafe { libc::atexit(at_exit) };
        if let Some(path) = &settings.pcapng {
            if let Err(e) = crate::tap::start(path, tap_interfaces(&ports.info)) {
                crate::log::error!("MTCP_SENDPKT_PCAPNG={}: no tap ({e})", path.display());
            }
        }
        Ok(Runtime {
            io: Dpdk { pool },
            router: Router::new(ports.info, tables, settings.tcp_flags_from_packet),
            contexts,
            lanes,
            lanes_per_core,
            signal,
            settings,
            flusher: Mutex::new(Some(flusher)),
            stop_flusher: AtomicBool::new(false),
            flusher_done,
        })
    }

    /// The context of core `cpu`.
    #[inline(always)]
    pub(crate) fn context(&self, cpu: usize) -> Result<&CoreContext<Dpdk, HopCache>, SendError> {
        self.contexts.get(cpu).ok_or(SendError::NoContext)
    }

    /// The ports as the pcapng tap names them.
    pub(crate) fn tap_interfaces(&self) -> Vec<crate::tap::Interface> {
        tap_interfaces(self.router.ports())
    }

    /// Every core context's counters (its lanes' included), by context index.
    pub(crate) fn counters(&self) -> Vec<crate::core_ctx::Counters> {
        self.contexts.iter().map(|c| self.core_counters(c)).collect()
    }

    /// The counters of core context `ctx` and its lanes, summed.
    pub(crate) fn core_counters(&self, ctx: &CoreContext<Dpdk, HopCache>) -> crate::core_ctx::Counters {
        let mut sum = ctx.counters();
        for lane in self.lanes_of(ctx) {
            sum.add(&lane.counters());
        }
        sum
    }

    /// Lanes per core context.
    pub(crate) fn lanes_per_core(&self) -> usize {
        self.lanes_per_core
    }

    /// Every context: the core contexts, then the lanes.
    fn all_contexts(&self) -> impl Iterator<Item = &CoreContext<Dpdk, HopCache>> {
        self.contexts.iter().chain(self.lanes.iter())
    }

    /// The index of core context `ctx` (one of [`Runtime::context`]'s), `None` for a lane.
    fn core_index(&self, ctx: &CoreContext<Dpdk, HopCache>) -> Option<usize> {
        let size = std::mem::size_of::<CoreContext<Dpdk, HopCache>>();
        let offset = (ctx as *const CoreContext<Dpdk, HopCache> as usize)
            .checked_sub(self.contexts.as_ptr() as usize)?;
        let k = offset / size;
        (k < self.contexts.len()).then_some(k)
    }

    /// The lanes of core context `ctx` (none for a lane itself).
    pub(crate) fn lanes_of(&self, ctx: &CoreContext<Dpdk, HopCache>) -> &[CoreContext<Dpdk, HopCache>] {
        self.core_index(ctx).map_or(&[], |k| self.lanes_of_core(k))
    }

    /// The lanes of core context `k` (< `contexts.len()`).
    fn lanes_of_core(&self, k: usize) -> &[CoreContext<Dpdk, HopCache>] {
        &self.lanes[k * self.lanes_per_core..(k + 1) * self.lanes_per_core]
    }

    /// The context that sends the calling thread's frames for core context `ctx`: `ctx` itself
    /// (its owner's path, or a guest's hand-over), or a lane of `ctx` that the thread owns.
    ///
    /// A thread that calls with a core context another thread owns claims a free lane of that
    /// core at its first such call, and from then on sends every frame for that core through
    /// it, as its owner (with the owner's quick path, no hand-over); a thread that found every
    /// lane taken sends through the core and never takes a lane later (it hands over, or owns
    /// the core once nobody else does). Decided once per thread and core (see
    /// [`CoreContext::choose_lane`]), so that the frames a thread sends with one `mctx` stay in
    /// order on one TX queue. The thread gives its lanes up when it exits (see
    /// [`ThreadExit`]), as any context it owns.
    ///
    /// Correctness does not rest on the choice: a lane is a context like any other, so whoever
    /// calls it (its owner, a thread that lost it to an eviction) goes through its entry.
    #[inline]
    pub(crate) fn sender<'a>(
        &'a self,
        ctx: &'a CoreContext<Dpdk, HopCache>,
    ) -> &'a CoreContext<Dpdk, HopCache> {
        // The owner's own calls first, with no thread-local lookup (in a shared library each
        // costs a call into the dynamic linker's TLS code).
        if self.lanes_per_core == 0 || ctx.owned_by_caller() {
            return ctx;
        }
        self.lane_for(ctx).unwrap_or(ctx)
    }

    #[inline(never)]
    fn lane_for(&self, ctx: &CoreContext<Dpdk, HopCache>) -> Option<&CoreContext<Dpdk, HopCache>> {
        let core = self.core_index(ctx)?;
        let lanes = self.lanes_of_core(core);
        // During the thread's teardown the choices may be gone already: no lane then.
        let choice = LANES.try_with(|choices| choices[core].get()).ok()?;
        match choice {
            NO_LANE => None,
            UNDECIDED => {
                // The thread's record (made now at its first call; none in a signal handler that
                // interrupted its making: no lane for that call). `None` from the choice: the
                // thread owns the core, or will claim it; nothing to decide yet.
                let rec = thread_rec()?;
                if rec.inside() {
                    // A signal handler's call while the thread is inside the library: refused
                    // further on (EDEADLK), so it decides nothing.
                    return None;
                }
                let lane = ctx.choose_lane(lanes, rec)?;
                // MAX_LANES (8) fits in the byte.
                let decided = lane.map_or(NO_LANE, |j| FIRST_LANE + j as u8);
                let _ = LANES.try_with(|choices| choices[core].set(decided));
                lane.map(|j| &lanes[j])
            }
            j => lanes.get(usize::from(j - FIRST_LANE)),
        }
    }

    pub(crate) fn mos_errors(&self) -> bool {
        self.settings.mos_errors
    }

    pub(crate) fn cores(&self) -> usize {
        self.contexts.len()
    }

    pub(crate) fn ports(&self) -> &[PortInfo] {
        self.router.ports()
    }

    #[cfg(feature = "internals")]
    pub(crate) fn mempool(&self) -> &Mempool {
        &self.io.pool
    }

    /// Free mbufs: those in the mempool and those the core contexts keep at hand (a context takes
    /// them from the pool in bulk; `flush` gives them back). For leak checks.
    /// The pool is read as a call of context 0, which shutdown waits for before it frees the
    /// pool: `NotInitialized` once it is shutting down.
    pub(crate) fn free_mbufs(&self) -> Result<u64, SendError> {
        let spares: u64 = self.all_contexts().map(|c| c.spare_buffers() as u64).sum();
        let ctx = self.context(0)?;
        ctx.while_open(|| u64::from(self.io.pool.available()) + spares)
    }

    /// Builds the frame for `req` and sends it through `ctx` (see [`AckFrame`]).
    #[inline(always)]
    pub(crate) fn send(
        &self,
        ctx: &CoreContext<Dpdk, HopCache>,
        req: &impl AckRequest,
    ) -> Result<(), SendError> {
        let frame = AckFrame {
            router: &self.router,
            req,
        };
        let call = enter_call()?;
        ctx.send(|| call.rec(), frame)
    }

    /// Sends the frames for `reqs` in order from `ctx`, entering it once (see
    /// [`CoreContext::send_burst`]): a request is taken from `reqs` (and so checked) only when
    /// its turn comes, and a refused one is reported before anything else is looked at for it,
    /// as a single call does (also when the call cannot enter at all). After one that fails,
    /// `carry_on(error)` decides whether the next ones are tried. Returns how many frames were
    /// accepted.
    pub(crate) fn send_burst<R: BurstRequest>(
        &self,
        ctx: &CoreContext<Dpdk, HopCache>,
        reqs: impl Iterator<Item = R>,
        carry_on: impl FnMut(SendError) -> bool,
    ) -> usize {
        let router = &self.router;
        let frames = reqs.map(|req| BurstFrame { router, req });
        match enter_call() {
            Ok(call) => ctx.send_burst(|| call.rec(), frames, carry_on),
            // Refused like a closed context: each packet's own refusal first.
            Err(e) => ctx.refuse_burst(frames, e, carry_on),
        }
    }

    /// [`Runtime::send`]'s common case for the owner of context `cpu`, with no call (see
    /// [`CoreContext::try_send_quick`]): `req` to a destination in the context's route cache
    /// or, with `FILL`, one the tables give ([`Router::quick_hop`]; with an ARP entry, or else
    /// the caller's Ethernet destination), when its frame fits the port (declined otherwise).
    /// `mtcp_sendpkt`'s own body looks in the cache only, so that it calls nothing; its full
    /// path's entry fills the cache.
    #[inline(always)]
    pub(crate) fn try_send_quick<const FILL: bool>(
        &self,
        cpu: usize,
        req: &impl AckRequest,
    ) -> QuickSend<'_> {
        let Some(ctx) = self.contexts.get(cpu) else {
            return Quick::Declined;
        };
        // (A thread with a lane of `ctx` is declined here, as any thread but the owner: the C
        // call's full path takes it to its lane's quick path, `api::Core::send_request`. Not
        // looked up here: any code for it on this path costs the owner's calls about 25
        // instructions, measured.)
        self.try_send_quick_in::<FILL>(ctx, req)
    }

    /// [`Runtime::try_send_quick`] for a context the caller found already.
    #[inline(always)]
    pub(crate) fn try_send_quick_in<'a, const FILL: bool>(
        &'a self,
        ctx: &'a CoreContext<Dpdk, HopCache>,
        req: &impl AckRequest,
    ) -> QuickSend<'a> {
        // With the packet's own flags no hop is quick (`Router::quick_hop` declines them): the
        // context's entry would be paid for nothing.
        if FILL && self.router.tcp_flags_from_packet() {
            return Quick::Declined;
        }
        let frame = QuickAck::<_, FILL> {
            router: &self.router,
            req,
        };
        ctx.try_send_quick(ThreadRec::is_callers, frame)
    }

    /// [`Runtime::send_verbatim`]'s common case for the owner of context `cpu`, with no call:
    /// an untagged IPv4 frame (`daddr` its destination, read by the caller) to a destination in
    /// the context's route cache.
    #[inline(always)]
    pub(crate) fn try_send_quick_verbatim(&self, cpu: usize, frame: &[u8], daddr: [u8; 4]) -> QuickSend<'_> {
        let Some(ctx) = self.contexts.get(cpu) else {
            return Quick::Declined;
        };
        let build = QuickVerbatim {
            router: &self.router,
            frame,
            daddr,
        };
        ctx.try_send_quick(ThreadRec::is_callers, build)
    }

    /// Sends the RST toward each of `directions` for the observed segment `req`; returns how
    /// many frames were accepted. The first failure ends the call: it is the result when no
    /// frame was accepted.
    pub(crate) fn reset(
        &self,
        ctx: &CoreContext<Dpdk, HopCache>,
        req: &SegmentRequest<'_>,
        directions: &[Direction],
    ) -> Result<usize, SendError> {
        let call = enter_call()?;
        let frames = directions.iter().map(|&dir| {
            let r = req.seen.reset(dir);
            // Toward the receiver the observed frame's destination MAC is the receiver's; toward
            // the sender, its source MAC is the sender's.
            let fallback = req.ethernet.map(|e| match dir {
                Direction::ToReceiver => e.dst,
                Direction::ToSender => e.src,
            });
            self.router.next_hop(r.dst, fallback).and_then(|hop| {
                let (port, link) = self.link(hop, req);
                if segment::reset_frame_len(&link, req.seen.version()) - link.tags.len() > port.max_frame {
                    return Err(SendError::TooLong);
                }
                ctx.send(
                    || call.rec(),
                    |_: &mut HopCache, m: &mut port::Mbuf| {
                        m.write_frame(None, |room| {
                            segment::write_reset(&link, &r, room).map_err(SendError::from)
                        })?;
                        Ok(hop.port)
                    },
                )
            })
        });
        until_first_failure(frames)
    }

    /// The output port of `hop`, and the Ethernet addresses and the observed flow's VLAN tags a
    /// segment for `req` gets there.
    fn link<'r>(&self, hop: Hop, req: &SegmentRequest<'r>) -> (&PortInfo, Link<'r>) {
        let port = &self.router.ports()[hop.port];
        let link = Link {
            dst: hop.eth_dst,
            src: port.mac,
            tags: req.ethernet.map_or(&[][..], |e| e.tags),
        };
        (port, link)
    }

    /// Sends the caller's segment as it is, cut into frames that fit the output port's MTU;
    /// returns how many frames were accepted (the first failure ends the call, as for `reset`).
    pub(crate) fn send_raw(
        &self,
        ctx: &CoreContext<Dpdk, HopCache>,
        req: &SegmentRequest<'_>,
    ) -> Result<usize, SendError> {
        let call = enter_call()?;
        let hop = self
            .router
            .next_hop(req.seen.dst(), req.ethernet.map(|e| e.dst))?;
        let (port, link) = self.link(hop, req);
        // The IP packet of each frame fits the port's MTU (and its frame the mbuf).
        let mtu = usize::from(port.mtu).min(port.max_frame.saturating_sub(14));
        let pieces =
            segment::pieces(req.payload.len(), req.seen.headers_len(), mtu).ok_or(SendError::TooLong)?;
        until_first_failure(pieces.into_iter().map(|piece| {
            ctx.send(
                || call.rec(),
                |_: &mut HopCache, m: &mut port::Mbuf| {
                    m.write_frame(None, |room| {
                        segment::write_raw(&link, &req.seen, req.payload, &piece, room)
                            .map_err(SendError::from)
                    })?;
                    Ok(hop.port)
                },
            )
        }))
    }

    /// Sends a whole frame the caller held back, as it is but for its two MAC addresses (the
    /// ARP/neighbour entry of its IP destination's and the output port's): one frame, never cut.
    /// The frame's own destination MAC is never used (as in the fork). IPv4 goes through the
    /// context's route cache, as on the quick path ([`Runtime::try_send_quick_verbatim`]).
    pub(crate) fn send_verbatim(
        &self,
        ctx: &CoreContext<Dpdk, HopCache>,
        frame: &segment::Verbatim<'_>,
    ) -> Result<(), SendError> {
        let call = enter_call()?;
        let router = &self.router;
        let send = |addresses: [u8; 12], port: usize, m: &mut port::Mbuf| -> Result<usize, SendError> {
            m.write_frame(None, |room| {
                frame.write(&addresses, room).map_err(SendError::from)
            })?;
            Ok(port)
        };
        match frame.dst {
            std::net::IpAddr::V4(a) => ctx.send(
                || call.rec(),
                |hops: &mut HopCache, m: &mut port::Mbuf| {
                    let hop = router.resolve(hops, u32::from(a), || None)?;
                    if frame.untagged_len() > hop.max_frame {
                        return Err(SendError::TooLong);
                    }
                    send(*hop.template.addresses(), hop.port, m)
                },
            ),
            dst @ std::net::IpAddr::V6(_) => {
                let hop = router.next_hop(dst, None)?;
                let port = &router.ports()[hop.port];
                if frame.untagged_len() > port.max_frame {
                    return Err(SendError::TooLong);
                }
                let mut addresses = [0; 12];
                addresses[..6].copy_from_slice(&hop.eth_dst);
                addresses[6..].copy_from_slice(&port.mac);
                ctx.send(
                    || call.rec(),
                    |_: &mut HopCache, m: &mut port::Mbuf| send(addresses, hop.port, m),
                )
            }
        }
    }

    /// Flushes core context `ctx` and its lanes (see [`CoreContext::flush`]: no ownership
    /// changes), waiting at most `tx_wait` in all.
    pub(crate) fn flush(&self, ctx: &CoreContext<Dpdk, HopCache>) -> Result<FlushOutcome, SendError> {
        let call = enter_call()?;
        let deadline = Deadline::after(self.settings.tx_wait);
        // The core context, then its lanes, within one `tx_wait`: a lane whose owner stays inside
        // past it (or a queue that keeps refusing) leaves its frames counted in `left`.
        let mut sum = FlushOutcome {
            transmitted: 0,
            left: 0,
        };
        for c in std::iter::once(ctx).chain(self.lanes_of(ctx)) {
            match c.flush(|| call.rec(), &deadline) {
                Ok(o) => {
                    sum.transmitted += o.transmitted;
                    sum.left += o.left;
                }
                // Another thread stayed inside: what it has pending is left.
                Err(SendError::TxBusy) => sum.left += c.stats().pending.max(1) as usize,
                Err(e) => return Err(e),
            }
        }
        Ok(sum)
    }

    /// Closes every context (see [`CoreContext::close`]); returns the frames dropped and
    /// whether every context closed completely.
    fn close_contexts(&self) -> (u64, bool) {
        // The owner's call inside may itself wait `tx_wait` for its TX queue, and then the flush
        // of what was accepted as long again; a thread inside may also be preempted for a while
        // on a loaded machine (see core_ctx's HOLDER_WAIT).
        let deadline = Deadline::after(self.settings.tx_wait * 3 + Duration::from_secs(1));
        self.all_contexts().fold((0, true), |(dropped, complete), c| {
            let o = c.close(&deadline);
            (dropped + o.dropped, complete && o.complete)
        })
    }

    /// Stops the flusher thread; false if it did not stop in time (it may still touch contexts).
    fn stop_flusher(&self) -> bool {
        self.stop_flusher.store(true, Ordering::Release);
        self.signal.unpark();
        let deadline = Deadline::after(self.settings.tx_wait * 2 + Duration::from_millis(500));
        let mut backoff = sync::Backoff::new();
        while !self.flusher_done.load(Ordering::Acquire) {
            if deadline.expired() {
                return false;
            }
            backoff.wait();
        }
        if let Some(h) = self.flusher.lock().ok().and_then(|mut g| g.take()) {
            // It has left its loop: the join returns at once.
            let _ = h.join();
        }
        true
    }
}

/// The mOS ACK frame for a request: route and ARP (cached per context), the port's frame limit,
/// the frame written straight into the mbuf.
struct AckFrame<'r, R> {
    router: &'r Router,
    req: &'r R,
}

impl<R: AckRequest> crate::core_ctx::Build<Dpdk, HopCache> for AckFrame<'_, R> {
    #[inline(always)]
    fn build(self, hops: &mut HopCache, m: &mut port::Mbuf) -> Result<usize, SendError> {
        let router = self.router;
        // The segment is looked at again once the hop is known, so that its pieces are not kept
        // across the route cache's refill (fewer values spilled around it).
        let hop = router.resolve(hops, self.req.view().daddr(), || self.req.eth_dst_hint())?;
        let seg = self.req.view();
        if seg.frame_len() > hop.max_frame {
            return Err(SendError::TooLong);
        }
        // SAFETY: `m` comes from this runtime's pool (the context's only source of buffers is
        // `Dpdk`, whose pool that is), and `hop.max_frame` is at most that pool's room:
        // `open_ports` cuts every port's limit to it, and the router's hops copy the ports'.
        // (The mbuf's fields first: then nothing of it is kept across the payload's copy.)
        let bytes = unsafe { m.frame_of(seg.frame_len(), hop.tx) };
        frame::write_ack(&seg, &hop.template, hop.checksum, bytes).map_err(|_| SendError::TooLong)?;
        if router.tcp_flags_from_packet() {
            frame::set_tcp_flags(bytes, seg.tcp_flags(), hop.checksum);
        }
        Ok(hop.port)
    }
}

/// The replay of a held frame (`mtcp_sendpkt_raw`) on the quick path: an untagged IPv4 frame to
/// a destination in the context's route cache (whose cached hop has an ARP entry), copied with
/// the hop's two MAC addresses, when it fits the port; declined otherwise (the full path,
/// [`Runtime::send_verbatim`], takes it).
struct QuickVerbatim<'r> {
    router: &'r Router,
    frame: &'r [u8],
    daddr: [u8; 4],
}

// SAFETY: the mbuf returned is the one `take(hop.port)` gave, with that port.
unsafe impl crate::core_ctx::QuickBuild<Dpdk, HopCache> for QuickVerbatim<'_> {
    const RAW: bool = true;

    #[inline(always)]
    fn try_build(
        self,
        hops: &mut HopCache,
        take: impl FnOnce(usize) -> Option<port::Mbuf>,
    ) -> Option<(usize, port::Mbuf)> {
        // (Only where the ARP table has an entry: the replay has no other MAC.)
        let hop = self.router.cached(hops, self.daddr, || None)?;
        if self.frame.len() > hop.max_frame {
            return None;
        }
        let mut m = take(hop.port)?;
        // SAFETY: `m` is of this runtime's pool, and the frame is at most `hop.max_frame` long,
        // at most that pool's room (as in `AckFrame::build`). No checksum offload is asked for:
        // the frame's checksums are the caller's.
        let bytes = unsafe { m.frame_of(self.frame.len(), port::TxFlags::default()) };
        bytes.copy_from_slice(self.frame);
        bytes[..12].copy_from_slice(hop.template.addresses());
        Some((hop.port, m))
    }
}

/// A packet of a burst ([`Runtime::send_burst`]): [`QuickAck`] when the quick path reads it,
/// else [`AckFrame`] once it is checked.
struct BurstFrame<'r, R> {
    router: &'r Router,
    req: R,
}

// SAFETY: `try_quick` is `QuickAck::try_build`, whose contract is the same.
unsafe impl<R: BurstRequest> crate::core_ctx::BurstItem<Dpdk, HopCache> for BurstFrame<'_, R> {
    #[inline(always)]
    fn try_quick(
        &self,
        hops: &mut HopCache,
        take: impl FnOnce(usize) -> Option<port::Mbuf>,
    ) -> Option<(usize, port::Mbuf)> {
        use crate::core_ctx::QuickBuild;
        let router = self.router;
        match self.req.quick()? {
            QuickPacket::Ack(req) => QuickAck::<_, true> { router, req: &req }.try_build(hops, take),
            QuickPacket::Data(req) => QuickAck::<_, true> { router, req: &req }.try_build(hops, take),
        }
    }

    #[inline(always)]
    fn full(self) -> Result<impl crate::core_ctx::Build<Dpdk, HopCache>, SendError> {
        let router = self.router;
        let req = self.req.full()?;
        Ok(move |hops: &mut HopCache, m: &mut port::Mbuf| {
            crate::core_ctx::Build::build(AckFrame { router, req: &req }, hops, m)
        })
    }
}

/// [`AckFrame`] on the quick path: the hop in the route cache or, with `FILL`, the tables' put
/// into it ([`Router::quick_hop`]); else nothing. Without `FILL` and with no payload
/// (`mtcp_sendpkt`'s own body) it calls nothing; otherwise (from the full path's entry, a burst)
/// the cache's refill on a miss and the payload's copy-and-sum.
struct QuickAck<'r, R, const FILL: bool> {
    router: &'r Router,
    req: &'r R,
}

// SAFETY: the mbuf returned is the one `take(hop.port)` gave, with that port.
unsafe impl<R: AckRequest, const FILL: bool> crate::core_ctx::QuickBuild<Dpdk, HopCache>
    for QuickAck<'_, R, FILL>
{
    #[inline(always)]
    fn try_build(
        self,
        hops: &mut HopCache,
        take: impl FnOnce(usize) -> Option<port::Mbuf>,
    ) -> Option<(usize, port::Mbuf)> {
        let hop = self
            .router
            .quick_hop::<FILL>(hops, self.req.view().daddr_bytes(), || self.req.eth_dst_hint())?;
        // An ACK with no payload fits every hop `quick_hop` gives; a longer frame must fit its
        // port (else the full path says EMSGSIZE).
        let len = self.req.view().frame_len();
        if len > frame::HEADER_LEN && len > hop.max_frame {
            return None;
        }
        let mut m = take(hop.port)?;
        // The segment is looked at again here (as in `AckFrame::build`): nothing of it is kept
        // across the checks above.
        let seg = self.req.view();
        // SAFETY: as in `AckFrame::build`: `m` is of this runtime's pool, and the frame is at
        // most HEADER_LEN long, which `quick_hop` checked against `hop.max_frame`, or at most
        // `hop.max_frame` (checked above), at most the pool's room.
        let bytes = unsafe { m.frame_of(seg.frame_len(), hop.tx) };
        frame::write_ack(&seg, &hop.template, hop.checksum, bytes).ok()?;
        Some((hop.port, m))
    }
}

/// How many lanes per core context to ask the ports for: `MTCP_SENDPKT_LANES` (default 1), none
/// when attached to a host's EAL (the host set up the queues it gives the library), and no more
/// than the mempool can feed: every queue of every port may hold a full TX ring, a staging and
/// spares.
fn lanes_wanted(settings: &Settings, cores: usize, ports: usize, attached: bool) -> usize {
    if attached {
        if settings.lanes.is_some_and(|n| n > 0) {
            crate::log::warning!("attached to the host's EAL: MTCP_SENDPKT_LANES is ignored (no lanes)");
        }
        return 0;
    }
    let wanted = settings.lanes.unwrap_or(1);
    let per_queue = usize::from(settings.tx_desc) + crate::core_ctx::mbufs_held(settings.burst);
    let mut lanes = wanted;
    while lanes > 0 && ports * cores * (1 + lanes) * per_queue > settings.mbufs as usize {
        lanes -= 1;
    }
    if lanes < wanted {
        crate::log::debug!(
            "{lanes} lanes per core context, not {wanted}: {} mbufs (MTCP_SENDPKT_MBUFS) feed {} TX queues of {} descriptors",
            settings.mbufs,
            ports * cores * (1 + lanes),
            settings.tx_desc
        );
    }
    lanes
}

/// A thread's lane choice for a core context (see [`Runtime::sender`]): [`UNDECIDED`],
/// [`NO_LANE`], or [`FIRST_LANE`] + the lane's index among the core's. The library runs once per
/// process, so the choices never outlive their runtime.
const UNDECIDED: u8 = 0;
const NO_LANE: u8 = 1;
const FIRST_LANE: u8 = 2;

/// Sets up (or, attached to a host's EAL, looks up) each port with one TX queue per core context.
fn open_ports(
    port_ids: &[u16],
    cores: usize,
    lanes: usize,
    attached: bool,
    settings: &Settings,
    pool: &Mempool,
) -> Result<Ports, InitError> {
    // cores <= MAX_CORES (128) fits in u16.
    let opened: Vec<(PortInfo, Vec<TxQueue>)> = if attached {
        let base = settings.tx_queue_base.ok_or(InitError::AttachNeedsQueues)?;
        port_ids
            .iter()
            .map(|&id| port::attach_port(id, base, cores as u16))
            .collect::<Result<_, _>>()?
    } else {
        port_ids
            .iter()
            .map(|&id| port::setup_port(id, cores as u16, (cores * lanes) as u16, settings.tx_desc, pool))
            .collect::<Result<_, _>>()?
    };
    let (mut info, queues): (Vec<PortInfo>, _) = opened.into_iter().unzip();
    // Frames are single-segment: none longer than the pool's mbufs hold (the fast path relies on
    // it, see `AckFrame::build`).
    for port in &mut info {
        port.max_frame = port.max_frame.min(pool.room());
    }
    Ok(Ports { info, queues })
}

thread_local! {
    /// The calling thread's record (`exclusive`), once it has one. No destructor: readable
    /// during the thread's teardown too.
    static THREAD_REC: Cell<Option<&'static ThreadRec>> = const { Cell::new(None) };
    /// The thread is making its record (a signal handler's call must not make another).
    static MAKING_REC: Cell<bool> = const { Cell::new(false) };
    /// Gives the record back when the thread exits (see [`ThreadExit`]).
    static THREAD_EXIT: ThreadExit = const { ThreadExit };
    /// The thread's lane choices, per core context (see [`Runtime::sender`]). No destructor.
    static LANES: [Cell<u8>; MAX_CORES] = const { [const { Cell::new(UNDECIDED) }; MAX_CORES] };
}

/// Records of exited threads, for reuse: a record is never freed (a taker may still read the
/// `busy` flag of an owner it looked up a moment ago), so they are recycled instead.
static SPARE_RECS: Mutex<Vec<&'static ThreadRec>> = Mutex::new(Vec::new());

/// The calling thread inside a call of the library (see [`CallGuard`]): refused with
/// [`SendError::Reentered`] when it is inside one already (a signal handler's call).
#[inline]
pub(crate) fn enter_call() -> Result<CallGuard, SendError> {
    let rec = match THREAD_REC.with(Cell::get) {
        Some(r) => r,
        None => new_thread_rec().ok_or(SendError::Reentered)?,
    };
    CallGuard::enter(rec).ok_or(SendError::Reentered)
}

/// The calling thread's record, made if it has none; `None` in a signal handler that
/// interrupted its making.
fn thread_rec() -> Option<&'static ThreadRec> {
    THREAD_REC.with(Cell::get).or_else(new_thread_rec)
}

/// A record for the calling thread, which has none; `None` when it is making one already (a
/// signal handler's call).
#[cold]
fn new_thread_rec() -> Option<&'static ThreadRec> {
    if MAKING_REC.with(|m| m.replace(true)) {
        return None;
    }
    let rec = SPARE_RECS
        .lock()
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_else(|| Box::leak(Box::new(ThreadRec::new())));
    rec.bind(true);
    THREAD_REC.with(|c| c.set(Some(rec)));
    // Registers the exit hook; during the thread's own teardown it may be gone already, and
    // then the record is simply not recycled.
    let _ = THREAD_EXIT.try_with(|_| ());
    port::ensure_lcore();
    MAKING_REC.with(|m| m.set(false));
    Some(rec)
}

/// At thread exit: the contexts this thread owns send what it staged and become free to claim;
/// then its record is recycled.
struct ThreadExit;

impl Drop for ThreadExit {
    fn drop(&mut self) {
        let Some(rec) = THREAD_REC.with(Cell::take) else {
            return;
        };
        // In a forked child nothing is sent, and SPARE_RECS may be locked for good (by a thread
        // of the parent's that the child does not have): the record is left alone.
        if STATE.load(Ordering::Acquire) == FORKED {
            return;
        }
        let _ = std::panic::catch_unwind(|| {
            if let Some(rt) = running() {
                for ctx in rt.all_contexts() {
                    ctx.owner_leaving(rec);
                }
            }
        });
        rec.bind(false);
        if let Ok(mut v) = SPARE_RECS.lock() {
            v.push(rec);
        }
    }
}

/// At normal process exit: every context is closed (later calls from threads still running fail
/// with EACCES) and what was accepted is sent. DPDK itself is left as it is.
extern "C" fn at_exit() {
    if STATE
        .compare_exchange(RUNNING, SHUTTING_DOWN, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    LIVE.store(std::ptr::null_mut(), Ordering::Release);
    if let Some(Ok(rt)) = RUNTIME.get() {
        // A panic must not unwind out of an atexit handler, nor skip the steps after it.
        let dropped =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.close_contexts().0)).unwrap_or(0);
        let _ = std::panic::catch_unwind(crate::tap::close);
        report_dropped(dropped);
    }
    STATE.store(SHUT_DOWN, Ordering::Release);
}

/// In a forked child (only the forking thread exists): DPDK's queues and memory are the parent's,
/// so the child must never send, flush or free. Plain stores only.
extern "C" fn in_forked_child() {
    STATE.store(FORKED, Ordering::Release);
    LIVE.store(std::ptr::null_mut(), Ordering::Release);
    port::forget_eal_after_fork();
    crate::tap::forget_after_fork();
    if let Some(Ok(rt)) = RUNTIME.get() {
        for ctx in rt.all_contexts() {
            ctx.mark_closed();
        }
    }
}

fn report_dropped(dropped: u64) {
    if dropped > 0 {
        crate::log::error!(
            "{dropped} accepted frames were refused by their TX queue until the deadline and were freed"
        );
    }
}

/// What `shutdown` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShutdownOutcome {
    /// Accepted frames their TX queue refused until the deadline (freed).
    pub dropped: u64,
    /// Ports, mempool and EAL were released (false: something stayed busy, or they are a host's).
    pub released: bool,
}

/// Closes every context (waiting for calls in flight, sending what they accepted), stops the
/// flusher, then releases the ports, the mempool and the EAL the library owns, unless something
/// could still reach them. Safe from any thread, at any time; calls afterwards fail with EACCES.
pub(crate) fn shutdown() -> ShutdownOutcome {
    let nothing = ShutdownOutcome {
        dropped: 0,
        released: false,
    };
    if STATE.load(Ordering::Acquire) == FORKED {
        return nothing;
    }
    // From a signal handler that interrupted a call on this thread: that call cannot end while
    // shutdown waits for it, so nothing is done.
    let Ok(_call) = enter_call() else {
        return nothing;
    };
    match STATE.compare_exchange(RUNNING, SHUTTING_DOWN, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => LIVE.store(std::ptr::null_mut(), Ordering::Release),
        Err(FORKED) => return nothing,
        Err(_) => {
            // Another thread is shutting down (or did): wait for it, bounded.
            let deadline = Deadline::after(Duration::from_secs(5));
            let mut backoff = sync::Backoff::new();
            while STATE.load(Ordering::Acquire) == SHUTTING_DOWN && !deadline.expired() {
                backoff.wait();
            }
            return nothing;
        }
    }
    let Some(Ok(rt)) = RUNTIME.get() else {
        STATE.store(SHUT_DOWN, Ordering::Release);
        return nothing;
    };
    let (dropped, contexts_closed) = rt.close_contexts();
    let flusher_stopped = rt.stop_flusher();
    // Every frame is on its TX queue: the tap's file can be completed, and no tap starts again.
    crate::tap::close();
    report_dropped(dropped);
    STATE.store(SHUT_DOWN, Ordering::Release);
    if !(contexts_closed && flusher_stopped) {
        crate::log::error!(
            "shutdown: a thread stayed inside the library past the deadline; \
             ports and mempool are left allocated"
        );
        return ShutdownOutcome {
            dropped,
            released: false,
        };
    }
    port::ensure_lcore();
    for p in rt.ports().iter().filter(|p| p.owned) {
        port::close_port(p.id);
    }
    let released = rt.ports().iter().all(|p| p.owned);
    if released {
        // SAFETY: the ports are closed (their queues freed their mbufs), every context is closed
        // and emptied, the flusher has exited: no mbuf of the pool is in use or can be reached.
        unsafe { rt.io.pool.release() };
        port::cleanup_eal();
    }
    ShutdownOutcome { dropped, released }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes asked for: one per core by default while the mempool can fill every queue's
    /// ring (1120 mbufs a queue with the defaults: 8191 mbufs feed 6 queues of one port), none
    /// when attached or turned off, more with a larger pool.
    #[test]
    fn lanes_are_asked_for_as_the_mempool_allows() {
        let d = Settings::default();
        assert_eq!(
            crate::core_ctx::mbufs_held(d.burst) + usize::from(d.tx_desc),
            1120
        );
        let want = |s: &Settings, cores, ports, attached| lanes_wanted(s, cores, ports, attached);
        assert_eq!(
            (1..=4).map(|c| want(&d, c, 1, false)).collect::<Vec<_>>(),
            [1, 1, 1, 0]
        );
        assert_eq!(want(&d, 1, 2, false), 1);
        assert_eq!(want(&d, 2, 2, false), 0);
        assert_eq!(want(&d, 1, 1, true), 0, "attached");
        let off = Settings {
            lanes: Some(0),
            ..Settings::default()
        };
        assert_eq!(want(&off, 1, 1, false), 0);
        let big = Settings {
            lanes: Some(2),
            mbufs: 65535,
            ..Settings::default()
        };
        assert_eq!(want(&big, 8, 2, false), 2);
        assert_eq!(
            want(&big, 16, 2, false),
            0,
            "16 x 2 ports x 3 queues x 1120 > 65535"
        );
    }
}
