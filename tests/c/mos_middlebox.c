/*
 * A middlebox written against mOS's own headers (the stand-ins in tests/c/mos/). Built two ways:
 * as it is (it never heard of mtcp_sendpkt.h, yet links and works against our library), and with
 * -DWITH_MTCP_SENDPKT_H, including our header after mOS's to reach the mtcp_sendpkt_* extras.
 * Sends three frames; prints one line per call; exits 0 when all were accepted. Valid C99, C11 and
 * C++11 with no feature-test macro, as code written for mOS's headers is; as C++ it wraps mOS's
 * headers in extern "C", which a C++ user of mOS's C library has to do (mos_api.h has no such
 * block).
 */
#ifdef __cplusplus
extern "C" {
#endif
#include "mtcp_api.h"
#include "mos_api.h"
#ifdef __cplusplus
}
#endif
#ifdef WITH_MTCP_SENDPKT_H
#include "mtcp_sendpkt.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef OLD_LIBRARY_VERSION
/* Something else the program uses from the mOS library it was linked against. */
const char *mtcp_stand_in_version(void);
#endif

int main(void)
{
	struct mtcp_context core;
	struct {
		struct iphdr ip;
		struct tcphdr tcp;
	} hdr;
	int ok = 0;

	core.cpu = 0;

#ifdef OLD_LIBRARY_VERSION
	printf("mos_middlebox: linked with %s\n", mtcp_stand_in_version());
#endif
	for (int i = 0; i < 3; i++) {
		memset(&hdr, 0, sizeof hdr);
		hdr.ip.version = 4;
		hdr.ip.ihl = 5;
		hdr.ip.id = htons(77);
		hdr.ip.saddr = inet_addr("10.0.0.1");
		hdr.ip.daddr = inet_addr("10.0.0.10");
		hdr.tcp.source = htons(1234);
		hdr.tcp.dest = htons(80);
		hdr.tcp.seq = htonl(500 + i);
		hdr.tcp.ack_seq = htonl(9);
		hdr.tcp.doff = 5;
		hdr.tcp.window = htons(100);

		struct pkt_info pinfo;
		memset(&pinfo, 0, sizeof pinfo);
		pinfo.iph = &hdr.ip;
		pinfo.tcph = &hdr.tcp;
		pinfo.ip_len = sizeof hdr;
		errno = 0;
		int rc = mtcp_sendpkt(&core, 1, &pinfo);
		printf("mos_middlebox: call %d: %s\n", i, rc == 0 ? "sent" : strerror(errno));
		ok += rc == 0;
	}
#ifdef WITH_MTCP_SENDPKT_H
	struct mtcp_sendpkt_stats st;
	if (mtcp_sendpkt_flush(&core) < 0 || mtcp_sendpkt_stats(&core, &st) != 0 || st.transmitted != 3)
		return 1;
	printf("mos_middlebox: stats say %llu transmitted\n", (unsigned long long)st.transmitted);
#endif
	printf("mos_middlebox: done\n");
	return ok == 3 ? 0 : 1;
}
