// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_otlp_export.c - unit tests of the OTLP exporter against a tiny HTTP
 * server run by the test itself (one thread, 127.0.0.1, an ephemeral port,
 * scripted answers, bounded in time): request headers and gzip bodies,
 * Retry-After in seconds and as an HTTP-date, final 4xx answers, connection
 * failures and timeouts with their counts, the drop-oldest queue, partial
 * success, flush deadlines and a prompt free(). Nothing here ever leaves
 * the loopback interface.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "google_rpc_status.pb-c.h"
#include "util/log.h"
#include "sinks/otlp/otlp_export.h"
#include "sinks/otlp/otlp_http.h"
#include "otlp_metrics_service.pb-c.h"
#include "otlp_test_util.h"

#define MAX_REQS 16
/* The server gives up on its own after this long, whatever happens. */
#define SERVER_LIFETIME_MS 20000

/* One scripted answer; the last one of a script repeats. */
struct step {
	int status;
	const char *headers;	/* extra "Name: value\r\n" lines, or NULL */
	const char *ctype;	/* Content-Type of body, or NULL */
	const void *body;
	size_t body_len;
	int delay_ms;		/* before answering */
	bool hold;		/* wait for server_release() before answering */
};

struct req {
	char head[4096];	/* request line and headers */
	uint8_t *body;
	size_t len;
	uint64_t t_ms;		/* when it was fully read */
};

struct server {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	const struct step *steps;
	size_t n_steps;
	struct req reqs[MAX_REQS];
	size_t n_reqs;		/* under lock */
	bool released;		/* under lock */
	atomic_bool stop;
};

/* --- the HTTP server ----------------------------------------------------------- */

/* Read exactly len bytes or until "\r\n\r\n" (head) within the server's
 * limits; returns bytes read, -1 on stop/timeout/EOF. */
static ssize_t read_some(struct server *s, int fd, char *buf, size_t len,
			 uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	while (!atomic_load(&s->stop) && now_ms() < deadline) {
		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recv(fd, buf, len, 0);
		return n > 0 ? n : -1;
	}
	return -1;
}

static const char *find_header(const char *head, const char *name,
			       size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *l = strstr(head, "\r\n");

	while (l && l[2]) {
		l += 2;
		if (!strncasecmp(l, name, nlen) && l[nlen] == ':') {
			l += nlen + 1;
			while (*l == ' ')
				l++;
			*vlen = strcspn(l, "\r\n");
			return l;
		}
		l = strstr(l, "\r\n");
	}
	return NULL;
}

static void serve_one(struct server *s, int fd)
{
	const struct step *st;
	struct req r = {};
	uint64_t deadline = now_ms() + 5000;
	size_t used = 0, vlen, i, idx;
	char *end = NULL, *p, resp[512];
	const char *cl;
	ssize_t n;
	int waited;

	while (!end) {
		if (used + 1 >= sizeof(r.head))
			return;
		n = read_some(s, fd, r.head + used, sizeof(r.head) - 1 - used,
			      deadline);
		if (n < 0)
			return;
		used += n;
		r.head[used] = '\0';
		end = strstr(r.head, "\r\n\r\n");
	}
	cl = find_header(r.head, "Content-Length", &vlen);
	r.len = cl ? strtoul(cl, NULL, 10) : 0;
	r.body = malloc(r.len + 1);
	if (!r.body)
		return;
	/* Bytes of the body already read with the head. */
	p = end + 4;
	i = used - (p - r.head);
	memcpy(r.body, p, i < r.len ? i : r.len);
	*p = '\0';
	while (i < r.len) {
		n = read_some(s, fd, (char *)r.body + i, r.len - i, deadline);
		if (n < 0) {
			free(r.body);
			return;
		}
		i += n;
	}
	r.t_ms = now_ms();

	pthread_mutex_lock(&s->lock);
	idx = s->n_reqs;
	if (idx < MAX_REQS) {
		s->reqs[idx] = r;
		s->n_reqs++;
	} else {
		free(r.body);
	}
	pthread_cond_broadcast(&s->cv);
	st = &s->steps[idx < s->n_steps ? idx : s->n_steps - 1];
	while (st->hold && !s->released && !atomic_load(&s->stop)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->cv, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	for (waited = 0; waited < st->delay_ms && !atomic_load(&s->stop);
	     waited += 10)
		sleep_ms(10);
	if (atomic_load(&s->stop))
		return;

	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n%s%s%s"
		     "Connection: close\r\n%s\r\n",
		     st->status, st->body_len,
		     st->ctype ? "Content-Type: " : "", st->ctype ? st->ctype : "",
		     st->ctype ? "\r\n" : "", st->headers ? st->headers : "");
	if (send(fd, resp, n, MSG_NOSIGNAL) != n)
		return;
	if (st->body_len)
		send(fd, st->body, st->body_len, MSG_NOSIGNAL);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	uint64_t deadline = now_ms() + SERVER_LIFETIME_MS;
	int c;

	while (!atomic_load(&s->stop) && now_ms() < deadline) {
		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(s, c);
		close(c);
	}
	return NULL;
}

