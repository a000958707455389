/* Test stand-in for mOS's mos_api.h, written for this project (not a copy): the same include
 * guard and include lines, in the same order, as the real header in the mos-stack repository
 * (core/src/include/mos_api.h): the kernel's struct tcphdr and struct ethhdr (glibc's only under
 * DARWIN), glibc's struct iphdr; then struct pkt_info (mOS 0.4's 72-byte layout, with
 * in_ifidx), the mtcp_sendpkt prototype, and mOS's TCP state names, which collide with
 * glibc's <netinet/tcp.h>. Like the real one it has no extern "C" block. */
#ifndef __MOS_API_H_
#define __MOS_API_H_

#ifdef DARWIN
#include <netinet/tcp.h>
#include <netinet/if_ether.h>
#else
#include <linux/tcp.h>
#include <linux/if_ether.h>
#endif
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <stddef.h>
#include "mtcp_epoll.h"
#include <stdbool.h>

struct pkt_info {
	uint32_t cur_ts;
	int8_t in_ifidx;
	uint16_t eth_len;
	uint16_t ip_len;
	uint64_t offset;
	uint16_t payloadlen;
	uint32_t seq;
	uint32_t ack_seq;
	uint16_t window;
	struct ethhdr *ethh;
	struct iphdr *iph;
	struct tcphdr *tcph;
	uint8_t *payload;
};

enum tcpstate {
	TCP_CLOSED = 0,
	TCP_LISTEN = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RCVD = 3,
	TCP_ESTABLISHED = 4,
	TCP_FIN_WAIT_1 = 5,
	TCP_FIN_WAIT_2 = 6,
	TCP_CLOSE_WAIT = 7,
	TCP_CLOSING = 8,
	TCP_LAST_ACK = 9,
	TCP_TIME_WAIT = 10
};

int mtcp_sendpkt(mctx_t mctx, int sock, const struct pkt_info *pkt);

#ifdef MMTLS_FORK
/* The mmTLS fork's addition to this header (TNET-SNU/mmTLS, proxies/mOS/), its prototype: sends
 * again a whole frame the middlebox held back. */
int mtcp_sendpkt_raw(mctx_t mctx, int sock, uint8_t *rawpkt, uint16_t len);
#endif

#endif
