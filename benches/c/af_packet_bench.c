/*
 * Linux's own path: one sendto() per frame on an AF_PACKET socket bound to IFACE, with the same
 * 66 + PAYLOAD byte TCP frame (checksums computed once: the kernel does not touch them).
 * Usage: af_packet_bench IFACE PAYLOAD CALLS   (prints "mpps <Mpps>")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	long payload = atol(argv[2]), calls = atol(argv[3]);
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (s < 0) {
		perror("socket");
		return 1;
	}
	struct sockaddr_ll addr;
	memset(&addr, 0, sizeof addr);
	addr.sll_family = AF_PACKET;
	addr.sll_ifindex = (int)if_nametoindex(argv[1]);
	addr.sll_halen = 6;
	if (addr.sll_ifindex == 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
		perror("bind");
		return 1;
	}
	static uint8_t f[66 + 1448];
	memset(f, 0x11, 12);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((52 + payload) >> 8);
	f[17] = (uint8_t)(52 + payload);
	f[20] = 0x40;
	f[22] = 64;
	f[23] = 6;
	f[46] = 8 << 4;
	f[47] = 0x10;
	size_t len = (size_t)(66 + payload);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long sent = 0;
	for (long i = 0; i < calls; i++)
		sent += sendto(s, f, len, 0, (struct sockaddr *)&addr, sizeof addr) == (ssize_t)len;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("mpps %.3f\nsent %ld seconds %.3f\n", (double)calls / secs / 1e6, sent, secs);
	close(s);
	return sent == calls ? 0 : 1;
}
