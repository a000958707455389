/*
 * C shim over the parts of DPDK that bindgen cannot bind: static inline
 * functions, function-like macros and thread-local variables.
 *
 * Every function here is a thin, behaviour-free wrapper.  Constants that DPDK
 * defines with RTE_BIT64() (which bindgen silently drops) are re-exported as
 * `static const uint64_t` so that Rust sees them with their real values.
 */
#ifndef MTCP_DPDK_SHIM_H
#define MTCP_DPDK_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ip.h>
#include <rte_log.h>
#include <rte_ring.h>
#include <rte_telemetry.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_version.h>

static const uint64_t SHIM_TX_OFFLOAD_IPV4_CKSUM = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_TCP_CKSUM = RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
static const uint64_t SHIM_TX_OFFLOAD_MBUF_FAST_FREE = RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
static const uint64_t SHIM_MBUF_F_TX_IPV4 = RTE_MBUF_F_TX_IPV4;
static const uint64_t SHIM_MBUF_F_TX_IP_CKSUM = RTE_MBUF_F_TX_IP_CKSUM;
static const uint64_t SHIM_MBUF_F_TX_TCP_CKSUM = RTE_MBUF_F_TX_TCP_CKSUM;
static const uint32_t SHIM_LCORE_ID_ANY = LCORE_ID_ANY;
static const uint32_t SHIM_MAX_LCORE = RTE_MAX_LCORE;
static const uint16_t SHIM_MBUF_DEFAULT_BUF_SIZE = RTE_MBUF_DEFAULT_BUF_SIZE;
static const uint16_t SHIM_PKTMBUF_HEADROOM = RTE_PKTMBUF_HEADROOM;

/* Where the fast path's mbuf fields are, so that Rust can touch them without a call per field.
 * shim.c asserts their sizes; tx_offload holds l2_len in bits 0-6 and l3_len in bits 7-15. */
#include <stddef.h>
static const uint16_t SHIM_MBUF_OFF_BUF_ADDR = offsetof(struct rte_mbuf, buf_addr);
static const uint16_t SHIM_MBUF_OFF_DATA_OFF = offsetof(struct rte_mbuf, data_off);
static const uint16_t SHIM_MBUF_OFF_BUF_LEN = offsetof(struct rte_mbuf, buf_len);
static const uint16_t SHIM_MBUF_OFF_DATA_LEN = offsetof(struct rte_mbuf, data_len);
static const uint16_t SHIM_MBUF_OFF_PKT_LEN = offsetof(struct rte_mbuf, pkt_len);
static const uint16_t SHIM_MBUF_OFF_OL_FLAGS = offsetof(struct rte_mbuf, ol_flags);
static const uint16_t SHIM_MBUF_OFF_TX_OFFLOAD = offsetof(struct rte_mbuf, tx_offload);

/* rte_errno is a per-lcore (TLS) variable: never touch it from Rust directly. */
int shim_rte_errno(void);

unsigned shim_rte_lcore_id(void);

uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts);

int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *pool,
                                struct rte_mbuf **mbufs, unsigned count);
/* Mbufs straight from the pool, not reset (rte_mbuf_raw_alloc, in bulk): DPDK keeps pooled mbufs
 * with next NULL, nb_segs 1 and refcnt 1; the caller sets data_off, lengths and offload flags,
 * as testpmd's txonly does. */
int shim_rte_mbuf_raw_alloc_bulk(struct rte_mempool *pool,
                                 struct rte_mbuf **mbufs, unsigned count);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
void shim_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);

/* The data room of a packet mempool's mbufs, headroom included (rte_pktmbuf_data_room_size):
 * every mbuf of the pool has this buf_len. */
uint16_t shim_rte_pktmbuf_data_room_size(struct rte_mempool *mp);
/* Whether mp is laid out as rte_pktmbuf_pool_create makes packet mempools: a private area of
 * struct rte_pktmbuf_pool_private, and elements that hold an mbuf, its private area and the data
 * room (or, pinned external buffers of the data room: rte_pktmbuf_pool_create_extbuf). */
int shim_is_pktmbuf_pool(struct rte_mempool *mp);

/* Start of the packet data (rte_pktmbuf_mtod) and its writable room. */
void *shim_rte_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
uint32_t shim_rte_pktmbuf_pkt_len(const struct rte_mbuf *m);

/* Sets a single-segment mbuf's data/packet length and its TX offload request. */
void shim_mbuf_set_tx(struct rte_mbuf *m, uint16_t len, uint64_t ol_flags,
                      uint8_t l2_len, uint16_t l3_len);

/* Dequeues up to n objects from a ring (tests read net_ring's rings directly with it). */
unsigned shim_rte_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n);

/* Reads back what the fast path wrote (tests compare it with Rust's direct writes). */
void shim_mbuf_get_tx(const struct rte_mbuf *m, uint16_t *data_len, uint32_t *pkt_len,
                      uint64_t *ol_flags, uint8_t *l2_len, uint16_t *l3_len);

/* Checksum helpers, used by tests to cross-check the pure Rust frame builder. */
uint16_t shim_rte_ipv4_cksum(const void *ipv4_hdr);
uint16_t shim_rte_ipv4_udptcp_cksum(const void *ipv4_hdr, const void *l4_hdr);
uint16_t shim_rte_ipv4_phdr_cksum(const void *ipv4_hdr, uint64_t ol_flags);

/* The port's device as "<bus>-<device>" (vdev-net_pcap0, pci-0000:01:00.0), as dpdk-dumpcap names
 * an interface's hardware, NUL-terminated in buf; 0, or -1 when the port has no device. */
int shim_port_hardware(uint16_t port, char *buf, size_t len);

/*
 * Telemetry's unsigned 64-bit values. The one place where DPDK releases differ for us:
 * rte_tel_data_add_{dict,array}_u64 and the enum constant RTE_TEL_U64_VAL in 22.11;
 * rte_tel_data_add_dict_uint / _array_uint and RTE_TEL_UINT_VAL from 23.11 (the u64 names kept
 * as deprecated aliases, RTE_TEL_U64_VAL as a macro that bindgen cannot see); the u64 functions
 * are gone in 25.11. Chosen at build time from RTE_VERSION.
 */
int shim_tel_dict_uint(struct rte_tel_data *d, const char *name, uint64_t v);
int shim_tel_array_uint(struct rte_tel_data *d, uint64_t v);
static const int SHIM_TEL_UINT_VAL = RTE_TEL_U64_VAL;

/* From 25.07 the EAL parses its arguments with argparse, which calls exit() on a bad one
 * instead of returning an error (see the library's port/eal_check.rs). */
static const int SHIM_EAL_EXITS_ON_BAD_ARGS = RTE_VERSION >= RTE_VERSION_NUM(25, 7, 0, 0);

/* rte_log is variadic: one message, already formatted, with a newline appended. */
void shim_log(uint32_t level, uint32_t logtype, const char *msg);

#endif
