/*
 * Our mtcp_sendpkt through the C ABI, as a middlebox calls it: THREADS threads (one mctx each,
 * thread k pinned to CPU k as a DPDK lcore would be), CALLS calls per thread with one prebuilt
 * pkt_info of PAYLOAD bytes. Configuration (port, burst) from the environment. Prints
 * "mpps <total Mpps>" and the per-thread counters. With MODE "raw", each call is instead
 * mtcp_sendpkt_raw (the mmTLS fork's replay) of a held frame of 66 + PAYLOAD bytes.
 * Usage: sendpkt_bench PAYLOAD CALLS [THREADS [MODE]]
 */
#define _GNU_SOURCE
#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long payload_len, calls;
static int replay;
static pthread_barrier_t start;

struct packet {
	struct iphdr ip;
	struct tcphdr tcp;
	uint8_t opts[12];
	uint8_t payload[1448];
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
	struct mtcp_context core = {.cpu = (int)(long)arg};
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(core.cpu % sysconf(_SC_NPROCESSORS_ONLN), &one);
	pthread_setaffinity_np(pthread_self(), sizeof one, &one);
	struct packet p;
	memset(&p, 0, sizeof p);
	p.ip.version = 4;
	p.ip.ihl = 5;
	p.ip.saddr = inet_addr("10.0.0.1");
	p.ip.daddr = inet_addr("10.0.0.10");
	p.ip.tot_len = htons((uint16_t)(52 + payload_len));
	p.tcp.source = htons(40000);
	p.tcp.dest = htons(80);
	p.tcp.doff = 8;
	p.tcp.ack = 1;
	const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	memcpy(p.opts, ts, sizeof ts);
	struct pkt_info pinfo;
	memset(&pinfo, 0, sizeof pinfo);
	pinfo.iph = &p.ip;
	pinfo.tcph = &p.tcp;
	pinfo.payload = p.payload;
	pinfo.payloadlen = (uint16_t)payload_len;
	pinfo.ip_len = (uint16_t)(52 + payload_len);
	/* The held frame of the replay: Ethernet, IPv4 to 10.0.0.10, then bytes as held. */
	static __thread uint8_t held[66 + 1448];
	uint16_t held_len = (uint16_t)(66 + payload_len);
	for (long k = 0; k < held_len; k++)
		held[k] = (uint8_t)(k * 7 + 3);
	const uint8_t eth_ip[] = {0x08, 0x00, 0x45, 0x00};
	memcpy(held + 12, eth_ip, sizeof eth_ip);
	memcpy(held + 30, &p.ip.daddr, 4);
	long failed = 0;
	pthread_barrier_wait(&start);
	if (replay) {
		for (long i = 0; i < calls; i++)
			failed += mtcp_sendpkt_raw(&core, 1, held, held_len) != 0;
	} else {
		for (long i = 0; i < calls; i++) {
			p.tcp.seq = htonl((uint32_t)i);
			failed += mtcp_sendpkt(&core, 1, &pinfo) != 0;
		}
	}
	mtcp_sendpkt_flush(&core);
	return (void *)failed;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	payload_len = atol(argv[1]);
	calls = atol(argv[2]);
	long threads = argc > 3 ? atol(argv[3]) : 1;
	replay = argc > 4 && strcmp(argv[4], "raw") == 0;
	if (mtcp_sendpkt_cores() < threads) {
		fprintf(stderr, "sendpkt_bench: need %ld cores: %s\n", threads, mtcp_sendpkt_init_error());
		return 1;
	}
	pthread_t t[64];
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, sender, (void *)i);
	pthread_barrier_wait(&start);
	double t0 = now();
	long failed = 0;
	for (long i = 0; i < threads; i++) {
		void *r;
		pthread_join(t[i], &r);
		failed += (long)r;
	}
	double secs = now() - t0;
	unsigned long long sent = 0, no_mbuf = 0, tx_busy = 0;
	for (long i = 0; i < threads; i++) {
		struct mtcp_sendpkt_stats st;
		mtcp_sendpkt_stats(&(struct mtcp_context){.cpu = (int)i}, &st);
		sent += st.transmitted;
		no_mbuf += st.no_mbuf;
		tx_busy += st.tx_busy;
	}
	printf("mpps %.3f\n", (double)calls * threads / secs / 1e6);
	printf("sent %llu failed %ld (no mbuf %llu, tx busy %llu) seconds %.3f\n", sent, failed, no_mbuf,
	       tx_busy, secs);
	return failed ? 1 : 0;
}