static struct server *server_start(const struct step *steps, size_t n_steps)
{
	struct server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->steps = steps;
	s->n_steps = n_steps;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	atomic_init(&s->stop, false);
	s->fd = listen_loopback(&s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	return s;
}

static void server_release(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	s->released = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

static void server_stop(struct server *s)
{
	size_t i;

	atomic_store(&s->stop, true);
	server_release(s);
	pthread_join(s->thread, NULL);
	close(s->fd);
	for (i = 0; i < s->n_reqs; i++)
		free(s->reqs[i].body);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* Wait until the server has read n requests (at most ms). */
static size_t server_wait(struct server *s, size_t n, int ms)
{
	uint64_t deadline = now_ms() + ms;
	size_t got;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		got = s->n_reqs;
		pthread_mutex_unlock(&s->lock);
		if (got >= n || now_ms() >= deadline)
			return got;
		sleep_ms(5);
	}
}

/* The value of a request header, as a string (static buffer). */
static const char *req_header(const struct req *r, const char *name)
{
	static char buf[512];
	const char *v;
	size_t len;

	v = find_header(r->head, name, &len);
	if (!v)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, v);
	return buf;
}

/* --- helpers -------------------------------------------------------------------- */

struct captured {
	int saved;
	char path[64];
};

/* Send stderr (our log) to a file until capture_end(). */
static void capture_begin(struct captured *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/test_otlp_export_XXXXXX");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Restore stderr; returns what was logged (malloc'ed), echoing it. */
static char *capture_end(struct captured *c)
{
	char *text = calloc(1, 65536);
	FILE *f;

	assert_non_null(text);
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	f = fopen(c->path, "r");
	assert_non_null(f);
	(void)!fread(text, 1, 65535, f);
	fclose(f);
	unlink(c->path);
	fputs(text, stderr);
	return text;
}

/* A config pointing both signals at the server, from a clean env. */
static void config_for(struct otel_config *c, int port)
{
	config_loopback(c, port, "");
}

/* An exporter for the server at port with the default config; stderr
 * captured into cap from just before it starts, unless cap is NULL. */
static struct otlp_exporter *exporter_at(int port, struct captured *cap,
					 size_t queue_max, int initial_ms,
					 int attempts)
{
	struct otel_config c;
	struct otlp_exporter *e;

	config_for(&c, port);
	if (cap)
		capture_begin(cap);
	e = exporter_for(&c, queue_max, initial_ms, attempts);
	otel_config__free(&c);
	return e;
}

static uint8_t *dup_bytes(const void *p, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	memcpy(b, p, len);
	return b;
}

static int64_t metrics_value(const uint8_t *buf, size_t len)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *r;
	int64_t v;

	r = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->n_resource_metrics, 1);
	assert_string_equal(r->resource_metrics[0]->scope_metrics[0]->metrics[0]->name,
			    "memtel.test");
	v = r->resource_metrics[0]->scope_metrics[0]->metrics[0]->gauge->data_points[0]->as_int;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(r, NULL);
	return v;
}

/* The gauge value of the server's request i. */
static int64_t req_value(const struct server *s, size_t i)
{
	return metrics_value(s->reqs[i].body, s->reqs[i].len);
}

