/*
 * What the C DPDK peers of `make bench` share: EAL from their command line (after PAYLOAD and
 * CALLS), a packet mempool, and port 0 started with one TX queue.
 */
#ifndef BENCH_PORT_H
#define BENCH_PORT_H

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <string.h>

/* The mempool, or NULL when EAL or the port would not start. */
static struct rte_mempool *bench_port0(int argc, char **argv, const char *pool_name, unsigned cache)
{
	if (rte_eal_init(argc - 2, argv + 2) < 0)
		return NULL;
	struct rte_mempool *pool =
		rte_pktmbuf_pool_create(pool_name, 8191, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof conf);
	if (!pool || rte_eth_dev_configure(0, 0, 1, &conf) || rte_eth_tx_queue_setup(0, 0, 1024, 0, NULL) ||
	    rte_eth_dev_start(0))
		return NULL;
	return pool;
}

#endif
