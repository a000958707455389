/*
 * The honest ceiling for mtcp_sendpkt's work, written by hand in C on DPDK: for every frame it
 * does what one mtcp_sendpkt call does, nothing less. It reads the caller's IPv4 and TCP headers
 * (version, IHL, data offset, the Timestamp option found by scanning the options), finds the
 * destination's MAC as a C programmer on DPDK would (the last destination remembered, else an
 * rte_lpm lookup of the ARP entries of benches/bench.conf, else the caller's Ethernet header),
 * refuses a frame longer than 1514 bytes, writes the frame mOS emits (Ethernet, IPv4 without
 * options, TCP with NOP,NOP,Timestamp, the payload), computes both checksums in software with
 * DPDK's rte_ipv4_cksum/rte_ipv4_udptcp_cksum, allocates mbufs 32 at a time and sends them with
 * one rte_eth_tx_burst per 32. The packets are those of SHAPE (benches/c/bench_input.h).
 * Usage: c_sender SHAPE PAYLOAD CALLS EAL-ARGS...   (port 0; prints "mpps <Mpps>")
 */
#define _GNU_SOURCE
#include "bench_input.h"
#include "bench_port.h"
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lpm.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BURST 32

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

/* The ARP entries of benches/bench.conf, in an LPM table: next hop k is macs[k]. */
static const struct {
	const char *prefix;
	uint8_t depth;
	struct rte_ether_addr mac;
} arp[] = {
	{"10.0.0.10", 32, {{0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4}}},
	{"10.0.0.0", 24, {{0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa5}}},
	{"10.1.0.0", 24, {{0x02, 0, 0, 0, 0x01, 0x00}}},
	{"10.1.1.0", 24, {{0x02, 0, 0, 0, 0x01, 0x01}}},
	{"10.1.2.0", 24, {{0x02, 0, 0, 0, 0x01, 0x02}}},
	{"10.1.3.0", 24, {{0x02, 0, 0, 0, 0x01, 0x03}}},
	{"10.1.4.0", 24, {{0x02, 0, 0, 0, 0x01, 0x04}}},
	{"10.1.5.0", 24, {{0x02, 0, 0, 0, 0x01, 0x05}}},
	{"10.1.6.0", 24, {{0x02, 0, 0, 0, 0x01, 0x06}}},
	{"10.1.7.0", 24, {{0x02, 0, 0, 0, 0x01, 0x07}}},
	{"10.3.0.0", 16, {{0x02, 0, 0, 0, 0x03, 0x00}}},
};

static struct rte_lpm *arp_lpm(void)
{
	struct rte_lpm_config cfg = {.max_rules = 64, .number_tbl8s = 16};
	struct rte_lpm *lpm = rte_lpm_create("c_sender_arp", (int)rte_socket_id(), &cfg);
	for (unsigned k = 0; lpm && k < sizeof arp / sizeof arp[0]; k++)
		if (rte_lpm_add(lpm, rte_be_to_cpu_32(inet_addr(arp[k].prefix)), arp[k].depth, k) != 0)
			return NULL;
	return lpm;
}

/* The remembered destination (network order) and its MAC. */
static uint32_t last_dst;
static struct rte_ether_addr last_mac;

/* The destination MAC of p: remembered, looked up, or from its Ethernet header. */
static inline const struct rte_ether_addr *next_hop(struct rte_lpm *lpm, const struct bench_packet *p)
{
	uint32_t dst;
	memcpy(&dst, p->ip + 16, 4);
	if (dst == last_dst && dst != 0)
		return &last_mac;
	uint32_t hop;
	if (rte_lpm_lookup(lpm, rte_be_to_cpu_32(dst), &hop) == 0) {
		last_dst = dst;
		last_mac = arp[hop].mac;
		return &last_mac;
	}
	return (const struct rte_ether_addr *)p->eth;
}

/* One frame from the observed headers into m; 0, or -1 for headers the library would refuse. */
static inline int build(struct rte_mbuf *m, const struct bench_packet *in, const struct rte_ether_addr *dst,
			const struct rte_ether_addr *src)
{
	const struct rte_ipv4_hdr *iph = (const struct rte_ipv4_hdr *)in->ip;
	if ((iph->version_ihl >> 4) != 4 || (iph->version_ihl & 0xf) < 5)
		return -1;
	const struct rte_tcp_hdr *tcph = (const struct rte_tcp_hdr *)in->tcp;
	unsigned doff = (unsigned)(tcph->data_off >> 4) * 4;
	if (doff < 20)
		return -1;
	uint16_t payload_len = in->payload_len;
	if (66 + payload_len > 1514)
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
	if (argc < 4)
		return 2;
	const char *shape = argv[1];
	long payload = atol(argv[2]), calls = atol(argv[3]);
	struct bench_input in;
	if (bench_input(shape, payload, &in) != 0) {
		fprintf(stderr, "c_sender: no input for %s\n", shape);
		return 2;
	}
	struct rte_mempool *pool = bench_port0(argc - 1, argv + 1, "c_sender", 512);
	struct rte_lpm *lpm = pool ? arp_lpm() : NULL;
	if (!lpm)
		return 1;
	struct rte_ether_addr src;
	rte_eth_macaddr_get(0, &src);

	struct rte_mbuf *batch[BURST];
	long sent = 0, refused = 0, i = 0, j = 0;
	double t0 = now();
	while (i < calls) {
		unsigned n = calls - i < BURST ? (unsigned)(calls - i) : BURST;
		if (rte_pktmbuf_alloc_bulk(pool, batch, n) != 0)
			continue;
		unsigned built = 0;
		for (unsigned k = 0; k < n; k++, i++) {
			struct bench_packet *p = &in.pkts[j];
			if (++j == in.n)
				j = 0;
			((struct rte_tcp_hdr *)p->tcp)->sent_seq = rte_cpu_to_be_32((uint32_t)i);
			if (build(batch[built], p, next_hop(lpm, p), &src) == 0)
				built++;
			else
				refused++;
		}
		uint16_t took = rte_eth_tx_burst(0, 0, batch, (uint16_t)built);
		sent += took;
		for (unsigned k = took; k < n; k++)
			rte_pktmbuf_free(batch[k]);
	}
	double secs = now() - t0;
	printf("mpps %.3f\nsent %ld too long %ld seconds %.3f\n", (double)calls / secs / 1e6, sent, refused, secs);
	rte_eth_dev_stop(0);
	rte_eal_cleanup();
	return 0;
}
