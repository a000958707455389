/*
 * ack_from_pcap: a five-minute middlebox. It reads a capture of the traffic it "observed" and
 * answers every TCP data segment with an ACK to its sender, through mtcp_sendpkt(), the way an mOS
 * middlebox acknowledges data on behalf of the other end.
 *
 *   cc -Iinclude examples/ack_from_pcap.c -Ltarget/release -lmtcp_sendpkt -lpcap
 *   MTCP_SENDPKT_CONF=examples/demo.conf MTCP_SENDPKT_EAL_ARGS="..." ./a.out observed.pcap
 */
#define _DEFAULT_SOURCE /* u_int and u_char, which <pcap/pcap.h> uses */
#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

/* The reply: IPv4 header, TCP header, room for its options (the frame gets NOP,NOP,Timestamp). */
struct reply {
	struct iphdr ip;
	struct tcphdr tcp;
	uint8_t opts[12];
};

/* Finds the Timestamp option; returns 1 and sets val/ecr (network order) if there is one. */
static int find_timestamp(const uint8_t *opt, size_t len, uint32_t *val, uint32_t *ecr)
{
	for (size_t i = 0; i < len;) {
		if (opt[i] == 0)
			return 0;
		if (opt[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			return 0;
		if (opt[i] == 8 && opt[i + 1] == 10) {
			memcpy(val, opt + i + 2, 4);
			memcpy(ecr, opt + i + 6, 4);
			return 1;
		}
		i += opt[i + 1];
	}
	return 0;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	if (argc != 2) {
		fprintf(stderr, "usage: %s observed.pcap\n", argv[0]);
		return 2;
	}
	pcap_t *in = pcap_open_offline(argv[1], err);
	if (!in) {
		fprintf(stderr, "ack_from_pcap: %s\n", err);
		return 1;
	}

	struct mtcp_context core = {.cpu = 0};
	struct pcap_pkthdr *h;
	const u_char *data;
	int seen = 0, acked = 0;
	while (pcap_next_ex(in, &h, &data) == 1) {
		struct iphdr ip;
		struct tcphdr tcp;
		uint8_t opts[40];
		/* Copies, not casts: a captured frame's IP header is not 4-byte aligned. */
		if (h->caplen < 14 + sizeof ip || data[12] != 0x08 || data[13] != 0x00)
			continue;
		memcpy(&ip, data + 14, sizeof ip);
		size_t ihl = ip.ihl * 4u;
		if (ip.protocol != IPPROTO_TCP || h->caplen < 14 + ihl + sizeof tcp)
			continue;
		memcpy(&tcp, data + 14 + ihl, sizeof tcp);
		size_t doff = tcp.doff * 4u, optlen = doff > sizeof tcp ? doff - sizeof tcp : 0;
		if (h->caplen < 14 + ihl + doff || optlen > sizeof opts)
			continue;
		memcpy(opts, data + 14 + ihl + sizeof tcp, optlen);
		long payload = (long)ntohs(ip.tot_len) - (long)ihl - (long)doff;
		if (payload <= 0)
			continue; /* only data segments get an ACK */
		seen++;

		/* The ACK its receiver would send: directions swapped, acknowledging the data. */
		struct reply r;
		memset(&r, 0, sizeof r);
		r.ip.version = 4;
		r.ip.ihl = 5;
		r.ip.id = ip.id;
		r.ip.saddr = ip.daddr;
		r.ip.daddr = ip.saddr;
		r.tcp.source = tcp.dest;
		r.tcp.dest = tcp.source;
		r.tcp.seq = tcp.ack_seq;
		r.tcp.ack_seq = htonl(ntohl(tcp.seq) + (uint32_t)payload);
		r.tcp.doff = sizeof r.tcp / 4;
		r.tcp.window = tcp.window;
		uint32_t val, ecr;
		if (find_timestamp(opts, optlen, &val, &ecr)) {
			const uint8_t ts[4] = {1, 1, 8, 10};
			memcpy(r.opts, ts, 4);
			memcpy(r.opts + 4, &ecr, 4); /* our TSval: what the sender echoed */
			memcpy(r.opts + 8, &val, 4); /* our TSecr: the sender's TSval */
			r.tcp.doff = (sizeof r.tcp + sizeof r.opts) / 4;
		}

		struct pkt_info pinfo;
		memset(&pinfo, 0, sizeof pinfo);
		pinfo.iph = &r.ip;
		pinfo.tcph = &r.tcp;
		pinfo.ip_len = (uint16_t)(sizeof r.ip + r.tcp.doff * 4u);
		if (mtcp_sendpkt(&core, 0, &pinfo) == 0)
			acked++;
		else
			fprintf(stderr, "ack_from_pcap: segment %d: %s\n", seen, strerror(errno));
	}
	pcap_close(in);
	printf("ack_from_pcap: acked %d of %d data segments\n", acked, seen);
	return acked == seen ? 0 : 1;
}
