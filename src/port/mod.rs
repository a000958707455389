//! The DPDK edge: EAL start-up, the mempool, port set-up, and the few mbuf and TX-queue
//! operations the per-core contexts need ([`Dpdk`] is their `PacketIo`).
//!
//! Soundness by construction: an [`Mbuf`] is owned (freed on drop unless a TX queue took it);
//! a [`TxQueue`] exists once per (port, queue) and is not `Clone`, so only the holder of a core
//! context's exclusive access can burst on it, as DPDK requires.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::ptr::NonNull;

use std::sync::atomic::{AtomicUsize, Ordering};

use dpdk_sys as sys;

mod eal_check;

use crate::error::InitError;
pub(crate) use crate::nic::{MbufTooSmall, PortIdentity, PortInfo, TxFlags, TxOffload};

/// Text of a DPDK error number.
pub(crate) fn rte_strerror(errnum: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    unsafe { CStr::from_ptr(sys::rte_strerror(errnum.abs())) }
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno through the shim (TLS is not reachable from Rust).
    unsafe { sys::shim_rte_errno() }
}

/// Starts DPDK's EAL with `user_args`, leaving the calling thread's CPU affinity as it was.
///
/// `rte_eal_init` pins the calling thread to the main lcore's CPU; a library must not change its
/// host thread's affinity behind its back, so the mask is saved and restored. Unless the user says
/// otherwise, the EAL gets one lcore (the first CPU the caller may run on), so that it starts no
/// idle worker threads, and (unless `telemetry`) `--no-telemetry`, so that it starts no
/// telemetry thread.
pub(crate) fn init_eal(user_args: &[String], telemetry: bool) -> Result<(), InitError> {
    let saved = current_affinity();
    let mut args = vec!["mtcp_sendpkt".to_owned()];
    let has = |names: &[&str]| {
        user_args
            .iter()
            .any(|a| names.iter().any(|n| a == n || a.starts_with(&format!("{n}="))))
    };
    if !has(&["-l", "-c", "--lcores"])
        && !user_args
            .iter()
            .any(|a| a.starts_with("-l") || a.starts_with("-c"))
    {
        let cpu = saved.as_ref().and_then(first_cpu).unwrap_or(0);
        args.extend(["-l".to_owned(), cpu.to_string()]);
    }
    if !telemetry && !has(&["--telemetry", "--no-telemetry"]) {
        args.push("--no-telemetry".to_owned());
    }
    args.extend(user_args.iter().cloned());

    let c_args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(|_| InitError::Eal {
            args: args.clone(),
            reason: "an argument holds a NUL byte".into(),
        })?;
    if eal_check::needed() {
        eal_check::check(&c_args).map_err(|reason| InitError::Eal {
            args: args.clone(),
            reason,
        })?;
    }
    // EAL may keep pointers into argv for the life of the process: leak it on purpose (once).
    let argv: &mut [*mut c_char] = Box::leak(
        c_args
            .into_iter()
            .map(CString::into_raw)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let argc = argv.len() as i32;
    // SAFETY: argv holds argc valid, NUL-terminated, never-freed strings; EAL may permute argv.
    let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
    let err = rte_errno();
    if let Some(mask) = saved {
        set_affinity(&mask);
    }
    if rc < 0 {
        if err == libc::EALREADY {
            return Err(InitError::EalAlreadyInitialized);
        }
        return Err(InitError::Eal {
            args,
            reason: rte_strerror(err),
        });
    }
    Ok(())
}

fn current_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; the call writes at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::pthread_getaffinity_np(libc::pthread_self(), std::mem::size_of_val(&set), &mut set);
        (rc == 0).then_some(set)
    }
}

fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    unsafe {
        libc::pthread_setaffinity_np(libc::pthread_self(), std::mem::size_of_val(set), set);
    }
}

fn first_cpu(set: &libc::cpu_set_t) -> Option<usize> {
    // SAFETY: CPU_ISSET only reads the set, for indices below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).find(|&i| unsafe { libc::CPU_ISSET(i, set) })
}

/// True when DPDK's EAL is already up in this process (a host application started it).
/// `rte_lcore_count` reads a static that is 0 until `rte_eal_init` has run.
pub(crate) fn eal_running() -> bool {
    // SAFETY: reads EAL's static configuration; valid before and after initialization.
    unsafe { sys::rte_lcore_count() > 0 }
}

/// The EAL's lcores (the library's own EAL: the one `-l` names; attached, the host's).
pub(crate) fn eal_lcores() -> usize {
    // SAFETY: reads EAL's static configuration; valid after initialization.
    unsafe { sys::rte_lcore_count() as usize }
}