/* Both requests were read; the second came lo..hi ms after the first. */
static void assert_retry_gap(struct server *s, uint64_t lo, uint64_t hi)
{
	uint64_t gap;

	assert_int_equal(server_wait(s, 2, 0), 2);
	gap = s->reqs[1].t_ms - s->reqs[0].t_ms;
	assert_true(gap >= lo);
	assert_true(gap < hi);
}

/* Enqueue v, flush (must succeed) and read the stats. */
static void send_value(struct otlp_exporter *e, int64_t v,
		       struct otlp_export_stats *st)
{
	enqueue_value(e, v);
	assert_int_equal(otlp_exporter__flush(e, 5000), 0);
	otlp_exporter__stats(e, st);
}

static uint8_t *gunzip(const uint8_t *in, size_t len, size_t *out_len)
{
	z_stream zs = {};
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK); /* gzip only */
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return out;
}

/* --- tests ---------------------------------------------------------------------- */

static void test_headers_and_gzip(void **state)
{
	static const struct step steps[] = { { .status = 200 } };
	struct server *s = server_start(steps, 1);
	struct otlp_export_stats st;
	struct otel_config c;
	struct otlp_exporter *e;
	struct captured cap;
	char err[256], *log;
	uint8_t *plain, *body;
	size_t len, plen;

	(void)state;
	config_for(&c, s->port);
	assert_int_equal(otel_config__add_header(&c, "X-Api-Key=s3cr%65t", err,
						 sizeof(err)), 0);
	assert_int_equal(otel_config__add_header(&c, "content-type=text/plain",
						 err, sizeof(err)), 0);
	assert_int_equal(otel_config__set_compression(&c, "gzip", err,
						      sizeof(err)), 0);
	mt_verbose = true;
	capture_begin(&cap);
	e = exporter_for(&c, 8, 50, 3);
	otel_config__free(&c);

	plain = metrics_request(42, &len);
	body = dup_bytes(plain, len);
	assert_int_equal(otlp_exporter__enqueue(e, OTLP_METRICS, body, len), 0);
	body = dup_bytes("profile-bytes", 13);
	assert_int_equal(otlp_exporter__enqueue(e, OTLP_PROFILES, body, 13), 0);
	flush_stats_free(e, 5000, &st);
	log = capture_end(&cap);
	mt_verbose = false;

	assert_int_equal(server_wait(s, 2, 1000), 2);
	assert_int_equal(strncmp(s->reqs[0].head, "POST /v1/metrics HTTP/1.1\r\n", 27), 0);
	assert_int_equal(strncmp(s->reqs[1].head,
				 "POST /v1development/profiles HTTP/1.1\r\n", 39), 0);
	/* Our Content-Type wins over a configured one. */
	assert_string_equal(req_header(&s->reqs[0], "content-type"),
			    "application/x-protobuf");
	assert_null(strstr(s->reqs[0].head, "text/plain"));
	assert_string_equal(req_header(&s->reqs[0], "content-encoding"), "gzip");
	assert_string_equal(req_header(&s->reqs[0], "x-api-key"), "s3cret");
	assert_string_equal(req_header(&s->reqs[0], "user-agent"),
			    "memtel-bpf/" MEMTEL_VERSION);
	assert_null(req_header(&s->reqs[0], "expect"));

	body = gunzip(s->reqs[0].body, s->reqs[0].len, &plen);
	assert_int_equal(plen, len);
	assert_memory_equal(body, plain, len);
	assert_int_equal(metrics_value(body, plen), 42);
	free(body);
	body = gunzip(s->reqs[1].body, s->reqs[1].len, &plen);
	assert_int_equal(plen, 13);
	assert_memory_equal(body, "profile-bytes", 13);
	free(body);
	free(plain);

	assert_int_equal(st.sent, 2);
	assert_int_equal(st.failed + st.retried + st.dropped_queue_full +
			 st.dropped_after_retries, 0);
	assert_int_equal(st.queued, 0);
	assert_string_equal(st.last_error, "");
	/* Verbose logs name the header, never its value. */
	assert_non_null(strstr(log, "X-Api-Key=<redacted>"));
	assert_null(strstr(log, "s3cret"));
	free(log);
	server_stop(s);
}

