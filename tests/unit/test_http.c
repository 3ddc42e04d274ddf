// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_http.c - sinks/http on a real loopback socket, fetched with libcurl:
 * listen-address parsing; /metrics from the render callback (and 500 when
 * it fails); /healthz following the owner's ticks; /readyz before ready,
 * ready and after a failure; 404, 405 and HEAD; IPv6 loopback; and idle
 * (slowloris) connections that fill the connection cap are timed out so
 * the endpoint answers again; and sinks/prom's text served as /metrics
 * passes promtool check metrics.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sinks/http/http.h"
#include "sinks/prom/prom.h"

static void test_addr_parse(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	char buf[64];
	socklen_t len;

	(void)state;
	assert_int_equal(http_addr__parse("9464", &ss, &len), 0);
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 9464);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(http_addr__parse(":9464", &ss, &len), 0);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(http_addr__parse("localhost:80", &ss, &len), 0);
	assert_int_equal(ntohl(a4->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(http_addr__parse("0.0.0.0:0", &ss, &len), 0);
	assert_int_equal(a4->sin_addr.s_addr, 0);
	assert_int_equal(len, sizeof(*a4));
	assert_int_equal(http_addr__parse("10.1.2.3:65535", &ss, &len), 0);
	inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.2.3");
	assert_int_equal(ntohs(a4->sin_port), 65535);
	assert_int_equal(http_addr__parse("[::1]:9464", &ss, &len), 0);
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(len, sizeof(*a6));
	assert_int_equal(ntohs(a6->sin6_port), 9464);
	assert_true(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
	assert_int_equal(http_addr__parse("[::]:1", &ss, &len), 0);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr));

	static const char *const bad[] = {
		"", "65536", "-1", "1.2.3.4:", "1.2.3.4:x", "1.2.3.4:80x",
		"::1:80", "[::1]", "[::1]80", "[1.2.3.4]:80", "1.2.3:80",
		"example.com:80", "1.2.3.4:+80", "1.2.3.4: 80",
		"[::1]:99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_addr__parse(bad[i], &ss, &len) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(http_addr__parse(NULL, &ss, &len), -EINVAL);
}

/* --- a live server ------------------------------------------------------ */

struct owner {
	int renders;
	int fail;
};

static int render(void *ctx, FILE *out)
{
	struct owner *o = ctx;

	if (o->fail)
		return -EIO;
	o->renders++;
	fprintf(out, "# TYPE up gauge\nup %d\n", o->renders);
	return 0;
}

struct body {
	char buf[4096];
	size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct body *b = ud;
	size_t k = sz * n;

	if (b->len + k >= sizeof(b->buf))
		return 0;
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = '\0';
	return k;
}

static long fetch_timeout_ms = 3000;

/* code of METHOD host:port/path (-1 when no answer); body into b. */
static long fetch(const char *host, int port, const char *path,
		  const char *method, struct body *b, char *ctype, size_t csz)
{
	char url[256];
	struct body dummy;
	long code = -1;
	char *ct = NULL;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	b = b ? b : &dummy;
	b->len = 0;
	b->buf[0] = '\0';
	snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, fetch_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (ctype && curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(ctype, csz, "%s", ct);
	}
	curl_easy_cleanup(c);
	return code;
}

static long get(int port, const char *path, struct body *b)
{
	return fetch("127.0.0.1", port, path, "GET", b, NULL, 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_endpoints(void **state)
{
	struct owner own = { 0 };
	struct http_server_opts o = {
		.listen = "127.0.0.1:0",
		.health_timeout_ms = 400,
		.render_metrics = render,
		.ctx = &own,
		.metrics_content_type = "text/plain; version=0.0.4; charset=utf-8",
	};
	struct http_server *s;
	struct body b;
	char ct[128] = "";
	int port;

	(void)state;
	s = http_server__start(&o);
	assert_non_null(s);
	port = http_server__port(s);
	assert_true(port > 0 && port != 9464);

	assert_int_equal(fetch("127.0.0.1", port, "/metrics", "GET", &b, ct, sizeof(ct)), 200);
	assert_string_equal(b.buf, "# TYPE up gauge\nup 1\n");
	assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(get(port, "/metrics", &b), 200);
	assert_string_equal(b.buf, "# TYPE up gauge\nup 2\n");	/* rendered anew */
	/* HEAD: headers only */
	assert_int_equal(fetch("127.0.0.1", port, "/metrics", "HEAD", &b, NULL, 0), 200);
	assert_int_equal(b.len, 0);
	own.fail = 1;
	assert_int_equal(get(port, "/metrics", &b), 500);
	own.fail = 0;

	/* readiness: not before the owner says so, not after a failure */
	assert_int_equal(get(port, "/readyz", &b), 503);
	http_server__set_ready(s, true);
	assert_int_equal(get(port, "/readyz", &b), 200);
	assert_string_equal(b.buf, "ready\n");
	http_server__set_ready(s, false);
	assert_int_equal(get(port, "/readyz", &b), 503);

	/* liveness: the start counts as a tick; a stalled loop is 503 */
	assert_int_equal(get(port, "/healthz", &b), 200);
	assert_string_equal(b.buf, "ok\n");
	sleep_ms(600);
	assert_int_equal(get(port, "/healthz", &b), 503);
	http_server__tick(s);
	assert_int_equal(get(port, "/healthz", &b), 200);

	assert_int_equal(get(port, "/", &b), 404);
	assert_int_equal(get(port, "/metrics/", &b), 404);
	assert_int_equal(get(port, "/healthzz", &b), 404);
	assert_int_equal(fetch("127.0.0.1", port, "/metrics", "POST", &b, NULL, 0), 405);
	assert_int_equal(fetch("127.0.0.1", port, "/readyz", "DELETE", &b, NULL, 0), 405);
	http_server__stop(s);
	/* stopped: the port no longer answers */
	assert_int_equal(get(port, "/healthz", &b), -1);
}

static void test_ipv6_loopback(void **state)
{
	struct http_server_opts o = { .listen = "[::1]:0" };
	struct http_server *s;
	int port;

	(void)state;
	s = http_server__start(&o);
	if (!s)
		fail_msg("cannot listen on [::1]: %s", strerror(errno));
	port = http_server__port(s);
	assert_true(port > 0);
	assert_int_equal(fetch("[::1]", port, "/healthz", "GET", NULL, NULL, 0), 200);
	/* no render callback: no /metrics */
	assert_int_equal(fetch("[::1]", port, "/metrics", "GET", NULL, NULL, 0), 404);
	/* not on IPv4 */
	assert_int_equal(get(port, "/healthz", NULL), -1);
	http_server__stop(s);
}

static void test_bad_listen(void **state)
{
	struct http_server_opts o = { .listen = "example.com:80" };

	(void)state;
	assert_null(http_server__start(&o));
	assert_int_equal(errno, EINVAL);
	assert_null(http_server__start(NULL));
}

static void test_port_in_use(void **state)
{
	struct http_server_opts o = { .listen = "127.0.0.1:0" };
	struct http_server *a, *b;
	char addr[32];

	(void)state;
	a = http_server__start(&o);
	assert_non_null(a);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", http_server__port(a));
	o.listen = addr;
	b = http_server__start(&o);
	assert_null(b);
	assert_int_equal(errno, EADDRINUSE);
	http_server__stop(a);
}

/* Open a TCP connection from src (0: any) and send half a request line,
 * as slowloris does. */
static int idle_client_from(int port, uint32_t src)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in b = { .sin_family = AF_INET };
	struct timeval tv = { 0, 500000 };	/* reads give up: no false pass */
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (src) {
		b.sin_addr.s_addr = htonl(src);
		assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, "GET /metr", 9), 9);
	return fd;
}

/* A loopback server with these limits and four idle clients from src
 * (0: 127.0.0.1), given 200 ms to be seen. */
static struct http_server *start_with_idle(unsigned int max, unsigned int per_ip,
					   unsigned int timeout_s, uint32_t src,
					   int fds[4], int *port)
{
	struct http_server_opts o = {
		.listen = "127.0.0.1:0", .max_conns = max,
		.max_conns_per_ip = per_ip, .conn_timeout_s = timeout_s,
	};
	struct http_server *s = http_server__start(&o);
	int i;

	assert_non_null(s);
	*port = http_server__port(s);
	for (i = 0; i < 4; i++)
		fds[i] = idle_client_from(*port, src);
	sleep_ms(200);
	return s;
}

static void test_slowloris(void **state)
{
	struct http_server *s;
	int fds[4], port, i;
	char c;

	(void)state;
	s = start_with_idle(4, 8, 1, 0, fds, &port);
	/* the cap is full of idle clients: a new one waits in the backlog
	 * with no answer now ... */
	fetch_timeout_ms = 300;
	assert_int_equal(get(port, "/healthz", NULL), -1);
	fetch_timeout_ms = 3000;
	/* ... but they are dropped after the connection timeout */
	sleep_ms(1800);
	for (i = 0; i < 4; i++) {
		assert_int_equal(read(fds[i], &c, 1), 0);	/* closed by the server */
		close(fds[i]);
	}
	assert_int_equal(get(port, "/healthz", NULL), 200);
	http_server__stop(s);
}

/* One address trickling bytes keeps its connections open past any idle
 * timeout; the per-address cap keeps it from taking every slot. */
static void test_per_address_cap(void **state)
{
	struct http_server *s;
	int fds[4], port, i;
	char c;

	(void)state;
	s = start_with_idle(8, 2, 30, 0x7f000002 /* 127.0.0.2 */, fds, &port);
	/* two are held, the others closed at once */
	for (i = 0; i < 2; i++) {
		assert_int_equal(read(fds[i], &c, 1), -1);	/* still open */
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	}
	for (i = 2; i < 4; i++) {
		ssize_t r = read(fds[i], &c, 1);

		/* closed, or reset by the close of an unread request */
		if (!(r == 0 || (r < 0 && errno == ECONNRESET)))
			fail_msg("connection %d from the same address: read %zd (%s)",
				 i, r, strerror(errno));
	}
	/* another address is served at once */
	fetch_timeout_ms = 500;
	assert_int_equal(get(port, "/healthz", NULL), 200);
	fetch_timeout_ms = 3000;
	for (i = 0; i < 4; i++)
		close(fds[i]);
	http_server__stop(s);
}

/* The two sinks together, as the agent will use them: /metrics rendered by
 * sinks/prom, fetched over HTTP, judged by promtool. */
static int render_prom(void *ctx, FILE *out)
{
	const struct prom_label l[] = { { "k8s.pod.uid", "6f1b3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2c" },
					{ "reason", "ring \"full\"" } };
	struct prom_writer *w = prom_writer__new(out);
	int err;

	(void)ctx;
	if (!w)
		return -errno;
	err = prom_writer__family(w, "memtel.events.dropped", "{event}", PROM_COUNTER,
				  "Events dropped by reason");
	err = err ? err : prom_writer__sample(w, l, 2, NULL, 0, 3);
	err = err ? err : prom_writer__family(w, "memtel.agent.rss", "By", PROM_GAUGE,
					      "The agent's resident set size");
	err = err ? err : prom_writer__sample(w, NULL, 0, NULL, 0, 12345678);
	err = err ? err : prom_writer__finish(w);
	prom_writer__free(w);
	return err;
}

static void test_metrics_promtool(void **state)
{
	struct http_server_opts o = {
		.listen = "127.0.0.1:0", .render_metrics = render_prom,
		.metrics_content_type = PROM_CONTENT_TYPE,
	};
	struct http_server *s;
	struct body b;
	char path[] = "/tmp/test_http.XXXXXX", cmd[128];
	int fd, st;

	(void)state;
	s = http_server__start(&o);
	assert_non_null(s);
	assert_int_equal(get(http_server__port(s), "/metrics", &b), 200);
	http_server__stop(s);
	assert_non_null(strstr(b.buf, "memtel_events_dropped_total{k8s_pod_uid="
			       "\"6f1b3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2c\",reason=\"ring \\\"full\\\"\"} 3\n"));
	assert_non_null(strstr(b.buf, "memtel_agent_rss_bytes 1.2345678e+07\n"));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.buf, b.len), (ssize_t)b.len);
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	st = system(cmd);
	unlink(path);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("promtool check metrics rejected /metrics:\n%s", b.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_ipv6_loopback),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_slowloris),
		cmocka_unit_test(test_per_address_cap),
		cmocka_unit_test(test_metrics_promtool),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