/// Registers the calling thread with DPDK if it is not an EAL lcore yet and one of the library's
/// lcore slots is free ([`set_lcore_slots`]), so that it gets a mempool cache (measured: 43 Mpps
/// without, 51 Mpps with). Returns whether this call registered it. Without a slot (or when DPDK
/// has none left) the thread works without a cache: its mbufs go straight to and from the pool.
fn register_thread() -> bool {
    // SAFETY: a plain query of the calling thread's lcore id; EAL is initialized.
    if unsafe { sys::shim_rte_lcore_id() } != sys::SHIM_LCORE_ID_ANY {
        return false;
    }
    let limit = LCORE_SLOTS_LIMIT.load(Ordering::Relaxed);
    if LCORE_SLOTS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_err()
    {
        return false;
    }
    // SAFETY: only touches the calling thread's lcore id; EAL is initialized.
    if unsafe { sys::rte_thread_register() } == 0 {
        true
    } else {
        LCORE_SLOTS.fetch_sub(1, Ordering::Relaxed);
        false
    }
}

/// Threads the library registered as DPDK lcores that hold the registration now, and how many
/// may (see [`set_lcore_slots`]).
static LCORE_SLOTS: AtomicUsize = AtomicUsize::new(0);
static LCORE_SLOTS_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// How many threads the library registers as lcores at a time: one per core context (its
/// owner), the flusher, and one more (a thread taking over a context whose owner still lives).
/// Every other calling thread works without a mempool cache. So the caches that may sit idle
/// are few and known, and the pool's cache is sized for them ([`pool_cache_size`]): a pool of
/// worker threads that take turns and then sit idle cannot leave the mempool empty in their
/// caches, while an owner keeps a cache of full size (a third of the speed at 1514 B without:
/// freed mbufs must come back hot).
pub(crate) fn set_lcore_slots(cores: usize) -> usize {
    let slots = cores + 2;
    LCORE_SLOTS_LIMIT.store(slots, Ordering::Relaxed);
    slots
}

/// Set once the library released DPDK's EAL, or in a forked child (whose EAL state is a copy of
/// the parent's): threads exiting afterwards must not call into it.
static EAL_RELEASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// In a forked child: DPDK must not be called (its shared state belongs to the parent).
pub(crate) fn forget_eal_after_fork() {
    EAL_RELEASED.store(true, std::sync::atomic::Ordering::Relaxed);
}

thread_local! {
    static LCORE: LcoreSlot = LcoreSlot { registered: register_thread() };
}

/// A DPDK lcore slot taken for a thread that was not an EAL lcore, released at thread exit.
struct LcoreSlot {
    registered: bool,
}

