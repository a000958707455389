/*
 * The edges of the library's life as a C middlebox meets them (tests/edges.rs runs each mode on
 * DPDK vdevs with the default settings, the test giving what the case needs):
 *   tap-exit-main     40 frames staged and tapped, then return from main
 *   tap-exit-worker   a worker thread sends 40 frames and exits; main then shuts down (timed)
 *   stuck-tap FIFO    a tap on a FIFO whose reader stalls; 20000 frames; shutdown; then the
 *                     reader goes away (the test kills it) while the process lives on 3 s
 *   signal N          N calls on context 0 while another thread sends SIGUSR1 every 20 us and
 *                     the handler calls mtcp_sendpkt on context 0 too
 *   pool              24 worker threads take turns on context 0, 1500 frames each, each staying
 *                     alive after its turn
 *   stalled           port 0 never drains; the owner of context 0 keeps calling for it while a
 *                     guest thread sends 2000 frames to port 1
 * Each prints "edges: key value" lines for the test to check, and exits 0 unless a check here
 * failed.
 */
#define _GNU_SOURCE
#include <rte_ethdev.h>
#include <rte_mempool.h>

#include "mtcp_sendpkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "edges:%d: FAILED: %s (errno %d)\n", __LINE__, \
				#cond, errno);                                   \
			exit(1);                                                 \
		}                                                                \
	} while (0)

/* One observed segment: IPv4 + TCP with NOP, NOP, Timestamp, as mOS fills pkt_info. */
struct segment {
	struct iphdr ip;
	struct tcphdr tcp;
	uint8_t options[12];
};

static void make_segment(struct segment *s, struct pkt_info *pi, const char *daddr, uint32_t seq)
{
	memset(s, 0, sizeof *s);
	s->ip.version = 4;
	s->ip.ihl = 5;
	s->ip.tot_len = htons(sizeof *s);
	s->ip.protocol = 6;
	s->ip.saddr = inet_addr("10.0.0.1");
	s->ip.daddr = inet_addr(daddr);
	s->tcp.source = htons(40000);
	s->tcp.dest = htons(80);
	s->tcp.seq = htonl(seq);
	s->tcp.doff = 8;
	s->tcp.ack = 1;
	const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	memcpy(s->options, ts, sizeof ts);
	memset(pi, 0, sizeof *pi);
	pi->ip_len = sizeof *s;
	pi->iph = &s->ip;
	pi->tcph = &s->tcp;
}

static int send_to(int cpu, const char *daddr, uint32_t seq)
{
	struct mtcp_context core = {.cpu = cpu};
	struct segment s;
	struct pkt_info pi;
	make_segment(&s, &pi, daddr, seq);
	return mtcp_sendpkt(&core, 1, &pi);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct mtcp_sendpkt_stats stats(int cpu)
{
	struct mtcp_context core = {.cpu = cpu};
	struct mtcp_sendpkt_stats st;
	CHECK(mtcp_sendpkt_stats(&core, &st) == 0);
	return st;
}

static int flush(int cpu)
{
	struct mtcp_context core = {.cpu = cpu};
	return mtcp_sendpkt_flush(&core);
}

/* ---- tap at exit ---- */

static void *send_40(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < 40; i++)
		CHECK(send_to(0, "10.0.0.10", i) == 0);
	return NULL;
}

static int tap_exit_main(void)
{
	send_40(NULL);
	printf("edges: staged %llu\n", (unsigned long long)stats(0).pending);
	return 0;
}

static int tap_exit_worker(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, send_40, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	double t0 = now_s();
	mtcp_sendpkt_shutdown();
	printf("edges: shutdown_ms %.3f\n", (now_s() - t0) * 1e3);
	return 0;
}

/* ---- a stuck tap writer beside shutdown ---- */

static int stuck_tap(const char *fifo)
{
	/* Frames with a payload, so that the tap writes a lot. */
	static uint8_t payload[1000];
	struct mtcp_context core = {.cpu = 0};
	/* The reader opens the FIFO when it starts: until then the tap fails with ENXIO. */
	double until = now_s() + 10;
	while (mtcp_sendpkt_tap(fifo) != 0) {
		CHECK(errno == ENXIO && now_s() < until);
		usleep(10000);
	}
	for (uint32_t i = 0; i < 20000; i++) {
		struct segment s;
		struct pkt_info pi;
		make_segment(&s, &pi, "10.0.0.10", i);
		s.ip.tot_len = htons(sizeof s + sizeof payload);
		pi.ip_len = 0;
		pi.payload = payload;
		pi.payloadlen = sizeof payload;
		CHECK(mtcp_sendpkt(&core, 1, &pi) == 0);
	}
	CHECK(flush(0) >= 0);
	mtcp_sendpkt_shutdown();
	printf("edges: shutdown returned\n");
	fflush(stdout);
	/* The test now kills the reader: the stuck write ends, and the process must live on. */
	sleep(3);
	printf("edges: alive\n");
	return 0;
}