static void test_retry_after_values(void **state)
{
	const time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */

	(void)state;
	assert_int_equal(otlp_http_retry_after_ms("120", now), 120000);
	assert_int_equal(otlp_http_retry_after_ms("  7 ", now), 7000);
	assert_int_equal(otlp_http_retry_after_ms("0", now), 0);
	/* A collector cannot park us for longer than a day... */
	assert_int_equal(otlp_http_retry_after_ms("86401", now), 86400000);
	assert_int_equal(otlp_http_retry_after_ms("99999999999999999999999", now),
			 86400000);
	assert_int_equal(otlp_http_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT",
						  now), 86400000);
	/* ...and a date in the past means now. */
	assert_int_equal(otlp_http_retry_after_ms("Tue, 14 Nov 2023 22:13:30 GMT",
						  now), 10000);
	assert_int_equal(otlp_http_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT",
						  now), 0);
	/* Anything else is no Retry-After. */
	assert_int_equal(otlp_http_retry_after_ms("", now), -1);
	assert_int_equal(otlp_http_retry_after_ms("-5", now), -1);
	assert_int_equal(otlp_http_retry_after_ms("5s", now), -1);
	assert_int_equal(otlp_http_retry_after_ms("soon", now), -1);
}

static void test_retry_after_seconds(void **state)
{
	static const struct step steps[] = {
		{ .status = 503, .headers = "Retry-After: 1\r\n" },
		{ .status = 200 },
	};
	struct server *s = server_start(steps, 2);
	struct otlp_export_stats st;
	struct otlp_exporter *e;

	(void)state;
	/* A 10 ms backoff: only Retry-After can explain a 1 s wait. */
	e = exporter_at(s->port, NULL, 8, 10, 3);
	enqueue_value(e, 1);
	flush_stats_free(e, 5000, &st);

	assert_retry_gap(s, 950, 2500);
	assert_int_equal(req_value(s, 1), 1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.dropped_after_retries, 0);
	server_stop(s);
}

static void test_retry_after_date_429(void **state)
{
	struct step steps[] = {
		{ .status = 429 },
		{ .status = 200 },
	};
	struct otlp_export_stats st;
	struct otlp_exporter *e;
	struct server *s;
	char hdr[96];
	time_t t = time(NULL) + 2;
	struct tm tm;

	(void)state;
	gmtime_r(&t, &tm);
	strftime(hdr, sizeof(hdr), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	steps[0].headers = hdr;
	s = server_start(steps, 2);
	e = exporter_at(s->port, NULL, 8, 10, 3);
	enqueue_value(e, 2);
	flush_stats_free(e, 6000, &st);

	/* The date is 2 s ahead at one-second resolution: 1-2 s. */
	assert_retry_gap(s, 900, 3500);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 1);
	server_stop(s);
}

static void test_4xx_not_retried(void **state)
{
	Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
	static const char text[] = "bad request:\r\nmissing resource";
	uint8_t pb[128];
	struct step steps[] = {
		{ .status = 400, .ctype = "text/plain", .body = text,
		  .body_len = sizeof(text) - 1 },
		{ .status = 400, .ctype = "application/x-protobuf", .body = pb },
		{ .status = 401 },
	};
	struct otlp_export_stats st;
	struct otlp_exporter *e;
	struct captured cap;
	struct server *s;
	char *log;

	(void)state;
	status.code = 3; /* INVALID_ARGUMENT */
	status.message = "metric name is empty";
	steps[1].body_len = google__rpc__status__pack(&status, pb);
	s = server_start(steps, 3);
	e = exporter_at(s->port, &cap, 8, 10, 5);

	send_value(e, 1, &st);
	assert_string_equal(st.last_error, "HTTP 400: bad request:  missing resource");
	send_value(e, 2, &st);
	assert_string_equal(st.last_error, "HTTP 400: metric name is empty");
	enqueue_value(e, 3);
	assert_int_equal(otlp_exporter__flush(e, 5000), 0);
	sleep_ms(100); /* a retry would show up by now */
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	log = capture_end(&cap);

	assert_int_equal(server_wait(s, 3, 0), 3);
	assert_int_equal(st.failed, 3);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.sent, 0);
	assert_string_equal(st.last_error, "HTTP 401");
	/* Logged once per distinct error, with the status and excerpt. */
	assert_non_null(strstr(log, "failed after 1 attempt: HTTP 400: bad request:  missing resource"));
	assert_non_null(strstr(log, "HTTP 401"));
	free(log);
	server_stop(s);
}

