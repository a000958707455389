/*
 * Our mtcp_sendpkt through the C ABI, as a middlebox calls it: THREADS threads (one mctx each,
 * thread k pinned to CPU k as a DPDK lcore would be), CALLS calls per thread with one prebuilt
 * pkt_info of PAYLOAD bytes. Configuration (port, burst) from the environment. Prints
 * "mpps <total Mpps>" and the per-thread counters.
 * Usage: sendpkt_bench PAYLOAD CALLS [THREADS]
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
	long failed = 0;
	pthread_barrier_wait(&start);
	for (long i = 0; i < calls; i++) {
		p.tcp.seq = htonl((uint32_t)i);
		failed += mtcp_sendpkt(&core, 1, &pinfo) != 0;
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
