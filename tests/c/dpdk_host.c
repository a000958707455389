/*
 * A DPDK application that owns EAL, port 0 and a mempool, and lends TX queue 1 of port 0 to the
 * library. Usage: dpdk_host MODE EAL-ARGS...
 *   env       the library attaches on its first call (MTCP_SENDPKT_TXQ / MTCP_SENDPKT_MEMPOOL)
 *   explicit  mtcp_sendpkt_attach(NULL, 1, pool) first
 *   missing   MTCP_SENDPKT_TXQ names a queue the host did not set up: calls fail with EACCES
 *   smallpool mtcp_sendpkt_attach with a second pool whose mbufs hold 200 bytes past the
 *             headroom: a 200-byte frame goes out, a 201-byte one fails with EMSGSIZE
 *   plainpool mtcp_sendpkt_attach with a mempool that holds no mbufs: refused, with the reason
 * The host sends a marker frame (ethertype 0x88b5) on queue 0 before, during and after the library's
 * life, to show its port keeps working unchanged.
 */
#define _GNU_SOURCE
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "dpdk_host:%d: FAILED: %s\n", __LINE__, #cond); \
			return 1;                                                    \
		}                                                                    \
	} while (0)

static int send_marker(struct rte_mempool *pool, uint8_t n)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (!m)
		return 0;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, 60);
	memset(d, 0, 60);
	memset(d, 0xff, 6);
	d[12] = 0x88;
	d[13] = 0xb5;
	d[14] = n;
	if (rte_eth_tx_burst(0, 0, &m, 1) == 1)
		return 1;
	rte_pktmbuf_free(m);
	return 0;
}

static int send_tcp_payload(int i, uint16_t payloadlen)
{
	static uint8_t bytes[256];
	struct mtcp_context core = {.cpu = 0};
	struct {
		struct iphdr ip;
		struct tcphdr tcp;
	} h;
	memset(&h, 0, sizeof h);
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.saddr = inet_addr("10.0.0.1");
	h.ip.daddr = inet_addr("10.0.0.10");
	h.tcp.source = htons(7);
	h.tcp.dest = htons(8);
	h.tcp.seq = htonl(100 + i);
	h.tcp.doff = 5;
	struct pkt_info pinfo;
	memset(&pinfo, 0, sizeof pinfo);
	pinfo.iph = &h.ip;
	pinfo.tcph = &h.tcp;
	pinfo.payload = bytes;
	pinfo.payloadlen = payloadlen;
	return mtcp_sendpkt(&core, 1, &pinfo);
}

static int send_tcp(int i) { return send_tcp_payload(i, 0); }

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *mode = argv[1];
	CHECK(rte_eal_init(argc - 1, argv + 1) >= 0);
	struct rte_mempool *pool =
		rte_pktmbuf_pool_create("host_pool", 2047, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	CHECK(pool != NULL);
	struct rte_eth_dev_info info;
	CHECK(rte_eth_dev_info_get(0, &info) == 0);
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof conf);
	uint16_t rxq = info.max_rx_queues > 0;
	CHECK(rte_eth_dev_configure(0, rxq, 2, &conf) == 0);
	for (uint16_t q = 0; q < 2; q++)
		CHECK(rte_eth_tx_queue_setup(0, q, 512, rte_eth_dev_socket_id(0), NULL) == 0);
	if (rxq)
		CHECK(rte_eth_rx_queue_setup(0, 0, 128, rte_eth_dev_socket_id(0), NULL, pool) == 0);
	CHECK(rte_eth_dev_start(0) == 0);
	CHECK(send_marker(pool, 1));
	unsigned initial = rte_mempool_avail_count(pool);

	cpu_set_t before, after;
	CHECK(pthread_getaffinity_np(pthread_self(), sizeof before, &before) == 0);

	if (strcmp(mode, "explicit") == 0)
		CHECK(mtcp_sendpkt_attach(NULL, 1, pool) == 0);
	if (strcmp(mode, "missing") == 0) {
		errno = 0;
		CHECK(send_tcp(0) == -1 && errno == EACCES);
		const char *why = mtcp_sendpkt_init_error();
		CHECK(why != NULL);
		printf("dpdk_host: refused as expected: %s\n", why);
	} else if (strcmp(mode, "plainpool") == 0) {
		struct rte_mempool *plain = rte_mempool_create("plain_pool", 63, 64, 0, 0, NULL, NULL,
							       NULL, NULL, rte_socket_id(), 0);
		CHECK(plain != NULL);
		errno = 0;
		CHECK(mtcp_sendpkt_attach(NULL, 1, plain) == -1 && errno == EACCES);
		const char *why = mtcp_sendpkt_init_error();
		CHECK(why != NULL);
		printf("dpdk_host: refused as expected: %s\n", why);
		errno = 0;
		CHECK(send_tcp(0) == -1 && errno == EACCES);
	} else if (strcmp(mode, "smallpool") == 0) {
		struct rte_mempool *small = rte_pktmbuf_pool_create(
			"small_pool", 255, 0, 0, RTE_PKTMBUF_HEADROOM + 200, rte_socket_id());
		CHECK(small != NULL);
		unsigned small_initial = rte_mempool_avail_count(small);
		CHECK(mtcp_sendpkt_attach(NULL, 1, small) == 0);
		errno = 0;
		CHECK(send_tcp_payload(0, 135) == -1 && errno == EMSGSIZE); /* 66 + 135 = 201 */
		CHECK(send_tcp_payload(1, 134) == 0);                       /* 66 + 134 = 200 */
		CHECK(mtcp_sendpkt_flush(&(struct mtcp_context){.cpu = 0}) >= 0);
		struct mtcp_sendpkt_stats st;
		CHECK(mtcp_sendpkt_stats(&(struct mtcp_context){.cpu = 0}, &st) == 0);
		CHECK(st.accepted == 1 && st.transmitted == 1 && st.rejected == 1);
		CHECK(rte_mempool_avail_count(small) == small_initial);
	} else {
		for (int i = 0; i < 4; i++)
			CHECK(send_tcp(i) == 0);
		CHECK(mtcp_sendpkt_flush(&(struct mtcp_context){.cpu = 0}) >= 0);
		struct mtcp_sendpkt_stats st;
		CHECK(mtcp_sendpkt_stats(&(struct mtcp_context){.cpu = 0}, &st) == 0);
		CHECK(st.accepted == 4 && st.transmitted == 4);
		/* The library sent with the host's mbufs, and net_pcap gave them all back. */
		CHECK(rte_mempool_avail_count(pool) == initial);
		if (getenv("HOST_PAUSE") != NULL) {
			/* The test reads the host's telemetry now; a line (or EOF) goes on. */
			printf("dpdk_host: paused\n");
			fflush(stdout);
			(void)getchar();
		}
	}

	/* The host's port is as the host left it, and still sends on the host's own queue. */
	struct rte_eth_dev_info now;
	CHECK(rte_eth_dev_info_get(0, &now) == 0);
	CHECK(now.nb_tx_queues == 2 && now.nb_rx_queues == rxq);
	CHECK(send_marker(pool, 2));
	CHECK(pthread_getaffinity_np(pthread_self(), sizeof after, &after) == 0);
	CHECK(CPU_EQUAL(&before, &after));

	mtcp_sendpkt_shutdown();
	CHECK(send_marker(pool, 3)); /* the library's shutdown left the host's port running */
	CHECK(rte_mempool_avail_count(pool) == initial);
	printf("dpdk_host: ok (%s)\n", mode);
	rte_eth_dev_stop(0);
	rte_eth_dev_close(0);
	rte_eal_cleanup();
	return 0;
}