static void test_connection_refused(void **state)
{
	struct otlp_export_stats st;
	struct otlp_exporter *e;
	struct captured cap;
	uint64_t t0;
	char *log;
	int fd, port;

	(void)state;
	/* A port nobody listens on: bound, then closed. */
	fd = listen_loopback(&port);
	close(fd);
	e = exporter_at(port, &cap, 8, 20, 3);
	t0 = now_ms();
	enqueue_value(e, 1);
	enqueue_value(e, 2);
	flush_stats_free(e, 5000, &st);
	log = capture_end(&cap);

	assert_true(now_ms() - t0 < 3000);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.retried, 4);	/* 2 requests x (3 attempts - 1) */
	assert_int_equal(st.dropped_after_retries, 2);
	assert_non_null(strstr(st.last_error, "(gave up retrying)"));
	/* The same error twice in a row is logged once. */
	assert_non_null(strstr(log, "failed after 3 attempts"));
	assert_null(strstr(strstr(log, "failed after 3 attempts") + 1,
			   "failed after 3 attempts"));
	free(log);
}

static void test_slow_server_timeout(void **state)
{
	static const struct step steps[] = { { .status = 200, .delay_ms = 3000 } };
	struct server *s = server_start(steps, 1);
	struct otlp_export_stats st;
	struct otel_config c;
	struct otlp_exporter *e;
	uint64_t t0, took;

	(void)state;
	config_for(&c, s->port);
	assert_int_equal(otel_config__set_timeout_ms(&c, 300), 0);
	e = exporter_for(&c, 8, 20, 2);
	otel_config__free(&c);
	t0 = now_ms();
	enqueue_value(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 5000), 0);
	took = now_ms() - t0;
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);

	/* Two attempts of 300 ms and a short backoff. */
	assert_true(took >= 550);
	assert_true(took < 2000);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.dropped_after_retries, 1);
	assert_int_equal(st.sent, 0);
	assert_non_null(strstr(st.last_error, "imed out"));
	server_stop(s);
}

static void test_queue_overflow_drops_oldest(void **state)
{
	static const struct step steps[] = {
		{ .status = 200, .hold = true },
		{ .status = 200 },
	};
	struct server *s = server_start(steps, 2);
	struct otlp_export_stats st;
	struct otlp_exporter *e;
	uint64_t t0;
	int v;

	(void)state;
	e = exporter_at(s->port, NULL, 2, 10, 3);

	enqueue_value(e, 1);
	assert_int_equal(server_wait(s, 1, 2000), 1); /* 1 is in flight */
	t0 = now_ms();
	for (v = 2; v <= 5; v++)
		enqueue_value(e, v); /* 2 and 3 get pushed out */
	assert_true(now_ms() - t0 < 100); /* enqueue never waits */
	otlp_exporter__stats(e, &st);
	assert_int_equal(st.dropped_queue_full, 2);
	assert_int_equal(st.queued, 3);
	server_release(s);
	flush_stats_free(e, 5000, &st);

	assert_int_equal(server_wait(s, 3, 0), 3);
	assert_int_equal(req_value(s, 0), 1);
	assert_int_equal(req_value(s, 1), 4);
	assert_int_equal(req_value(s, 2), 5);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.dropped_queue_full, 2);
	assert_int_equal(st.queued, 0);
	server_stop(s);
}

/* A gzip member of n MiB of zeros (n MiB compressed 1000:1), built
 * without compressing n MiB: after a full flush the deflate state starts
 * over, so every further MiB compresses to the same bytes. The trailer's
 * CRC is not right; nothing gets that far. */
