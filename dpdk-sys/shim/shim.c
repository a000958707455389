#include <stdio.h>

#include "shim.h"

#define FIELD_SIZE(f) sizeof(((struct rte_mbuf *)0)->f)
_Static_assert(FIELD_SIZE(buf_addr) == 8, "buf_addr");
_Static_assert(FIELD_SIZE(data_off) == 2, "data_off");
_Static_assert(FIELD_SIZE(buf_len) == 2, "buf_len");
_Static_assert(FIELD_SIZE(data_len) == 2, "data_len");
_Static_assert(FIELD_SIZE(pkt_len) == 4, "pkt_len");
_Static_assert(FIELD_SIZE(ol_flags) == 8, "ol_flags");
_Static_assert(FIELD_SIZE(tx_offload) == 8, "tx_offload");

int shim_rte_errno(void) { return rte_errno; }

unsigned shim_rte_lcore_id(void) { return rte_lcore_id(); }

uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *pool,
                                struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(pool, mbufs, count);
}

int shim_rte_mbuf_raw_alloc_bulk(struct rte_mempool *pool,
                                 struct rte_mbuf **mbufs, unsigned count)
{
	return rte_mempool_get_bulk(pool, (void **)mbufs, count);
}

void shim_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void shim_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

uint16_t shim_rte_pktmbuf_data_room_size(struct rte_mempool *mp)
{
	return rte_pktmbuf_data_room_size(mp);
}

int shim_is_pktmbuf_pool(struct rte_mempool *mp)
{
	if (mp->private_data_size < sizeof(struct rte_pktmbuf_pool_private))
		return 0;
	const struct rte_pktmbuf_pool_private *p = rte_mempool_get_priv(mp);
	if (p->flags & RTE_PKTMBUF_POOL_F_PINNED_EXT_BUF)
		return 1;
	return mp->elt_size >= sizeof(struct rte_mbuf) + (size_t)p->mbuf_priv_size +
				       (size_t)p->mbuf_data_room_size;
}

void *shim_rte_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

uint32_t shim_rte_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

void shim_mbuf_set_tx(struct rte_mbuf *m, uint16_t len, uint64_t ol_flags,
                      uint8_t l2_len, uint16_t l3_len)
{
	m->data_len = len;
	m->pkt_len = len;
	m->ol_flags = ol_flags;
	m->l2_len = l2_len;
	m->l3_len = l3_len;
}

uint16_t shim_rte_ipv4_cksum(const void *ipv4_hdr)
{
	return rte_ipv4_cksum((const struct rte_ipv4_hdr *)ipv4_hdr);
}

uint16_t shim_rte_ipv4_udptcp_cksum(const void *ipv4_hdr, const void *l4_hdr)
{
	return rte_ipv4_udptcp_cksum((const struct rte_ipv4_hdr *)ipv4_hdr, l4_hdr);
}

uint16_t shim_rte_ipv4_phdr_cksum(const void *ipv4_hdr, uint64_t ol_flags)
{
	return rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)ipv4_hdr, ol_flags);
}

unsigned shim_rte_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n)
{
	return rte_ring_dequeue_burst(r, objs, n, NULL);
}

void shim_mbuf_get_tx(const struct rte_mbuf *m, uint16_t *data_len, uint32_t *pkt_len,
                      uint64_t *ol_flags, uint8_t *l2_len, uint16_t *l3_len)
{
	*data_len = m->data_len;
	*pkt_len = m->pkt_len;
	*ol_flags = m->ol_flags;
	*l2_len = (uint8_t)m->l2_len;
	*l3_len = (uint16_t)m->l3_len;
}

void shim_log(uint32_t level, uint32_t logtype, const char *msg)
{
	rte_log(level, logtype, "%s\n", msg);
}

int shim_port_hardware(uint16_t port, char *buf, size_t len)
{
	struct rte_eth_dev_info info;

	if (len == 0 || rte_eth_dev_info_get(port, &info) != 0 || info.device == NULL)
		return -1;
	snprintf(buf, len, "%s-%s", rte_bus_name(rte_dev_bus(info.device)),
		 rte_dev_name(info.device));
	return 0;
}

int shim_tel_dict_uint(struct rte_tel_data *d, const char *name, uint64_t v)
{
#if RTE_VERSION >= RTE_VERSION_NUM(23, 11, 0, 0)
	return rte_tel_data_add_dict_uint(d, name, v);
#else
	return rte_tel_data_add_dict_u64(d, name, v);
#endif
}

int shim_tel_array_uint(struct rte_tel_data *d, uint64_t v)
{
#if RTE_VERSION >= RTE_VERSION_NUM(23, 11, 0, 0)
	return rte_tel_data_add_array_uint(d, v);
#else
	return rte_tel_data_add_array_u64(d, v);
#endif
}