impl Drop for LcoreSlot {
    fn drop(&mut self) {
        if self.registered && !EAL_RELEASED.load(std::sync::atomic::Ordering::Acquire) {
            // SAFETY: this thread was registered by register_thread and EAL is still up.
            unsafe { sys::rte_thread_unregister() }
        }
        if self.registered {
            LCORE_SLOTS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Makes the calling thread a DPDK lcore (for its mempool cache) the first time it needs one.
/// During thread teardown the slot may be gone already: then the thread works without a cache.
pub(crate) fn ensure_lcore() {
    let _ = LCORE.try_with(|_| ());
}

/// The packet mempool the core contexts allocate from (one, with a per-lcore cache): the library's
/// own, or one the host application owns and named.
pub(crate) struct Mempool {
    pool: NonNull<sys::rte_mempool>,
    owned: bool,
    /// What every mbuf of the pool holds past the standard headroom (see [`Mempool::room`]).
    room: u16,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer is freed only by
// `release`, whose caller guarantees no further use.
unsafe impl Send for Mempool {}
// SAFETY: as above; every operation through &Mempool is a thread-safe DPDK call.
unsafe impl Sync for Mempool {}

/// Largest per-lcore mempool cache DPDK allows (RTE_MEMPOOL_CACHE_MAX_SIZE).
const POOL_CACHE: u32 = 512;

/// The per-lcore cache of a pool of `mbufs` that at most `holders` lcores use (the EAL's lcores
/// and the library's slots, [`set_lcore_slots`]): as large as DPDK allows, but small enough that
/// all of those caches together hold at most half of the pool, each filling up to 1.5 times its
/// size before DPDK flushes it (8191 mbufs, 4 holders: 512).
pub(crate) fn pool_cache_size(mbufs: u32, holders: usize) -> u32 {
    let holders = u32::try_from(holders.max(1)).unwrap_or(u32::MAX);
    (mbufs / holders.saturating_mul(3)).min(POOL_CACHE)
}

impl Mempool {
    /// A pool of `mbufs` whose cache is sized for `holders` lcores ([`pool_cache_size`]).
    pub(crate) fn new(name: &str, mbufs: u32, holders: usize) -> Result<Self, InitError> {
        let cname = CString::new(name).map_err(|_| InitError::Mempool("name holds NUL".into()))?;
        let cache = pool_cache_size(mbufs, holders);
        // SAFETY: valid NUL-terminated name; DPDK copies it.
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                mbufs,
                cache,
                0,
                sys::SHIM_MBUF_DEFAULT_BUF_SIZE,
                sys::rte_socket_id() as i32,
            )
        };
        let pool = NonNull::new(p).ok_or_else(|| {
            InitError::Mempool(format!(
                "cannot create {mbufs} mbufs: {}",
                rte_strerror(rte_errno())
            ))
        })?;
        // SAFETY: a packet mempool DPDK just made.
        unsafe { Mempool::of(pool, true) }
    }

    /// The host's mempool called `name` (never freed by the library).
    pub(crate) fn lookup(name: &str) -> Result<Self, InitError> {
        let cname = CString::new(name).map_err(|_| InitError::Mempool(format!("{name:?}: holds NUL")))?;
        // SAFETY: valid NUL-terminated name; lookup only reads the mempool list.
        let p = unsafe { sys::rte_mempool_lookup(cname.as_ptr()) };
        let pool = NonNull::new(p)
            .ok_or_else(|| InitError::Mempool(format!("the host has no mempool named {name:?}")))?;
        // SAFETY: a live mempool of the host's EAL (the lookup found it).
        unsafe { Mempool::of(pool, false) }
    }

    /// A mempool the host passed by pointer (never freed by the library).
    ///
    /// # Safety
    /// `p` is a mempool that outlives every use by the library.
    pub(crate) unsafe fn borrowed(p: NonNull<crate::abi::rte_mempool>) -> Result<Self, InitError> {
        // SAFETY: the caller's contract (the ABI's opaque type is DPDK's struct, declared only).
        unsafe { Mempool::of(p.cast(), false) }
    }

    /// `pool`, once it is known to be a packet mempool: then every mbuf of it has the data room
    /// its private area names, which [`Mempool::room`] (and the fast path's frame bound) rests on.
    ///
    /// # Safety
    /// `pool` is a live mempool.
    unsafe fn of(pool: NonNull<sys::rte_mempool>, owned: bool) -> Result<Self, InitError> {
        // SAFETY: a live mempool (the caller's contract); reads its header and, once the
        // header says it is there, its private area.
        let data_room = unsafe {
            if sys::shim_is_pktmbuf_pool(pool.as_ptr()) == 0 {
                return Err(InitError::Mempool(
                    "not a packet mempool (make it with rte_pktmbuf_pool_create)".into(),
                ));
            }
            sys::shim_rte_pktmbuf_data_room_size(pool.as_ptr())
        };
        Ok(Mempool {
            pool,
            owned,
            room: data_room.saturating_sub(sys::SHIM_PKTMBUF_HEADROOM),
        })
    }

    /// The bytes every mbuf of the pool has for a frame: its data room (`buf_len`, the same for
    /// all of them) past the standard headroom. No frame longer than this can be sent.
    pub(crate) fn room(&self) -> usize {
        usize::from(self.room)
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.pool.as_ptr()
    }

    /// Mbufs currently in the pool (free), counting per-lcore caches.
    pub(crate) fn available(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_avail_count(self.pool.as_ptr()) }
    }

    /// Appends `n` mbufs to `out`: all of them, or none (false) when the pool has fewer. They
    /// are not reset: [`Mbuf::frame_of`] or [`Room::finish`] sets every field a frame needs.
    pub(crate) fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> bool {
        out.reserve(n);
        let len = out.len();
        // SAFETY: room for n more elements was reserved; Mbuf is a transparent NonNull<rte_mbuf>,
        // so the spare capacity is an array of n mbuf pointers for DPDK to fill. On success DPDK
        // wrote n valid mbuf pointers (never NULL), which `set_len` then takes ownership of.
        unsafe {
            let dst = out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>();
            if sys::shim_rte_mbuf_raw_alloc_bulk(self.pool.as_ptr(), dst, n as u32) != 0 {
                return false;
            }
            out.set_len(len + n);
        }
        true
    }

    /// One mbuf (not reset, as for [`Mempool::alloc_bulk`]), or `None` when the pool is empty.
    pub(crate) fn alloc(&self) -> Option<Mbuf> {
        let mut m: *mut sys::rte_mbuf = std::ptr::null_mut();
        // SAFETY: room for exactly one pointer; the pool is alive.
        let rc = unsafe { sys::shim_rte_mbuf_raw_alloc_bulk(self.pool.as_ptr(), &mut m, 1) };
        if rc == 0 {
            NonNull::new(m).map(Mbuf)
        } else {
            None
        }
    }
}

impl Mempool {
    /// Another handle on this pool, for a core context's allocations: it does not own the pool
    /// (its `release` does nothing); the handle the runtime keeps does.
    pub(crate) fn handle(&self) -> Mempool {
        Mempool {
            owned: false,
            ..*self
        }
    }

