/*
 * The honest ceiling for mtcp_sendpkt_raw's work (the mmTLS fork's replay of a held frame),
 * written by hand in C on DPDK: for every frame it does what one call does, nothing less. It
 * checks the held frame is Ethernet then IPv4 and reads its destination, copies the frame into an
 * mbuf, writes the destination MAC (the "ARP entry") and the port's MAC over its first 12 bytes,
 * allocates mbufs 32 at a time and sends them with one rte_eth_tx_burst per 32.
 * Usage: c_replay FRAME-LEN CALLS EAL-ARGS...   (port 0; prints "mpps <Mpps>")
 */
#define _GNU_SOURCE
#include "bench_port.h"
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BURST 32

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long len = atol(argv[1]), calls = atol(argv[2]);
	if (len < 34 || len > 1514)
		return 2;
	struct rte_mempool *pool = bench_port0(argc, argv, "c_replay", 512);
	if (!pool)
		return 1;
	struct rte_ether_addr src, dst = {{0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4}};
	rte_eth_macaddr_get(0, &src);

	/* The held frame: Ethernet, IPv4 to 10.0.0.10, the rest whatever the middlebox held. */
	static uint8_t held[1514];
	for (long k = 0; k < len; k++)
		held[k] = (uint8_t)(k * 7 + 3);
	const uint8_t eth_ip[] = {0x08, 0x00, 0x45, 0x00};
	memcpy(held + 12, eth_ip, sizeof eth_ip);
	uint32_t daddr = inet_addr("10.0.0.10");
	memcpy(held + 30, &daddr, 4);

	struct rte_mbuf *batch[BURST];
	long sent = 0, i = 0;
	double t0 = now();
	while (i < calls) {
		unsigned n = calls - i < BURST ? (unsigned)(calls - i) : BURST;
		if (rte_pktmbuf_alloc_bulk(pool, batch, n) != 0)
			continue;
		for (unsigned k = 0; k < n; k++, i++) {
			const struct rte_ether_hdr *eh = (const struct rte_ether_hdr *)held;
			if (eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || (held[14] >> 4) != 4)
				return 1;
			uint32_t to;
			memcpy(&to, held + 30, 4);
			if (to != daddr) /* the "route and ARP lookup" of this one destination */
				return 1;
			uint8_t *f = rte_pktmbuf_mtod(batch[k], uint8_t *);
			memcpy(f, held, (size_t)len);
			struct rte_ether_hdr *out = (struct rte_ether_hdr *)f;
			rte_ether_addr_copy(&dst, &out->dst_addr);
			rte_ether_addr_copy(&src, &out->src_addr);
			batch[k]->data_len = (uint16_t)len;
			batch[k]->pkt_len = (uint32_t)len;
		}
		uint16_t took = rte_eth_tx_burst(0, 0, batch, (uint16_t)n);
		sent += took;
		for (unsigned k = took; k < n; k++)
			rte_pktmbuf_free(batch[k]);
	}
	double secs = now() - t0;
	printf("mpps %.3f\nsent %ld seconds %.3f\n", (double)calls / secs / 1e6, sent, secs);
	rte_eth_dev_stop(0);
	rte_eal_cleanup();
	return 0;
}
