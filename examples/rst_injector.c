/*
 * rst_injector: a small IPS. It reads a capture of the traffic it "observed" and ends every TCP
 * flow to a given port at both ends, with mtcp_sendpkt_reset(): one RST toward the client, one
 * toward the server, each with exactly the sequence number its receiver expects, over IPv4 or
 * IPv6, keeping the flow's VLAN tags. Each flow is reset once.
 *
 *   cc -Iinclude examples/rst_injector.c -Ltarget/release -lmtcp_sendpkt -lpcap
 *   MTCP_SENDPKT_CONF=mos.conf MTCP_SENDPKT_EAL_ARGS="..." ./a.out observed.pcap 80
 */
#define _DEFAULT_SOURCE /* u_int and u_char, which <pcap/pcap.h> uses */
#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FLOWS 4096

/* A flow, the same whichever way its segment went: addresses and ports, the lower end first. */
struct flow {
	uint8_t addr[2][16];
	uint16_t port[2];
};

static struct flow flows[MAX_FLOWS];
static int n_flows;

/* Returns 1 the first time a flow is seen (and remembers it), 0 after. */
static int first_time(const uint8_t *a, const uint8_t *b, size_t alen, uint16_t pa, uint16_t pb)
{
	struct flow f;
	memset(&f, 0, sizeof f);
	int swap = memcmp(a, b, alen) > 0 || (memcmp(a, b, alen) == 0 && pa > pb);
	memcpy(f.addr[0], swap ? b : a, alen);
	memcpy(f.addr[1], swap ? a : b, alen);
	f.port[0] = swap ? pb : pa;
	f.port[1] = swap ? pa : pb;
	for (int i = 0; i < n_flows; i++)
		if (memcmp(&flows[i], &f, sizeof f) == 0)
			return 0;
	if (n_flows < MAX_FLOWS)
		flows[n_flows++] = f;
	return 1;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	if (argc != 3) {
		fprintf(stderr, "usage: %s observed.pcap PORT\n", argv[0]);
		return 2;
	}
	uint16_t port = (uint16_t)atoi(argv[2]);
	pcap_t *in = pcap_open_offline(argv[1], err);
	if (!in) {
		fprintf(stderr, "rst_injector: %s\n", err);
		return 1;
	}

	struct mtcp_context core = {.cpu = 0};
	struct pcap_pkthdr *h;
	const u_char *data;
	static uint8_t frame[65536];
	int segments = 0, reset_flows = 0, rsts = 0, failed = 0;
	while (pcap_next_ex(in, &h, &data) == 1) {
		size_t len = h->caplen, at = 12;
		memcpy(frame, data, len);
		/* Past the VLAN tags (802.1Q, 802.1ad) to the ethertype. */
		while (at + 4 <= len) {
			uint16_t tpid = (uint16_t)(frame[at] << 8 | frame[at + 1]);
			if (tpid != 0x8100 && tpid != 0x88a8 && tpid != 0x9100)
				break;
			at += 4;
		}
		if (at + 2 > len)
			continue;
		uint16_t ethertype = (uint16_t)(frame[at] << 8 | frame[at + 1]);
		size_t ip = at + 2, tcp;
		const uint8_t *src, *dst;
		size_t alen, ip_end;
		if (ethertype == 0x0800 && ip + 20 <= len && frame[ip + 9] == IPPROTO_TCP) {
			tcp = ip + (frame[ip] & 0x0f) * 4u;
			ip_end = ip + (size_t)(frame[ip + 2] << 8 | frame[ip + 3]);
			src = frame + ip + 12, dst = frame + ip + 16, alen = 4;
		} else if (ethertype == 0x86dd && ip + 40 <= len && frame[ip + 6] == IPPROTO_TCP) {
			tcp = ip + 40; /* no extension headers in this small IPS */
			ip_end = ip + 40 + (size_t)(frame[ip + 4] << 8 | frame[ip + 5]);
			src = frame + ip + 8, dst = frame + ip + 24, alen = 16;
		} else {
			continue;
		}
		if (tcp + 20 > len || ip_end > len || tcp + (frame[tcp + 12] >> 4) * 4u > ip_end)
			continue;
		uint16_t sport = (uint16_t)(frame[tcp] << 8 | frame[tcp + 1]);
		uint16_t dport = (uint16_t)(frame[tcp + 2] << 8 | frame[tcp + 3]);
		if (sport != port && dport != port)
			continue;
		segments++;
		if (!first_time(src, dst, alen, sport, dport))
			continue;

		struct pkt_info seen;
		memset(&seen, 0, sizeof seen);
		seen.ethh = (struct ethhdr *)frame; /* with the tags between it and iph: kept */
		seen.iph = (struct iphdr *)(frame + ip);
		seen.tcph = (struct tcphdr *)(frame + tcp);
		seen.ip_len = (uint16_t)(ip_end - ip);
		seen.payloadlen = (uint16_t)(ip_end - tcp - (frame[tcp + 12] >> 4) * 4u);
		int n = mtcp_sendpkt_reset(&core, &seen, MTCP_SENDPKT_TO_SENDER | MTCP_SENDPKT_TO_RECEIVER);
		if (n < 0) {
			fprintf(stderr, "rst_injector: flow %d: %s\n", n_flows, strerror(errno));
			failed++;
			continue;
		}
		reset_flows++;
		rsts += n;
	}
	pcap_close(in);
	if (mtcp_sendpkt_flush(&core) < 0)
		fprintf(stderr, "rst_injector: flush: %s\n", strerror(errno));
	printf("rst_injector: %d segments to or from port %u, %d flows reset with %d RSTs, %d failed\n",
	       segments, port, reset_flows, rsts, failed);
	return failed == 0 ? 0 : 1;
}
