/* Test stand-in for mOS 0.3's mos_api.h: struct pkt_info and mtcp_sendpkt as a middlebox compiled
 * against mOS declares them (layout from MOS_COMPAT.md). */
#ifndef __MOS_API_H_
#define __MOS_API_H_

#include <stdint.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include "mtcp_api.h"

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

int mtcp_sendpkt(mctx_t mctx, int sock, const struct pkt_info *pkt);

#endif
