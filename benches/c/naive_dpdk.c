/*
 * The stand-in for mOS's own path: a per-packet DPDK sender. For every frame: allocate one mbuf,
 * write the same Ethernet/IPv4/TCP (NOP,NOP,Timestamp) frame our library emits, compute both
 * checksums in software, and call rte_eth_tx_burst for that one frame.
 * Usage: naive_dpdk PAYLOAD CALLS EAL-ARGS...   (port 0; prints "mpps <Mpps>")
 */
#define _GNU_SOURCE
#include "bench_port.h"
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long payload = atol(argv[1]), calls = atol(argv[2]);
	struct rte_mempool *pool = bench_port0(argc, argv, "naive", 256);
	if (!pool)
		return 1;
	static uint8_t data[1448];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long sent = 0;
	for (long i = 0; i < calls; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		if (!m)
			continue;
		uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(66 + payload));
		memset(f, 0x11, 12);
		f[12] = 0x08;
		f[13] = 0x00;
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + 14);
		memset(ip, 0, 20);
		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(52 + payload));
		ip->packet_id = rte_cpu_to_be_16((uint16_t)i);
		ip->fragment_offset = rte_cpu_to_be_16(0x4000);
		ip->time_to_live = 64;
		ip->next_proto_id = 6;
		ip->src_addr = rte_cpu_to_be_32(0x0a000001);
		ip->dst_addr = rte_cpu_to_be_32(0x0a00000a);
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(f + 34);
		memset(tcp, 0, 32);
		tcp->src_port = rte_cpu_to_be_16(40000);
		tcp->dst_port = rte_cpu_to_be_16(80);
		tcp->sent_seq = rte_cpu_to_be_32((uint32_t)i);
		tcp->data_off = 8 << 4;
		tcp->tcp_flags = 0x10;
		tcp->rx_win = rte_cpu_to_be_16(512);
		const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
		memcpy(f + 54, ts, 12);
		memcpy(f + 66, data, (size_t)payload);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
		if (rte_eth_tx_burst(0, 0, &m, 1) == 1)
			sent++;
		else
			rte_pktmbuf_free(m);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("mpps %.3f\nsent %ld seconds %.3f\n", (double)calls / secs / 1e6, sent, secs);
	rte_eth_dev_stop(0);
	rte_eal_cleanup();
	return 0;
}