    /// Gives the pool's memory back to DPDK if the library created it (a host's pool is left
    /// alone). The pool lives in a static that is never dropped, so this is explicit.
    ///
    /// # Safety
    /// No mbuf of the pool is in use and the pool is never used again.
    pub(crate) unsafe fn release(&self) {
        if self.owned {
            // SAFETY: guaranteed by the caller.
            unsafe { sys::rte_mempool_free(self.pool.as_ptr()) }
        }
    }
}

/// An mbuf the library owns: freed on drop unless a TX queue took it. Transparent over the
/// pointer, so that a `Vec<Mbuf>` is the pointer array `rte_eth_tx_burst` takes.
#[repr(transparent)]
pub(crate) struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf has a single owner at a time; moving that ownership between threads is how DPDK
// is used (alloc on one lcore, free on another is allowed).
unsafe impl Send for Mbuf {}

/// What an mbuf carries to ask for `offload` (DPDK's flag bits, the header lengths packed as
/// its `tx_offload` field packs them); nothing without it.
pub(crate) fn tx_flags(offload: Option<TxOffload>) -> TxFlags {
    match offload {
        Some(o) => TxFlags {
            ol_flags: sys::SHIM_MBUF_F_TX_IPV4 | sys::SHIM_MBUF_F_TX_IP_CKSUM | sys::SHIM_MBUF_F_TX_TCP_CKSUM,
            tx_offload: u64::from(o.l2_len & 0x7f) | (u64::from(o.l3_len & 0x1ff) << 7),
        },
        None => TxFlags::default(),
    }
}

impl Mbuf {
    /// A field of the mbuf at `offset` (from the shim's offsetof constants).
    fn field<T>(&self, offset: u16) -> *mut T {
        // SAFETY: offset is inside struct rte_mbuf (offsetof of one of its fields).
        unsafe { self.0.as_ptr().cast::<u8>().add(usize::from(offset)).cast::<T>() }
    }

    /// Starts a single-segment frame: the buffer's room, from the standard headroom to the end,
    /// for the frame to be written into; [`Room::finish`] then sets its length. Together they
    /// set every field `rte_pktmbuf_reset` would that a TX path reads (pooled mbufs already have
    /// `next` NULL and `nb_segs` 1), so raw mbufs need no reset.
    #[inline(always)]
    pub(crate) fn room(&mut self) -> Room<'_> {
        // SAFETY: a single-segment mbuf this Mbuf owns exclusively. buf_addr + data_off is the
        // packet start once data_off is set to the headroom (bounded by buf_len), and the
        // buf_len - data_off bytes after it are inside the buffer: the data area, apart from the
        // mbuf's header, which `Room` keeps writing through `mbuf`. The fields are naturally
        // aligned (their sizes are asserted in shim.c).
        unsafe {
            let buf = *self.field::<*mut u8>(sys::SHIM_MBUF_OFF_BUF_ADDR);
            let buf_len = *self.field::<u16>(sys::SHIM_MBUF_OFF_BUF_LEN);
            let room = buf_len.saturating_sub(sys::SHIM_PKTMBUF_HEADROOM);
            // The headroom, or the whole buffer when it is shorter (no room then).
            let data_off = buf_len - room;
            *self.field::<u16>(sys::SHIM_MBUF_OFF_DATA_OFF) = data_off;
            Room {
                bytes: std::slice::from_raw_parts_mut(buf.add(usize::from(data_off)), usize::from(room)),
                mbuf: self.0,
                _owner: std::marker::PhantomData,
            }
        }
    }