/* ---- a signal handler that sends ---- */

static atomic_ullong handler_ok, handler_edeadlk, handler_other;
static atomic_int stop_signals;
static atomic_ullong signals_sent;
static pthread_t main_thread;

static void on_sigusr1(int sig)
{
	(void)sig;
	int saved = errno;
	if (send_to(0, "10.0.0.10", 0xdead) == 0)
		atomic_fetch_add(&handler_ok, 1);
	else if (errno == EDEADLK)
		atomic_fetch_add(&handler_edeadlk, 1);
	else
		atomic_fetch_add(&handler_other, 1);
	errno = saved;
}

static void *signaller(void *arg)
{
	(void)arg;
	struct timespec gap = {.tv_sec = 0, .tv_nsec = 20000};
	while (!atomic_load(&stop_signals)) {
		pthread_kill(main_thread, SIGUSR1);
		atomic_fetch_add(&signals_sent, 1);
		nanosleep(&gap, NULL);
	}
	printf("edges: signals %llu\n", atomic_load(&signals_sent));
	return NULL;
}

static int signal_mode(unsigned long long n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	/* The first call starts the library, outside any handler. */
	CHECK(send_to(0, "10.0.0.10", 0) == 0);
	unsigned long long main_ok = 1, main_err = 0;
	main_thread = pthread_self();
	pthread_t t;
	CHECK(pthread_create(&t, NULL, signaller, NULL) == 0);
	/* At least n calls, and on until 10000 signals were sent. */
	for (unsigned long long i = 1; i < n || atomic_load(&signals_sent) < 10000; i++) {
		if (send_to(0, "10.0.0.10", (uint32_t)i) == 0)
			main_ok++;
		else
			main_err++;
	}
	atomic_store(&stop_signals, 1);
	CHECK(pthread_join(t, NULL) == 0);
	/* Every frame accepted goes out once: flush, and the port's count. */
	/* A flush also gives the context's spare mbufs back to the pool. */
	do
		CHECK(flush(0) >= 0);
	while (stats(0).pending > 0);
	struct mtcp_sendpkt_stats st = stats(0);
	struct rte_eth_stats ps;
	CHECK(rte_eth_stats_get(0, &ps) == 0);
	struct rte_mempool *pool = rte_mempool_lookup("mtcp_sendpkt");
	CHECK(pool != NULL);
	printf("edges: main_ok %llu\nedges: main_err %llu\n", main_ok, main_err);
	printf("edges: handler_ok %llu\nedges: handler_edeadlk %llu\nedges: handler_other %llu\n",
	       atomic_load(&handler_ok), atomic_load(&handler_edeadlk), atomic_load(&handler_other));
	printf("edges: accepted %llu\nedges: transmitted %llu\nedges: pending %llu\n",
	       (unsigned long long)st.accepted, (unsigned long long)st.transmitted,
	       (unsigned long long)st.pending);
	printf("edges: port_opackets %llu\n", (unsigned long long)ps.opackets);
	printf("edges: mbufs_free %u\nedges: mbufs_total %u\n", rte_mempool_avail_count(pool),
	       pool->size);
	return 0;
}

/* ---- a pool of worker threads ---- */

#define WORKERS 24
#define TURN 1500

static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cond = PTHREAD_COND_INITIALIZER;
static int turn, all_done;
static atomic_ullong pool_ok, pool_enobufs, pool_other;

static void *worker(void *arg)
{
	int me = (int)(long)arg;
	pthread_mutex_lock(&turn_lock);
	while (turn != me)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	for (uint32_t i = 0; i < TURN; i++) {
		/* Requests come spread out in time, as a worker serves them: long enough a turn that
		 * the previous worker, idle, loses the context to this one. */
		if (i % 50 == 49)
			usleep(200);
		if (send_to(0, "10.0.0.10", i) == 0)
			atomic_fetch_add(&pool_ok, 1);
		else if (errno == ENOBUFS)
			atomic_fetch_add(&pool_enobufs, 1);
		else
			atomic_fetch_add(&pool_other, 1);
	}
	/* The turn passes on; this thread stays alive, idle, until every turn is done. */
	pthread_mutex_lock(&turn_lock);
	turn++;
	pthread_cond_broadcast(&turn_cond);
	while (!all_done)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	return NULL;
}

