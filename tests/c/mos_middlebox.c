/*
 * A middlebox written against mOS's own headers (the stand-ins in tests/c/mos/). Built two ways:
 * as it is (it never heard of mtcp_sendpkt.h, yet links and works against our library), and with
 * -DWITH_MTCP_SENDPKT_H, including our header after mOS's to reach the mtcp_sendpkt_* extras.
 * Sends three frames; prints one line per call; exits 0 when all were accepted. With -DMMTLS_FORK
 * (the mmTLS fork's mos_api.h, which declares mtcp_sendpkt_raw(mctx, sock, frame, len)) it also
 * replays a frame it held back, as mmtls.c does, and one toward an address with no route or ARP
 * entry (which must fail with EHOSTUNREACH). Valid C99, C11 and
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
	int expected = 3;
#ifdef MMTLS_FORK
	{
		/* A frame held back whole (Ethernet, IPv4, TCP with options, 100 bytes of payload), every
		 * byte its own; only the two MACs may change on the way out. */
		uint8_t held[14 + 20 + 32 + 100];
		for (size_t k = 0; k < sizeof held; k++)
			held[k] = (uint8_t)(k * 7 + 3);
		const uint8_t eth_ip[] = {0x08, 0x00, 0x45, 0x00};
		memcpy(held + 12, eth_ip, sizeof eth_ip);
		const uint8_t dst[] = {10, 0, 0, 10};
		memcpy(held + 14 + 16, dst, sizeof dst);
		errno = 0;
		int rc = mtcp_sendpkt_raw(&core, 1, held, (uint16_t)sizeof held);
		printf("mos_middlebox: replay: %s\n", rc == 0 ? "sent" : strerror(errno));
		printf("mos_middlebox: held ");
		for (size_t k = 0; k < sizeof held; k++)
			printf("%02x", held[k]);
		printf("\n");
		ok += rc == 0;
		/* Toward an address with no route and no ARP entry: -1 and EHOSTUNREACH (the fork: 0). */
		const uint8_t nowhere[] = {10, 1, 2, 3};
		memcpy(held + 14 + 16, nowhere, sizeof nowhere);
		errno = 0;
		rc = mtcp_sendpkt_raw(&core, 1, held, (uint16_t)sizeof held);
		printf("mos_middlebox: replay nowhere: %d %s\n", rc, strerror(errno));
		ok += rc == -1 && errno == EHOSTUNREACH;
		expected += 2;
	}
#endif
#ifdef WITH_MTCP_SENDPKT_H
	struct mtcp_sendpkt_stats st;
	unsigned long long sent = (unsigned long long)(expected == 3 ? 3 : 4);
	if (mtcp_sendpkt_flush(&core) < 0 || mtcp_sendpkt_stats(&core, &st) != 0 || st.transmitted != sent)
		return 1;
	printf("mos_middlebox: stats say %llu transmitted\n", (unsigned long long)st.transmitted);
#endif
	printf("mos_middlebox: done\n");
	return ok == expected ? 0 : 1;
}
