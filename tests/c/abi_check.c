/*
 * A C middlebox's view of the library: the header compiles under -Wall -Wextra -Werror -pedantic,
 * struct pkt_info has mOS 0.3's layout, the errno contract holds, and frames go out.
 * Sends FRAMES frames (seq 1000 + i, payload "frame i") and exits 0; the Rust test around it
 * (tests/c_abi.rs) checks the frames on the wire.
 */
/* struct tcphdr with Linux field names is a glibc extension, as in any mOS middlebox. */
#define _DEFAULT_SOURCE
#include "mtcp_sendpkt.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

_Static_assert(sizeof(struct pkt_info) == 72, "pkt_info size");
_Static_assert(_Alignof(struct pkt_info) == 8, "pkt_info alignment");
_Static_assert(offsetof(struct pkt_info, cur_ts) == 0, "cur_ts");
_Static_assert(offsetof(struct pkt_info, in_ifidx) == 4, "in_ifidx");
_Static_assert(offsetof(struct pkt_info, eth_len) == 6, "eth_len");
_Static_assert(offsetof(struct pkt_info, ip_len) == 8, "ip_len");
_Static_assert(offsetof(struct pkt_info, offset) == 16, "offset");
_Static_assert(offsetof(struct pkt_info, payloadlen) == 24, "payloadlen");
_Static_assert(offsetof(struct pkt_info, seq) == 28, "seq");
_Static_assert(offsetof(struct pkt_info, ack_seq) == 32, "ack_seq");
_Static_assert(offsetof(struct pkt_info, window) == 36, "window");
_Static_assert(offsetof(struct pkt_info, ethh) == 40, "ethh");
_Static_assert(offsetof(struct pkt_info, iph) == 48, "iph");
_Static_assert(offsetof(struct pkt_info, tcph) == 56, "tcph");
_Static_assert(offsetof(struct pkt_info, payload) == 64, "payload");
_Static_assert(sizeof(struct mtcp_context) == sizeof(int), "mtcp_context");

#define FRAMES 5

static int failures;

#define EXPECT(cond)                                                          \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,       \
				__LINE__, #cond);                             \
			failures++;                                           \
		}                                                             \
	} while (0)

#define EXPECT_ERRNO(call, e)                                                 \
	do {                                                                  \
		errno = 0;                                                    \
		int rc_ = (call);                                             \
		if (rc_ != -1 || errno != (e)) {                              \
			fprintf(stderr, "%s:%d: FAILED: %s gave %d/%s, want -1/%s\n", \
				__FILE__, __LINE__, #call, rc_, strerror(errno), #e); \
			failures++;                                           \
		}                                                             \
	} while (0)

/* An observed packet, as a middlebox holds it: IPv4 + TCP with a Timestamp option + payload. */
struct observed {
	struct iphdr ip;
	struct tcphdr tcp;
	unsigned char opts[12];
	char payload[32];
};
_Static_assert(offsetof(struct observed, tcp) == 20, "TCP header follows the IPv4 header");
_Static_assert(offsetof(struct observed, payload) == 52, "payload follows the TCP options");

static void make_packet(struct observed *o, struct pkt_info *pi, unsigned i)
{
	memset(o, 0, sizeof *o);
	memset(pi, 0, sizeof *pi);
	int n = snprintf(o->payload, sizeof o->payload, "frame %u", i);
	o->ip.version = 4;
	o->ip.ihl = 5;
	o->ip.id = htons((uint16_t)(0x1000 + i));
	o->ip.ttl = 9;
	o->ip.protocol = IPPROTO_TCP;
	o->ip.saddr = inet_addr("10.0.0.1");
	o->ip.daddr = inet_addr("10.0.0.10");
	o->ip.tot_len = htons((uint16_t)(20 + 32 + n));
	o->tcp.source = htons(40000);
	o->tcp.dest = htons(80);
	o->tcp.seq = htonl(1000 + i);
	o->tcp.ack_seq = htonl(2000 + i);
	o->tcp.doff = 8;
	o->tcp.psh = 1;
	o->tcp.ack = 1;
	o->tcp.window = htons(512);
	const unsigned char ts[12] = {1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9};
	memcpy(o->opts, ts, sizeof ts);
	pi->iph = &o->ip;
	pi->tcph = &o->tcp;
	pi->payload = (uint8_t *)o->payload;
	pi->payloadlen = (uint16_t)n;
	pi->ip_len = (uint16_t)(20 + 32 + n);
}

int main(void)
{
	struct mtcp_context ctx = {.cpu = 0};
	struct observed o;
	struct pkt_info pi;

	EXPECT(mtcp_sendpkt_init_error() == NULL);
	int cores = mtcp_sendpkt_cores();
	if (cores < 1) {
		fprintf(stderr, "library did not start: %s\n", mtcp_sendpkt_init_error());
		return 2;
	}

	/* The errno contract, one row at a time, before any frame is sent. */
	make_packet(&o, &pi, 0);
	struct mtcp_context bad_cpu = {.cpu = cores};
	EXPECT_ERRNO(mtcp_sendpkt(NULL, 1, &pi), EACCES);
	EXPECT_ERRNO(mtcp_sendpkt(&bad_cpu, 1, &pi), EACCES);
	EXPECT_ERRNO(mtcp_sendpkt(&ctx, 1, NULL), EACCES);
	EXPECT_ERRNO(mtcp_sendpkt(&ctx, -1, &pi), EBADF);
	pi.iph = NULL;
	EXPECT_ERRNO(mtcp_sendpkt(&ctx, 1, &pi), ENODATA);
	pi.iph = &o.ip;
	pi.tcph = NULL;
	EXPECT_ERRNO(mtcp_sendpkt(&ctx, 1, &pi), ENODATA);
	pi.tcph = &o.tcp;
	pi.payload = NULL;
	EXPECT_ERRNO(mtcp_sendpkt(&ctx, 1, &pi), EINVAL);
	pi.payload = (uint8_t *)o.payload;
	EXPECT_ERRNO(mtcp_sendpkt_stats(&ctx, NULL), EINVAL);

	for (unsigned i = 0; i < FRAMES; i++) {
		make_packet(&o, &pi, i);
		EXPECT(mtcp_sendpkt(&ctx, 1, &pi) == 0);
	}
	EXPECT(mtcp_sendpkt_flush(&ctx) >= 0);

	struct mtcp_sendpkt_stats st;
	EXPECT(mtcp_sendpkt_stats(&ctx, &st) == 0);
	EXPECT(st.accepted == FRAMES);
	EXPECT(st.transmitted == FRAMES);
	EXPECT(st.pending == 0);
	/* The NULL-mctx and bad-cpu calls have no context to be counted against. */
	EXPECT(st.rejected == 5);

	mtcp_sendpkt_shutdown();
	EXPECT_ERRNO(mtcp_sendpkt(&ctx, 1, &pi), EACCES);

	printf("abi_check: %d cores, %llu frames sent, %d failures\n", cores,
	       (unsigned long long)st.transmitted, failures);
	return failures ? 1 : 0;
}