static int pool_mode(void)
{
	pthread_t t[WORKERS];
	for (long i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	pthread_mutex_lock(&turn_lock);
	while (turn != WORKERS)
		pthread_cond_wait(&turn_cond, &turn_lock);
	pthread_mutex_unlock(&turn_lock);
	/* A flush also gives the context's spare mbufs back to the pool. */
	do
		CHECK(flush(0) >= 0);
	while (stats(0).pending > 0);
	struct mtcp_sendpkt_stats st = stats(0);
	struct rte_mempool *pool = rte_mempool_lookup("mtcp_sendpkt");
	CHECK(pool != NULL);
	printf("edges: ok %llu\nedges: enobufs %llu\nedges: other %llu\n", atomic_load(&pool_ok),
	       atomic_load(&pool_enobufs), atomic_load(&pool_other));
	printf("edges: accepted %llu\nedges: transmitted %llu\n", (unsigned long long)st.accepted,
	       (unsigned long long)st.transmitted);
	/* rte_mempool_avail_count counts what the lcore caches hold as free: they are added up
	 * here (the struct is DPDK's public one). */
	unsigned cached = 0;
	if (pool->cache_size > 0)
		for (unsigned i = 0; i < RTE_MAX_LCORE; i++)
			cached += pool->local_cache[i].len;
	printf("edges: mbufs_free %u\nedges: mbufs_in_lcore_caches %u\nedges: mbufs_total %u\n",
	       rte_mempool_avail_count(pool), cached, pool->size);
	pthread_mutex_lock(&turn_lock);
	all_done = 1;
	pthread_cond_broadcast(&turn_cond);
	pthread_mutex_unlock(&turn_lock);
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}

/* ---- a stalled port beside a healthy one ---- */

static atomic_int guest_done;
static double guest_last_call, guest_max_call;
static unsigned long long guest_eagain, guest_other;

static void *guest(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < 2000; i++) {
		double t0 = now_s();
		int rc = send_to(0, "10.0.1.10", i);
		double d = now_s() - t0;
		if (d > guest_max_call)
			guest_max_call = d;
		if (rc != 0 && errno == EAGAIN)
			guest_eagain++;
		else if (rc != 0)
			guest_other++;
	}
	guest_last_call = now_s();
	atomic_store(&guest_done, 1);
	return NULL;
}

static int stalled_mode(void)
{
	/* The owner: the first caller of context 0, for the stalled port. */
	send_to(0, "10.0.0.10", 0);
	unsigned long long owner_calls = 1, owner_eagain = 0;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, guest, NULL) == 0);
	double drained_at = 0;
	while (drained_at == 0 || now_s() < drained_at + 0.05) {
		if (send_to(0, "10.0.0.10", (uint32_t)owner_calls++) != 0 && errno == EAGAIN)
			owner_eagain++;
		struct rte_eth_stats ps;
		CHECK(rte_eth_stats_get(1, &ps) == 0);
		if (drained_at == 0 && atomic_load(&guest_done) && ps.opackets >= 2000)
			drained_at = now_s();
		CHECK(owner_calls < 100000000ULL);
		if (atomic_load(&guest_done) && drained_at == 0 && now_s() > guest_last_call + 5)
			break;
	}
	CHECK(pthread_join(t, NULL) == 0);
	struct rte_eth_stats ps;
	CHECK(rte_eth_stats_get(1, &ps) == 0);
	printf("edges: owner_calls %llu\nedges: owner_eagain %llu\n", owner_calls, owner_eagain);
	printf("edges: guest_eagain %llu\nedges: guest_other %llu\n", guest_eagain, guest_other);
	printf("edges: guest_max_call_ms %.3f\n", guest_max_call * 1e3);
	printf("edges: port1_opackets %llu\n", (unsigned long long)ps.opackets);
	printf("edges: port1_drained_ms %.3f\n",
	       drained_at == 0 ? -1.0 : (drained_at - guest_last_call) * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	CHECK(argc >= 2);
	const char *mode = argv[1];
	if (strcmp(mode, "tap-exit-main") == 0)
		return tap_exit_main();
	if (strcmp(mode, "tap-exit-worker") == 0)
		return tap_exit_worker();
	if (strcmp(mode, "stuck-tap") == 0 && argc == 3)
		return stuck_tap(argv[2]);
	if (strcmp(mode, "signal") == 0 && argc == 3)
		return signal_mode(strtoull(argv[2], NULL, 10));
	if (strcmp(mode, "pool") == 0)
		return pool_mode();
	if (strcmp(mode, "stalled") == 0)
		return stalled_mode();
	fprintf(stderr, "edges: unknown mode %s\n", mode);
	return 2;
}
