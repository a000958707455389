/*
 * The traffic `make bench` sends, shared by our C-ABI bench (sendpkt_bench.c) and its C peer
 * (c_sender.c) so both get the same packets: the observed IPv4 packets a middlebox hands over,
 * each behind an Ethernet header (what `pinfo->ethh` points to), cycled through call by call.
 *
 * Shapes (see benches/bench.conf for the routes and ARP entries they meet):
 *   mos       one ACK (+ PAYLOAD bytes) to 10.0.0.10 (an ARP entry), pkt_info as mOS fills it
 *   hand      the same, pkt_info built by hand: ip_len and eth_len 0, as the contract allows
 *   noarp     one ACK to 10.2.0.10: routed, no ARP entry, the MAC from ethh
 *   sack      the mos ACK with a SACK block before its Timestamp (NOP, NOP, SACK, NOP, NOP,
 *             Timestamp): an option layout other than mOS's, which the library's full path reads
 *   flowsN    N flows in turn, over the 8 next hops 10.1.0.0/24 .. 10.1.7.0/24
 *   randomN   N flows in turn to pseudo-random clients in 10.3.0.0/16, behind one next hop
 *             (addresses as a middlebox meets them, not in a row)
 *   FILE      the IPv4 packets of a capture, as `make bench` writes them (see read_capture)
 */
#ifndef BENCH_INPUT_H
#define BENCH_INPUT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One observed packet: its Ethernet header, then the IPv4 packet, contiguous. */
struct bench_packet {
	uint8_t *eth;	 /* 14 bytes, then the IPv4 packet */
	uint8_t *ip;	 /* eth + 14 */
	uint8_t *tcp;	 /* ip + IHL * 4 */
	uint8_t *payload; /* tcp + data offset * 4 */
	uint16_t ip_len;	 /* the IPv4 total length */
	uint16_t payload_len;
};

struct bench_input {
	struct bench_packet *pkts;
	long n;
	int hand_built; /* pkt_info's ip_len and eth_len left 0 */
};

static void bench_fill(struct bench_packet *p, uint8_t *buf, uint32_t dst, uint16_t sport,
		       long payload, const uint8_t dst_mac[6], int sack)
{
	static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	memcpy(buf, dst_mac, 6);
	memcpy(buf + 6, src_mac, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	uint8_t *ip = buf + 14, *tcp = ip + 20;
	/* With a SACK block first: NOP, NOP, SACK (kind 5, length 10, one block), then the rest. */
	static const uint8_t sack_block[12] = {1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0};
	unsigned opts = sack ? 24 : 12;
	uint16_t total = (uint16_t)(40 + opts + payload);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(total >> 8);
	ip[3] = (uint8_t)total;
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	uint32_t src = inet_addr("10.0.0.1");
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	tcp[0] = (uint8_t)(sport >> 8);
	tcp[1] = (uint8_t)sport;
	tcp[2] = 0;
	tcp[3] = 80;
	tcp[12] = (uint8_t)((20 + opts) / 4) << 4;
	tcp[13] = 0x10; /* ACK */
	tcp[14] = 0xff;
	tcp[15] = 0xff;
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	if (sack)
		memcpy(tcp + 20, sack_block, sizeof sack_block);
	memcpy(tcp + 20 + opts - 12, ts, sizeof ts);
	for (long k = 0; k < payload; k++)
		tcp[20 + opts + k] = (uint8_t)(k * 7 + 3);
	p->eth = buf;
	p->ip = ip;
	p->tcp = tcp;
	p->payload = tcp + 20 + opts;
	p->ip_len = total;
	p->payload_len = (uint16_t)payload;
}

/*
 * The capture file: records of a 2-byte little-endian length, then that many bytes of one
 * IPv4 packet (IHL and data offset as captured, Timestamp option or not). The Ethernet header in
 * front of each is ours (the MAC of a host without an ARP entry would come from it).
 */
static long read_capture(const char *path, struct bench_packet **out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	long cap = 1024, n = 0;
	struct bench_packet *pkts = malloc(cap * sizeof *pkts);
	uint8_t len_le[2];
	while (pkts && fread(len_le, 1, 2, f) == 2) {
		uint16_t len = (uint16_t)(len_le[0] | len_le[1] << 8);
		uint8_t *buf = malloc(14 + (size_t)len);
		if (!buf || len < 40 || fread(buf + 14, 1, len, f) != len)
			break;
		static const uint8_t mac[12] = {0x02, 0, 0, 0, 0, 0xee, 0x02, 0, 0, 0, 0, 0x01};
		memcpy(buf, mac, 12);
		buf[12] = 0x08;
		buf[13] = 0x00;
		struct bench_packet *p = &pkts[n];
		p->eth = buf;
		p->ip = buf + 14;
		p->tcp = p->ip + (p->ip[0] & 0xf) * 4;
		p->payload = p->tcp + (p->tcp[12] >> 4) * 4;
		p->ip_len = len;
		p->payload_len = (uint16_t)(len - (p->payload - p->ip));
		if (++n == cap)
			pkts = realloc(pkts, (size_t)(cap *= 2) * sizeof *pkts);
	}
	fclose(f);
	*out = pkts;
	return pkts ? n : -1;
}

/* The packets of SHAPE with PAYLOAD bytes each (flows and single packets); 0 or -1. */
static int bench_input(const char *shape, long payload, struct bench_input *in)
{
	memset(in, 0, sizeof *in);
	static const uint8_t arp_mac[6] = {0x90, 0xe2, 0xba, 0x7c, 0x1f, 0xa4};
	static const uint8_t ethh_mac[6] = {0x02, 0, 0, 0, 0x02, 0x0a};
	long flows = 1;
	uint32_t dst = inet_addr("10.0.0.10");
	const uint8_t *mac = arp_mac;
	int sack = 0, random_flows = 0;
	uint32_t x = 0x12345678u; /* xorshift32, a fixed sequence */
	if (strcmp(shape, "mos") == 0) {
	} else if (strcmp(shape, "sack") == 0) {
		sack = 1;
	} else if (strcmp(shape, "hand") == 0) {
		in->hand_built = 1;
	} else if (strcmp(shape, "noarp") == 0) {
		dst = inet_addr("10.2.0.10");
		mac = ethh_mac;
	} else if (strncmp(shape, "flows", 5) == 0) {
		flows = atol(shape + 5);
		if (flows < 1 || flows > 2000)
			return -1;
	} else if (strncmp(shape, "random", 6) == 0) {
		flows = atol(shape + 6);
		if (flows < 1 || flows > 2000)
			return -1;
		random_flows = 1;
	} else {
		in->n = read_capture(shape, &in->pkts);
		return in->n > 0 ? 0 : -1;
	}
	if (payload < 0 || payload > 1448)
		return -1;
	in->pkts = calloc((size_t)flows, sizeof *in->pkts);
	if (!in->pkts)
		return -1;
	for (long k = 0; k < flows; k++) {
		uint8_t *buf = calloc(1, 14 + 64 + (size_t)payload);
		if (!buf)
			return -1;
		uint32_t to = flows == 1 ? dst : htonl(0x0a010000u | (uint32_t)(k % 8) << 8 | (uint32_t)(k / 8 + 1));
		if (random_flows) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			to = htonl(0x0a030000u | (x & 0xffff));
		}
		bench_fill(&in->pkts[k], buf, to, (uint16_t)(40000 + k), payload, mac, sack);
	}
	in->n = flows;
	return 0;
}

#endif