    /// A frame of exactly `len` bytes with the offload request `tx`, both set before
    /// it is written (so that nothing of the mbuf is needed afterwards): the bytes to write it
    /// into. The mbuf's length is not read.
    ///
    /// # Safety
    /// `len` is at most the [`Mempool::room`] of the pool this mbuf comes from.
    #[inline(always)]
    pub(crate) unsafe fn frame_of(&mut self, len: usize, tx: TxFlags) -> &mut [u8] {
        debug_assert!(
            // SAFETY: buf_len is a field of the mbuf this Mbuf owns, naturally aligned.
            usize::from(unsafe { *self.field::<u16>(sys::SHIM_MBUF_OFF_BUF_LEN) })
                >= usize::from(sys::SHIM_PKTMBUF_HEADROOM) + len
        );
        // SAFETY: every mbuf of a pool has the pool's buf_len, so the headroom plus `len` bytes are
        // inside the buffer (the caller's contract); `len` then fits a u16. The mbuf is this
        // Mbuf's alone, and the returned bytes (its data area) are apart from its header.
        unsafe {
            let buf = *self.field::<*mut u8>(sys::SHIM_MBUF_OFF_BUF_ADDR);
            *self.field::<u16>(sys::SHIM_MBUF_OFF_DATA_OFF) = sys::SHIM_PKTMBUF_HEADROOM;
            set_tx(self.0, len, tx);
            std::slice::from_raw_parts_mut(buf.add(usize::from(sys::SHIM_PKTMBUF_HEADROOM)), len)
        }
    }

    /// Writes a single-segment frame: `write` fills the room ([`Mbuf::room`]) and returns the
    /// frame's length, which [`Room::finish`] sets with `offload`.
    #[inline(always)]
    pub(crate) fn write_frame<E: From<MbufTooSmall>>(
        &mut self,
        offload: Option<TxOffload>,
        write: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<(), E> {
        let room = self.room();
        let len = write(&mut *room.bytes)?;
        Ok(room.finish(len, offload)?)
    }

    /// The frame's bytes: a single-segment mbuf's data, `data_len` bytes from `data_off` (what
    /// the tap copies).
    pub(crate) fn frame_bytes(&self) -> &[u8] {
        // SAFETY: the mbuf is this Mbuf's (the library's mbufs are single-segment), its
        // data_len bytes from buf_addr + data_off lie in its buffer; the fields are naturally
        // aligned (sizes asserted in shim.c). Borrowed from &self: nothing writes it meanwhile.
        unsafe {
            let buf = *self.field::<*mut u8>(sys::SHIM_MBUF_OFF_BUF_ADDR);
            let off = *self.field::<u16>(sys::SHIM_MBUF_OFF_DATA_OFF);
            let len = *self.field::<u16>(sys::SHIM_MBUF_OFF_DATA_LEN);
            std::slice::from_raw_parts(buf.add(usize::from(off)), usize::from(len))
        }
    }

    /// The mbuf, for reading it through DPDK (tests). Ownership stays here.
    #[cfg(feature = "internals")]
    pub(crate) fn as_ptr(&self) -> *const sys::rte_mbuf {
        self.0.as_ptr()
    }
}

/// The data room of an mbuf being written ([`Mbuf::room`]): `bytes` to write the frame into,
/// then [`Room::finish`] to set its length. Borrows the mbuf for as long as it lives.
pub(crate) struct Room<'m> {
    pub bytes: &'m mut [u8],
    mbuf: NonNull<sys::rte_mbuf>,
    _owner: std::marker::PhantomData<&'m mut Mbuf>,
}

impl Room<'_> {
    /// Ends the frame: its length (refused beyond the room) and the checksum offload request.
    #[inline(always)]
    pub(crate) fn finish(self, len: usize, offload: Option<TxOffload>) -> Result<(), MbufTooSmall> {
        if len > self.bytes.len() {
            return Err(MbufTooSmall);
        }
        // SAFETY: the mbuf is borrowed exclusively (`_owner`) and len fits the room, which ends
        // within buf_len (a u16).
        unsafe { set_tx(self.mbuf, len, tx_flags(offload)) };
        Ok(())
    }
}