static uint8_t *gzip_bomb(size_t mib, size_t *len)
{
	static uint8_t zeros[1 << 20];
	uint8_t *out, *one;
	size_t cap = mib * 2048 + 4096, first, rep, i;
	z_stream zs = {};

	out = malloc(cap);
	one = malloc(8192);
	assert_non_null(out);
	assert_non_null(one);
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = zeros;
	zs.avail_in = sizeof(zeros);
	zs.next_out = out;
	zs.avail_out = cap;
	assert_int_equal(deflate(&zs, Z_FULL_FLUSH), Z_OK);
	first = zs.total_out;
	zs.next_in = zeros;
	zs.avail_in = sizeof(zeros);
	zs.next_out = one;
	zs.avail_out = 8192;
	assert_int_equal(deflate(&zs, Z_FULL_FLUSH), Z_OK);
	rep = zs.total_out - first;
	deflateEnd(&zs);
	for (i = 1; i < mib; i++)
		memcpy(out + first + (i - 1) * rep, one, rep);
	free(one);
	*len = first + (mib - 1) * rep;
	return out;
}

static void test_compressed_answer_bounded(void **state)
{
	struct step steps[] = {
		{ .status = 200, .headers = "Content-Encoding: gzip\r\n",
		  .ctype = "application/x-protobuf" },
	};
	struct otlp_export_stats st;
	struct otel_config c;
	struct otlp_exporter *e;
	struct server *s;
	uint8_t *bomb;
	uint64_t t0, took;

	(void)state;
	/* 4 GiB of zeros in ~4 MB: libcurl inflates what it gets, so an
	 * answer like this kept the exporter busy past its timeout and the
	 * export counted as failed and was sent again. It is read up to
	 * 64 KiB inflated now, and the 2xx counts. */
	bomb = gzip_bomb(4096, &steps[0].body_len);
	steps[0].body = bomb;
	fprintf(stderr, "4 GiB gzip'ed: %zu bytes\n", steps[0].body_len);
	s = server_start(steps, 1);
	config_for(&c, s->port);
	assert_int_equal(otel_config__set_timeout_ms(&c, 1500), 0);
	e = exporter_for(&c, 8, 10, 2);
	otel_config__free(&c);
	t0 = now_ms();
	enqueue_value(e, 1);
	assert_int_equal(otlp_exporter__flush(e, 8000), 0);
	took = now_ms() - t0;
	otlp_exporter__stats(e, &st);
	otlp_exporter__free(e);
	server_stop(s);
	free(bomb);
	fprintf(stderr, "delivered against a gzip bomb in %llu ms\n",
		(unsigned long long)took);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.failed + st.dropped_after_retries, 0);
	assert_true(took < 1500);
}

static void test_partial_success(void **state)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
	uint8_t pb[128];
	struct step steps[] = {
		{ .status = 200, .ctype = "application/x-protobuf", .body = pb },
		{ .status = 200 },
	};
	struct otlp_export_stats st;
	struct otlp_exporter *e;
	struct captured cap;
	struct server *s;
	char *log;

	(void)state;
	ps.rejected_data_points = 3;
	ps.error_message = "3 points had a NaN value";
	resp.partial_success = &ps;
	steps[0].body_len =
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__pack(&resp, pb);
	s = server_start(steps, 2);
	e = exporter_at(s->port, &cap, 8, 10, 3);
	enqueue_value(e, 1);
	enqueue_value(e, 2);
	flush_stats_free(e, 5000, &st);
	log = capture_end(&cap);

	/* Not retried: both requests went out once. */
	assert_int_equal(server_wait(s, 2, 0), 2);
	assert_int_equal(req_value(s, 1), 2);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.retried, 0);
	assert_int_equal(st.partial_success_rejected, 3);
	assert_non_null(strstr(log, "OTLP metrics export: the collector rejected 3 data points: 3 points had a NaN value"));
	free(log);
	server_stop(s);
}

