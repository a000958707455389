/*
 * Leaves frames staged (MTCP_SENDPKT_BURST large, flush interval long) and ends the process the
 * way argv[1] says: "exit" calls exit(0) from a helper, "return" returns from main. The frames
 * must be on the wire anyway (tests/c_abi.rs counts them).
 */
#define _DEFAULT_SOURCE
#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAMES 10

static void leave(void)
{
	exit(0);
}

int main(int argc, char **argv)
{
	struct mtcp_context core = {.cpu = 0};
	struct {
		struct iphdr ip;
		struct tcphdr tcp;
	} h;
	for (int i = 0; i < FRAMES; i++) {
		memset(&h, 0, sizeof h);
		h.ip.version = 4;
		h.ip.ihl = 5;
		h.ip.saddr = inet_addr("10.0.0.1");
		h.ip.daddr = inet_addr("10.0.0.10");
		h.tcp.seq = htonl(i);
		h.tcp.doff = 5;
		struct pkt_info pinfo;
		memset(&pinfo, 0, sizeof pinfo);
		pinfo.iph = &h.ip;
		pinfo.tcph = &h.tcp;
		if (mtcp_sendpkt(&core, 1, &pinfo) != 0)
			return 1;
	}
	struct mtcp_sendpkt_stats st;
	if (mtcp_sendpkt_stats(&core, &st) != 0 || st.pending != FRAMES) {
		fprintf(stderr, "exit_staged: expected %d staged frames\n", FRAMES);
		return 1;
	}
	printf("exit_staged: %d frames staged, leaving by %s\n", FRAMES, argc > 1 ? argv[1] : "return");
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		leave();
	return 0;
}