/// Sets a single-segment frame's length and its checksum offload request: every field of the
/// mbuf's header a TX path reads that `data_off` does not cover.
///
/// # Safety
/// `mbuf` is not used by anyone else meanwhile; `len` fits its buffer (so a u16).
#[inline(always)]
unsafe fn set_tx(mbuf: NonNull<sys::rte_mbuf>, len: usize, tx: TxFlags) {
    let field = |offset: u16| {
        // SAFETY: offset is inside struct rte_mbuf (offsetof of one of its fields).
        unsafe { mbuf.as_ptr().cast::<u8>().add(usize::from(offset)) }
    };
    // SAFETY: the caller's contract; the fields are naturally aligned (sizes asserted in shim.c).
    unsafe {
        *field(sys::SHIM_MBUF_OFF_DATA_LEN).cast::<u16>() = len as u16;
        *field(sys::SHIM_MBUF_OFF_PKT_LEN).cast::<u32>() = len as u32;
        *field(sys::SHIM_MBUF_OFF_OL_FLAGS).cast::<u64>() = tx.ol_flags;
        *field(sys::SHIM_MBUF_OFF_TX_OFFLOAD).cast::<u64>() = tx.tx_offload;
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: this Mbuf owns the mbuf.
        unsafe { sys::shim_rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// TX queue `queue` of port `port`: one handle per queue, made only by [`setup_port`] and
/// [`attach_port`], so bursting on it needs `&mut` to the only handle.
pub(crate) struct TxQueue {
    port: u16,
    queue: u16,
    /// Its part of the pcapng tap (the ring its frames are copied into while the tap runs).
    tap: &'static crate::tap::QueueTap,
}

impl TxQueue {
    fn new(port: u16, queue: u16) -> Self {
        Self {
            port,
            queue,
            tap: crate::tap::QueueTap::register(port, queue),
        }
    }
}

impl TxQueue {
    /// Hands the leading mbufs of `bufs` to the queue; those it took are removed (they are the
    /// driver's now). Returns how many.
    #[inline(always)]
    pub(crate) fn burst(&mut self, bufs: &mut Vec<Mbuf>) -> usize {
        if crate::tap::on() {
            return self.burst_tapped(bufs);
        }
        self.burst_untapped(bufs)
    }

    /// [`TxQueue::burst`] with the pcapng tap on: the copies are taken before the burst (after
    /// it the driver may have freed the frames). Out of line, so that the tap costs the usual
    /// path one load and one branch.
    #[cold]
    #[inline(never)]
    fn burst_tapped(&mut self, bufs: &mut Vec<Mbuf>) -> usize {
        let n = bufs.len().min(usize::from(u16::MAX));
        // SAFETY: `&mut self` is the queue's only handle, held until the recording ends.
        let copies = unsafe { crate::tap::record(self.tap, &bufs[..n], Mbuf::frame_bytes) };
        let took = self.burst_untapped(bufs);
        if let Some(c) = copies {
            c.finish(took);
        }
        took
    }

    #[inline(always)]
    fn burst_untapped(&mut self, bufs: &mut Vec<Mbuf>) -> usize {
        let n = bufs.len().min(usize::from(u16::MAX));
        // SAFETY: Mbuf is a transparent NonNull<rte_mbuf>, so `bufs` is an array of n owned mbuf
        // pointers; `&mut self` is the queue's only handle, so no other thread bursts on it.
        let took = usize::from(unsafe {
            sys::shim_rte_eth_tx_burst(self.port, self.queue, bufs.as_mut_ptr().cast(), n as u16)
        });
        let left = bufs.len() - took;
        // SAFETY: the first `took` mbufs belong to the driver now: they are dropped from the vector
        // without being freed (set_len(0) first, so a panic cannot double-free), and the rest
        // move to the front.
        unsafe {
            bufs.set_len(0);
            let p = bufs.as_mut_ptr();
            std::ptr::copy(p.add(took), p, left);
            bufs.set_len(left);
        }
        took
    }
}

/// The packet I/O the core contexts use in the library: mbufs from the mempool, DPDK TX queues.
pub(crate) struct Dpdk {
    pub pool: Mempool,
}

impl crate::core_ctx::PacketIo for Dpdk {
    type Buf = Mbuf;
    type Queue = TxQueue;

    #[inline]
    fn alloc(&self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    #[inline]
    fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> bool {
        self.pool.alloc_bulk(out, n)
    }

    #[inline]
    fn burst(queue: &mut TxQueue, bufs: &mut Vec<Mbuf>) -> usize {
        queue.burst(bufs)
    }
}

/// A port's MAC address.
fn port_mac(id: u16) -> Result<[u8; 6], InitError> {
    let mut mac = sys::rte_ether_addr::default();
    // SAFETY: valid out-parameter.
    let rc = unsafe { sys::rte_eth_macaddr_get(id, &mut mac) };
    if rc != 0 {
        return Err(port_error(id, "rte_eth_macaddr_get", rc));
    }
    Ok(mac.addr_bytes)
}

/// A port's device name (`net_pcap0`, `0000:01:00.0`), or `port<id>`.
fn port_device_name(id: u16) -> String {
    let mut name = [0 as std::os::raw::c_char; 64];
    // SAFETY: `name` has room for RTE_ETH_NAME_MAX_LEN (64) bytes including the NUL.
    if unsafe { sys::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr()) } == 0 {
        // SAFETY: DPDK wrote a NUL-terminated name.
        unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    } else {
        format!("port{id}")
    }
}

/// Every port DPDK has (the library's EAL's, or the host's when attached), as the
/// configuration's netdev names find them: id, device name, MAC.
pub(crate) fn identities() -> Result<Vec<PortIdentity>, InitError> {
    let mut out = Vec::new();
    for id in 0..sys::RTE_MAX_ETHPORTS as u16 {
        // SAFETY: plain query, valid after EAL init.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 1 {
            out.push(PortIdentity {
                id,
                name: port_device_name(id),
                mac: port_mac(id)?,
            });
        }
    }
    Ok(out)
}

/// The DPDK the library runs on, as `rte_version()` names it (`DPDK 25.11.2`), without the
/// `DPDK ` prefix; callable before the EAL is up.
pub(crate) fn dpdk_version() -> String {
    // SAFETY: rte_version returns a static NUL-terminated string; it needs no EAL.
    let v = unsafe { CStr::from_ptr(sys::rte_version()) }.to_string_lossy();
    v.strip_prefix("DPDK ").unwrap_or(&v).to_owned()
}

/// The DPDK the library was built against (pkg-config's `libdpdk` version).
pub(crate) const DPDK_BUILT: &str = env!("MTCP_SENDPKT_DPDK_BUILT");

/// MAC, MTU and the frame limit of a port, once it is set up (by the library or the host).
fn port_info(id: u16, checksum_offload: bool, owned: bool) -> Result<PortInfo, InitError> {
    let mac = port_mac(id)?;
    let mut mtu = 0u16;
    // SAFETY: valid out-parameter.
    if unsafe { sys::rte_eth_dev_get_mtu(id, &mut mtu) } != 0 {
        mtu = 1500;
    }
    let name = port_device_name(id);
    let mut hw = [0 as std::os::raw::c_char; 128];
    // SAFETY: `hw` has the length passed; the shim NUL-terminates what it writes.
    let hardware = if unsafe { sys::shim_port_hardware(id, hw.as_mut_ptr(), hw.len()) } == 0 {
        // SAFETY: the shim wrote a NUL-terminated string.
        unsafe { CStr::from_ptr(hw.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    } else {
        name.clone()
    };
    Ok(PortInfo {
        id,
        name,
        hardware,
        mac,
        mtu,
        // Cut to what the mempool's mbufs hold by `open_ports`, which knows the pool.
        max_frame: usize::from(mtu) + 14,
        checksum_offload,
        tx: tx_flags(crate::nic::checksums(checksum_offload).1),
        owned,
    })
}

const CHECKSUM_OFFLOADS: u64 = sys::SHIM_TX_OFFLOAD_IPV4_CKSUM | sys::SHIM_TX_OFFLOAD_TCP_CKSUM;

/// A port error from a failed DPDK call.
fn port_error(id: u16, call: &str, rc: i32) -> InitError {
    InitError::Port {
        port: id,
        reason: format!("{call}: {}", rte_strerror(rc)),
    }
}

/// What DPDK says about port `id`, which must exist.
fn device_info(id: u16) -> Result<sys::rte_eth_dev_info, InitError> {
    // SAFETY: query only.
    if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 0 {
        return Err(InitError::Port {
            port: id,
            reason: "no such DPDK port".into(),
        });
    }
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: `info` is a valid out-parameter.
    let rc = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
    if rc != 0 {
        return Err(port_error(id, "rte_eth_dev_info_get", rc));
    }
    Ok(info)
}

/// Uses TX queues `first_queue..first_queue + queues` of a port a host application configured and
/// started, without touching its configuration. Checksums are offloaded only if the host enabled
/// both checksum offloads for those queues.
pub(crate) fn attach_port(
    id: u16,
    first_queue: u16,
    queues: u16,
) -> Result<(PortInfo, Vec<TxQueue>), InitError> {
    let info = device_info(id)?;
    let mut conf = sys::rte_eth_conf::default();
    // SAFETY: valid out-parameter.
    let rc = unsafe { sys::rte_eth_dev_conf_get(id, &mut conf) };
    if rc != 0 {
        return Err(port_error(id, "rte_eth_dev_conf_get", rc));
    }
    let end = u32::from(first_queue) + u32::from(queues);
    if end > u32::from(info.nb_tx_queues) {
        return Err(InitError::Port {
            port: id,
            reason: format!(
                "the host set up no TX queue {} ({queues} core contexts need queues {first_queue}..{}, \
                 the port has {} TX queues)",
                u32::from(info.nb_tx_queues).max(u32::from(first_queue)),
                end - 1,
                info.nb_tx_queues
            ),
        });
    }
    let mut offload = conf.txmode.offloads & CHECKSUM_OFFLOADS == CHECKSUM_OFFLOADS;
    for q in first_queue..first_queue + queues {
        let mut txq = sys::rte_eth_txq_info::default();
        // SAFETY: valid out-parameter. Drivers without this query (-ENOTSUP) leave the port-wide
        // offloads as the answer.
        if unsafe { sys::rte_eth_tx_queue_info_get(id, q, &mut txq) } == 0 {
            offload &= (conf.txmode.offloads | txq.conf.offloads) & CHECKSUM_OFFLOADS == CHECKSUM_OFFLOADS;
        }
    }
    let queues = (first_queue..first_queue + queues).map(|queue| TxQueue::new(id, queue));
    Ok((port_info(id, offload, false)?, queues.collect()))
}

/// Configures and starts port `id` with `tx_queues` TX queues (queue k belongs to core context k),
/// and up to `extra` more where the device takes them (the lanes, see `runtime`; fewer when it
/// has fewer, none when it refuses that many), and one RX queue (DPDK needs one on most PMDs; the
/// library never polls it, an application or a test may). Returns as many TX queues as it set up.
pub(crate) fn setup_port(
    id: u16,
    tx_queues: u16,
    extra: u16,
    tx_desc: u16,
    pool: &Mempool,
) -> Result<(PortInfo, Vec<TxQueue>), InitError> {
    let info = device_info(id)?;
    if tx_queues > info.max_tx_queues {
        return Err(InitError::Port {
            port: id,
            reason: format!(
                "{tx_queues} core contexts need {tx_queues} TX queues, the port has {}",
                info.max_tx_queues
            ),
        });
    }
    let checksum_offload = info.tx_offload_capa & CHECKSUM_OFFLOADS == CHECKSUM_OFFLOADS;
    let mut conf = sys::rte_eth_conf::default();
    if checksum_offload {
        conf.txmode.offloads = CHECKSUM_OFFLOADS;
    }
    let rx_queues = u16::from(info.max_rx_queues > 0);
    let wanted = tx_queues.saturating_add(extra).min(info.max_tx_queues);
    // With the lanes' queues first; where the device refuses them (net_tap takes no more TX
    // queues than RX queues; a device may lack memory for more rings), without: no lanes.
    let mut tried = start_port(id, rx_queues, wanted, tx_desc, &info, &conf, pool);
    if tried.is_err() && wanted > tx_queues {
        tried = start_port(id, rx_queues, tx_queues, tx_desc, &info, &conf, pool);
    }
    let tx_queues = tried?;
    let queues = (0..tx_queues).map(|queue| TxQueue::new(id, queue));
    Ok((port_info(id, checksum_offload, true)?, queues.collect()))
}

/// Configures port `id` with `tx_queues` TX queues and `rx_queues` (0 or 1) RX queue, sets
/// them up and starts it; returns `tx_queues`. On failure the port is left stopped, to be
/// configured again.
fn start_port(
    id: u16,
    rx_queues: u16,
    tx_queues: u16,
    tx_desc: u16,
    info: &sys::rte_eth_dev_info,
    conf: &sys::rte_eth_conf,
    pool: &Mempool,
) -> Result<u16, InitError> {
    // SAFETY: `conf` is a valid, fully initialized configuration; the port is stopped.
    let rc = unsafe { sys::rte_eth_dev_configure(id, rx_queues, tx_queues, conf) };
    if rc != 0 {
        return Err(port_error(id, "rte_eth_dev_configure", rc));
    }
    // SAFETY: query only.
    let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
    let socket = if socket < 0 { 0 } else { socket as u32 };
    for q in 0..tx_queues {
        let mut txconf = info.default_txconf;
        txconf.offloads = conf.txmode.offloads;
        // SAFETY: the port is configured with tx_queues queues; txconf lives across the call.
        let rc = unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, &txconf) };
        if rc != 0 {
            return Err(port_error(id, &format!("rte_eth_tx_queue_setup({q})"), rc));
        }
    }
    if rx_queues > 0 {
        // SAFETY: one RX queue configured; NULL rxconf means the driver's default.
        let rc = unsafe { sys::rte_eth_rx_queue_setup(id, 0, 256, socket, std::ptr::null(), pool.as_ptr()) };
        if rc != 0 {
            return Err(port_error(id, "rte_eth_rx_queue_setup", rc));
        }
    }
    // SAFETY: the port is configured with all its queues set up.
    let rc = unsafe { sys::rte_eth_dev_start(id) };
    if rc != 0 {
        return Err(port_error(id, "rte_eth_dev_start", rc));
    }
    Ok(tx_queues)
}

/// Stops and closes a port the library set up.
pub(crate) fn close_port(id: u16) {
    // SAFETY: the port was started by setup_port; no TX happens on it any more (shutdown).
    unsafe {
        sys::rte_eth_dev_stop(id);
        sys::rte_eth_dev_close(id);
    }
}

/// Releases DPDK's EAL (only when the library started it).
pub(crate) fn cleanup_eal() {
    EAL_RELEASED.store(true, std::sync::atomic::Ordering::Release);
    // SAFETY: called once at shutdown, after ports and the mempool were released.
    unsafe {
        sys::rte_eal_cleanup();
    }
}
