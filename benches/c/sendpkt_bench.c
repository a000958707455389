/*
 * Our mtcp_sendpkt through the C ABI, as a middlebox calls it: THREADS threads (one mctx each,
 * thread k pinned to CPU k as a DPDK lcore would be), CALLS calls per thread, cycling through the
 * packets of SHAPE (benches/c/bench_input.h) with PAYLOAD bytes each. Configuration (port, burst)
 * from the environment. Prints "mpps <total Mpps>" and the per-thread counters. MODE "guests":
 * every thread calls with mctx 0 (one owner, the others guests). MODE "raw": each call is instead
 * mtcp_sendpkt_raw (the mmTLS fork's replay) of a held frame of 66 + PAYLOAD bytes. MODE "burst":
 * mtcp_sendpkt_burst with 32 packets per call (CALLS packets in all).
 * Calls refused with EMSGSIZE (a captured segment too long for the mOS frame) are counted, not
 * failures; any other refusal fails the run.
 * Usage: sendpkt_bench SHAPE PAYLOAD CALLS [THREADS [MODE]]
 */
#define _GNU_SOURCE
#include "bench_input.h"
#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *shape;
static long payload_len, calls;
static int replay, guests, bursts;
static pthread_barrier_t start;

struct result {
	long failed, too_long;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
	int k = (int)(long)arg;
	struct mtcp_context core = {.cpu = guests ? 0 : k};
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(k % sysconf(_SC_NPROCESSORS_ONLN), &one);
	pthread_setaffinity_np(pthread_self(), sizeof one, &one);
	struct result *r = calloc(1, sizeof *r);
	struct bench_input in;
	if (!r || bench_input(replay ? "mos" : shape, payload_len, &in) != 0) {
		fprintf(stderr, "sendpkt_bench: no input for %s\n", shape);
		exit(2);
	}
	struct pkt_info *pinfo = calloc((size_t)in.n, sizeof *pinfo);
	for (long j = 0; j < in.n; j++) {
		struct bench_packet *p = &in.pkts[j];
		pinfo[j].ethh = (struct ethhdr *)p->eth;
		pinfo[j].iph = (struct iphdr *)p->ip;
		pinfo[j].tcph = (struct tcphdr *)p->tcp;
		pinfo[j].payload = p->payload;
		pinfo[j].payloadlen = p->payload_len;
		pinfo[j].ip_len = in.hand_built ? 0 : p->ip_len;
		pinfo[j].eth_len = in.hand_built ? 0 : (uint16_t)(14 + p->ip_len);
	}
	/* The held frame of the replay: Ethernet, IPv4 to 10.0.0.10, then bytes as held. */
	uint8_t *held = in.pkts[0].eth;
	uint16_t held_len = (uint16_t)(66 + payload_len);
	pthread_barrier_wait(&start);
	if (replay) {
		for (long i = 0; i < calls; i++)
			r->failed += mtcp_sendpkt_raw(&core, 1, held, held_len) != 0;
	} else if (bursts) {
		const struct pkt_info *batch[32];
		long j = 0;
		for (long i = 0; i < calls; i += 32) {
			unsigned n = calls - i < 32 ? (unsigned)(calls - i) : 32;
			for (unsigned k = 0; k < n; k++) {
				batch[k] = &pinfo[j];
				pinfo[j].tcph->seq = htonl((uint32_t)(i + k));
				if (++j == in.n)
					j = 0;
			}
			unsigned done = 0;
			while (done < n) {
				int took = mtcp_sendpkt_burst(&core, 1, batch + done, n - done);
				done += (unsigned)took;
				if (done < n) {
					if (errno == EMSGSIZE)
						r->too_long++;
					else
						r->failed++;
					done++;
				}
			}
		}
	} else {
		long j = 0;
		for (long i = 0; i < calls; i++) {
			struct pkt_info *pi = &pinfo[j];
			pi->tcph->seq = htonl((uint32_t)i);
			if (mtcp_sendpkt(&core, 1, pi) != 0) {
				if (errno == EMSGSIZE)
					r->too_long++;
				else
					r->failed++;
			}
			if (++j == in.n)
				j = 0;
		}
	}
	mtcp_sendpkt_flush(&core);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	shape = argv[1];
	payload_len = atol(argv[2]);
	calls = atol(argv[3]);
	long threads = argc > 4 ? atol(argv[4]) : 1;
	replay = argc > 5 && strcmp(argv[5], "raw") == 0;
	guests = argc > 5 && strcmp(argv[5], "guests") == 0;
	bursts = argc > 5 && strcmp(argv[5], "burst") == 0;
	if (mtcp_sendpkt_cores() < (guests ? 1 : threads)) {
		fprintf(stderr, "sendpkt_bench: need %ld cores: %s\n", threads, mtcp_sendpkt_init_error());
		return 1;
	}
	pthread_t t[64];
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, sender, (void *)i);
	pthread_barrier_wait(&start);
	double t0 = now();
	long failed = 0, too_long = 0;
	for (long i = 0; i < threads; i++) {
		void *r;
		pthread_join(t[i], &r);
		failed += ((struct result *)r)->failed;
		too_long += ((struct result *)r)->too_long;
	}
	double secs = now() - t0;
	unsigned long long sent = 0, no_mbuf = 0, tx_busy = 0;
	for (long i = 0; i < (guests ? 1 : threads); i++) {
		struct mtcp_sendpkt_stats st;
		mtcp_sendpkt_stats(&(struct mtcp_context){.cpu = (int)i}, &st);
		sent += st.transmitted;
		no_mbuf += st.no_mbuf;
		tx_busy += st.tx_busy;
	}
	printf("mpps %.3f\n", (double)calls * threads / secs / 1e6);
	printf("sent %llu failed %ld (no mbuf %llu, tx busy %llu) too long %ld seconds %.3f\n", sent, failed,
	       no_mbuf, tx_busy, too_long, secs);
	return failed ? 1 : 0;
}