static void test_flush_deadline_and_prompt_free(void **state)
{
	static const struct step steps[] = {
		{ .status = 503, .headers = "Retry-After: 30\r\n" },
		{ .status = 200, .hold = true },
	};
	struct server *s = server_start(steps, 2);
	struct otlp_export_stats st;
	struct otlp_exporter *e;
	struct captured cap;
	uint64_t t0;
	char *log;

	(void)state;
	e = exporter_at(s->port, &cap, 8, 10, 5);
	/* 30 s of Retry-After fits a 60 s budget: the thread sleeps. */
	otlp_exporter__set_retry_policy(e, &(struct otlp_retry_policy){
		.budget_ms = 60000 });
	enqueue_value(e, 1);
	enqueue_value(e, 2);
	assert_int_equal(server_wait(s, 1, 2000), 1);
	t0 = now_ms();
	assert_int_equal(otlp_exporter__flush(e, 200), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 190);
	otlp_exporter__stats(e, &st);
	assert_int_equal(st.queued, 2);
	/* free() cuts the 30 s backoff short. */
	t0 = now_ms();
	otlp_exporter__free(e);
	assert_true(now_ms() - t0 < 500);
	log = capture_end(&cap);
	assert_non_null(strstr(log, "2 requests still queued at exit dropped"));
	free(log);
	server_stop(s);

	/* And a request in flight is aborted too. */
	s = server_start(steps + 1, 1);
	e = exporter_at(s->port, &cap, 8, 10, 5);
	enqueue_value(e, 1);
	assert_int_equal(server_wait(s, 1, 2000), 1);
	assert_int_equal(otlp_exporter__flush(e, 50), -ETIMEDOUT);
	t0 = now_ms();
	otlp_exporter__free(e);
	assert_true(now_ms() - t0 < 1500);
	log = capture_end(&cap);
	assert_non_null(strstr(log, "1 request still queued at exit dropped"));
	free(log);
	server_stop(s);
}

static void test_new_errors(void **state)
{
	struct otel_config c;
	struct otlp_exporter *e;
	struct captured cap;
	char err[256], *log;
	uint8_t *b;

	(void)state;
	/* Nothing enabled. */
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	assert_int_equal(otel_config__load(&c, err, sizeof(err)), 0);
	errno = 0;
	assert_null(otlp_exporter__new(&c, 8));
	assert_int_equal(errno, EINVAL);
	otel_config__free(&c);

	/* gRPC starts like HTTP: nothing is sent before a request comes
	 * (tests/unit/test_otlp_grpc.c exercises it). */
	config_for(&c, 4317);
	assert_int_equal(otel_config__set_protocol(&c, "grpc", err, sizeof(err)), 0);
	capture_begin(&cap);
	e = otlp_exporter__new(&c, 8);
	assert_non_null(e);
	otlp_exporter__free(e);
	log = capture_end(&cap);
	assert_string_equal(log, "");
	free(log);
	otel_config__free(&c);

	/* Zero-length queue. */
	config_for(&c, 4318);
	errno = 0;
	assert_null(otlp_exporter__new(&c, 0));
	assert_int_equal(errno, EINVAL);
	otel_config__free(&c);

	/* Only metrics configured: profiles have nowhere to go. */
	setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:9/v1/metrics", 1);
	assert_int_equal(otel_config__load(&c, err, sizeof(err)), 0);
	unsetenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
	e = otlp_exporter__new(&c, 8);
	assert_non_null(e);
	otel_config__free(&c);
	b = dup_bytes("x", 1);
	assert_int_equal(otlp_exporter__enqueue(e, OTLP_PROFILES, b, 1), -EDESTADDRREQ);
	assert_int_equal(otlp_exporter__enqueue(e, OTLP_METRICS, NULL, 0), -EINVAL);
	assert_int_equal(otlp_exporter__flush(e, 0), 0);
	otlp_exporter__free(e);
	otlp_exporter__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_and_gzip),
		cmocka_unit_test(test_retry_after_values),
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_date_429),
		cmocka_unit_test(test_4xx_not_retried),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_slow_server_timeout),
		cmocka_unit_test(test_queue_overflow_drops_oldest),
		cmocka_unit_test(test_partial_success),
		cmocka_unit_test(test_compressed_answer_bounded),
		cmocka_unit_test(test_flush_deadline_and_prompt_free),
		cmocka_unit_test(test_new_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
