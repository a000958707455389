/*
 * A tiny mOS-style middlebox: for every client data segment it has observed, it answers the client
 * with an ACK on the server's behalf through mtcp_sendpkt(), exactly as it would under mOS.
 * The "observed" segments are made up here; a real middlebox gets them from mOS callbacks.
 *
 * Build: cc -Iinclude examples/middlebox.c -Ltarget/release -lmtcp_sendpkt
 * Run:   MTCP_SENDPKT_CONF=examples/demo.conf MTCP_SENDPKT_EAL_ARGS="... --vdev net_pcap0,tx_pcap=out.pcap"
 */
#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A packet as the middlebox holds it: IPv4, TCP with a Timestamp option, payload. */
struct segment {
	struct iphdr ip;
	struct tcphdr tcp;
	uint8_t opts[12];
	char data[64];
};

static void make_segment(struct segment *s, const char *src, const char *dst, uint16_t sport,
			 uint16_t dport, uint32_t seq, uint32_t ack, uint32_t tsval, uint32_t tsecr,
			 const char *data)
{
	memset(s, 0, sizeof *s);
	size_t n = strlen(data);
	s->ip.version = 4;
	s->ip.ihl = 5;
	s->ip.id = htons((uint16_t)seq);
	s->ip.ttl = 64;
	s->ip.protocol = IPPROTO_TCP;
	s->ip.saddr = inet_addr(src);
	s->ip.daddr = inet_addr(dst);
	s->ip.tot_len = htons((uint16_t)(sizeof s->ip + sizeof s->tcp + sizeof s->opts + n));
	s->tcp.source = htons(sport);
	s->tcp.dest = htons(dport);
	s->tcp.seq = htonl(seq);
	s->tcp.ack_seq = htonl(ack);
	s->tcp.doff = (sizeof s->tcp + sizeof s->opts) / 4;
	s->tcp.ack = 1;
	s->tcp.psh = n > 0;
	s->tcp.window = htons(502);
	uint8_t ts[12] = {1, 1, 8, 10};
	uint32_t v = htonl(tsval), e = htonl(tsecr);
	memcpy(ts + 4, &v, 4);
	memcpy(ts + 8, &e, 4);
	memcpy(s->opts, ts, sizeof ts);
	memcpy(s->data, data, n);
}

/* The ACK the server would send for `in`: addresses and ports swapped, acknowledging its data. */
static int answer_with_ack(mctx_t mctx, const struct segment *in)
{
	struct segment ack;
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = in->ip.daddr}, b = {.s_addr = in->ip.saddr};
	inet_ntop(AF_INET, &a, src, sizeof src);
	inet_ntop(AF_INET, &b, dst, sizeof dst);
	uint32_t in_len = ntohs(in->ip.tot_len) - (uint32_t)(sizeof in->ip + sizeof in->tcp + sizeof in->opts);
	uint32_t tsval, tsecr;
	memcpy(&tsval, in->opts + 4, 4);
	memcpy(&tsecr, in->opts + 8, 4);
	make_segment(&ack, src, dst, ntohs(in->tcp.dest), ntohs(in->tcp.source), ntohl(in->tcp.ack_seq),
		     ntohl(in->tcp.seq) + in_len, ntohl(tsecr) + 1, ntohl(tsval), "");

	struct pkt_info pinfo;
	memset(&pinfo, 0, sizeof pinfo);
	pinfo.iph = &ack.ip;
	pinfo.tcph = &ack.tcp;
	pinfo.payload = NULL;
	pinfo.payloadlen = 0;
	pinfo.ip_len = ntohs(ack.ip.tot_len);
	return mtcp_sendpkt(mctx, /* sockid of the monitored stream */ 3, &pinfo);
}

int main(void)
{
	struct mtcp_context core0 = {.cpu = 0};
	struct segment seen[3];
	make_segment(&seen[0], "10.0.0.10", "192.168.1.80", 40000, 80, 1000, 5000, 777, 111,
		     "GET / HTTP/1.1\r\n\r\n");
	make_segment(&seen[1], "10.0.0.10", "192.168.1.80", 40000, 80, 1018, 5000, 778, 111,
		     "GET /favicon.ico HTTP/1.1\r\n\r\n");
	make_segment(&seen[2], "10.0.0.23", "192.168.1.80", 51515, 443, 90, 17, 5, 6, "hello");

	for (int i = 0; i < 3; i++) {
		if (answer_with_ack(&core0, &seen[i]) != 0) {
			fprintf(stderr, "middlebox: mtcp_sendpkt failed: %s\n", strerror(errno));
			const char *why = mtcp_sendpkt_init_error();
			if (why)
				fprintf(stderr, "middlebox: %s\n", why);
			return 1;
		}
	}
	/* A segment to an address with no route: reported, not swallowed as in mOS. */
	struct segment lost;
	make_segment(&lost, "192.168.1.80", "172.16.0.1", 80, 40000, 1, 1, 1, 1, "");
	struct pkt_info pinfo;
	memset(&pinfo, 0, sizeof pinfo);
	pinfo.iph = &lost.ip;
	pinfo.tcph = &lost.tcp;
	if (mtcp_sendpkt(&core0, 3, &pinfo) == -1)
		printf("middlebox: ACK to 172.16.0.1 refused: %s (no route in demo.conf)\n", strerror(errno));

	/* Accepted frames wait in a batch (at most MTCP_SENDPKT_FLUSH_US): push them out now, so that
	 * the counters below show them on the wire. */
	if (mtcp_sendpkt_flush(&core0) == -1)
		fprintf(stderr, "middlebox: flush: %s\n", strerror(errno));
	struct mtcp_sendpkt_stats st;
	mtcp_sendpkt_stats(&core0, &st);
	printf("middlebox: %llu ACKs accepted, %llu on the wire, %llu refused\n",
	       (unsigned long long)st.accepted, (unsigned long long)st.transmitted,
	       (unsigned long long)st.rejected);
	return 0;
}
