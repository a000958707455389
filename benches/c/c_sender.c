/*
 * The honest ceiling for mtcp_sendpkt's work, written by hand in C on DPDK: for every frame it
 * does what one mtcp_sendpkt call does, nothing less. It reads the caller's IPv4 and TCP headers
 * (version, IHL, data offset, the Timestamp option found by scanning the options), writes the
 * frame mOS emits (Ethernet, IPv4 without options, TCP with NOP,NOP,Timestamp, the payload),
 * computes both checksums in software with DPDK's rte_ipv4_cksum/rte_ipv4_udptcp_cksum,
 * allocates mbufs 32 at a time and sends them with one rte_eth_tx_burst per 32.
 * Usage: c_sender PAYLOAD CALLS EAL-ARGS...   (port 0; prints "mpps <Mpps>")
 */
#define _GNU_SOURCE
#include "bench_port.h"
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BURST 32

/* The observed packet a middlebox hands over: IPv4 + TCP with NOP,NOP,Timestamp + payload. */
struct observed {
	struct rte_ipv4_hdr ip;
	struct rte_tcp_hdr tcp;
	uint8_t opts[12];
	uint8_t payload[1448];
};

/* TSval/TSecr of the first well-formed Timestamp option, as the library scans for it. */
static int find_timestamp(const uint8_t *o, size_t len, uint8_t ts[8])
{
	size_t at = 0;
	while (at < len) {
		if (o[at] == 0)
			return 0;
		if (o[at] == 1) {
			at++;
			continue;
		}
		if (at + 1 >= len || o[at + 1] < 2 || at + o[at + 1] > len)
			return 0;
		if (o[at] == 8 && o[at + 1] == 10) {
			memcpy(ts, o + at + 2, 8);
			return 1;
		}
		at += o[at + 1];
	}
	return 0;
}

/* One frame from the observed headers into m; 0, or -1 for headers the library would refuse. */
static int build(struct rte_mbuf *m, const struct observed *in, uint16_t payload_len,
		 const struct rte_ether_addr *dst, const struct rte_ether_addr *src)
{
	const struct rte_ipv4_hdr *iph = &in->ip;
	if ((iph->version_ihl >> 4) != 4 || (iph->version_ihl & 0xf) < 5)
		return -1;
	const struct rte_tcp_hdr *tcph = &in->tcp;
	unsigned doff = (unsigned)(tcph->data_off >> 4) * 4;
	if (doff < 20)
		return -1;
	uint8_t ts[8] = {0};
	find_timestamp((const uint8_t *)(tcph + 1), doff - 20, ts);

	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	rte_ether_addr_copy(dst, &eth->dst_addr);
	rte_ether_addr_copy(src, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	ip->version_ihl = 0x45;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 32 + payload_len));
	ip->packet_id = iph->packet_id;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->hdr_checksum = 0;
	ip->src_addr = iph->src_addr;
	ip->dst_addr = iph->dst_addr;
	struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(ip + 1);
	tcp->src_port = tcph->src_port;
	tcp->dst_port = tcph->dst_port;
	tcp->sent_seq = tcph->sent_seq;
	tcp->recv_ack = tcph->recv_ack;
	tcp->data_off = 8 << 4;
	tcp->tcp_flags = RTE_TCP_ACK_FLAG;
	tcp->rx_win = tcph->rx_win;
	tcp->cksum = 0;
	tcp->tcp_urp = 0;
	uint8_t *opt = (uint8_t *)(tcp + 1);
	opt[0] = 1;
	opt[1] = 1;
	opt[2] = 8;
	opt[3] = 10;
	memcpy(opt + 4, ts, 8);
	memcpy(opt + 12, in->payload, payload_len);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
	m->data_len = (uint16_t)(66 + payload_len);
	m->pkt_len = m->data_len;
	return 0;
}

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
	long payload = atol(argv[1]), calls = atol(argv[2]);
	struct rte_mempool *pool = bench_port0(argc, argv, "c_sender", 512);
	if (!pool)
		return 1;
	struct rte_ether_addr src, dst = {{0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4}};
	rte_eth_macaddr_get(0, &src);

	static struct observed in;
	in.ip.version_ihl = 0x45;
	in.ip.total_length = rte_cpu_to_be_16((uint16_t)(52 + payload));
	in.ip.src_addr = inet_addr("10.0.0.1");
	in.ip.dst_addr = inet_addr("10.0.0.10");
	in.tcp.src_port = rte_cpu_to_be_16(40000);
	in.tcp.dst_port = rte_cpu_to_be_16(80);
	in.tcp.data_off = 8 << 4;
	in.tcp.tcp_flags = RTE_TCP_ACK_FLAG;
	const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	memcpy(in.opts, ts, sizeof ts);

	struct rte_mbuf *batch[BURST];
	long sent = 0, i = 0;
	double t0 = now();
	while (i < calls) {
		unsigned n = calls - i < BURST ? (unsigned)(calls - i) : BURST;
		if (rte_pktmbuf_alloc_bulk(pool, batch, n) != 0)
			continue;
		for (unsigned k = 0; k < n; k++, i++) {
			in.tcp.sent_seq = rte_cpu_to_be_32((uint32_t)i);
			build(batch[k], &in, (uint16_t)payload, &dst, &src);
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
