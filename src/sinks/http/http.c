// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * http.c - the agent's endpoint on libmicrohttpd. One internal polling
 * thread answers every request at once from what it has (a rendered
 * /metrics, two atomics for health), so it never waits on the owner's
 * loop beyond the render callback. MHD enforces the limits: a connection
 * cap (more wait in a short listen backlog, then are refused by the
 * kernel), a cap per client address (more are closed at once), an idle
 * timeout per connection (so idle clients free their slot; a client that
 * trickles a byte now and then keeps it, which is what the per-address cap
 * is for), and a small per-connection memory pool that bounds a request's
 * headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/http/http.h"
#include "util/clock.h"

#define CONN_MEMORY	(16 * 1024)	/* request line + headers per connection */

struct http_server {
	struct MHD_Daemon *d;
	struct http_server_opts o;
	pthread_mutex_t render_lock;	/* one render at a time */
	_Atomic uint64_t last_tick_ms;
	_Atomic bool ready;
	int port;
};

int http_addr__parse(const char *s, struct sockaddr_storage *out,
		     socklen_t *len)
{
	char host[64];
	const char *port_s, *colon;
	unsigned long port;
	size_t hn;
	char *end;

	if (!s || !*s || !out || !len)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hn = (size_t)(rb - s - 1);
		if (hn >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hn);
		host[hn] = '\0';
		port_s = rb + 2;
	} else if ((colon = strrchr(s, ':'))) {
		hn = (size_t)(colon - s);
		if (hn >= sizeof(host) || memchr(s, ':', hn))
			return -EINVAL;	/* a bare IPv6 literal needs brackets */
		memcpy(host, s, hn);
		host[hn] = '\0';
		port_s = colon + 1;
	} else {
		host[0] = '\0';
		port_s = s;
	}
	if (*port_s < '0' || *port_s > '9')
		return -EINVAL;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || *end || port > 65535)
		return -EINVAL;
	if (!host[0] || !strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
	}
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code,
			     const char *type, void *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int code,
				  const char *text)
{
	return reply(c, code, "text/plain; charset=utf-8", (void *)text,
		     strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result serve_metrics(struct http_server *s,
				     struct MHD_Connection *c)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	if (!s->o.render_metrics)
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	f = open_memstream(&body, &len);
	if (!f)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "no memory\n");
	pthread_mutex_lock(&s->render_lock);
	err = s->o.render_metrics(s->o.ctx, f);
	pthread_mutex_unlock(&s->render_lock);
	if (fclose(f) && !err)
		err = -EIO;
	if (err) {
		free(body);
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "metrics unavailable\n");
	}
	return reply(c, MHD_HTTP_OK,
		     s->o.metrics_content_type ? s->o.metrics_content_type :
		     "text/plain; charset=utf-8", body, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct http_server *s = cls;
	uint64_t age;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	/* answered on the first call: no request body is ever read */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
	if (!strcmp(url, "/metrics"))
		return serve_metrics(s, c);
	if (!strcmp(url, "/healthz")) {
		uint64_t last = atomic_load(&s->last_tick_ms), now = clock__mono_ms();

		age = now > last ? now - last : 0;
		return age <= s->o.health_timeout_ms ?
		       reply_text(c, MHD_HTTP_OK, "ok\n") :
		       reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "loop stalled\n");
	}
	if (!strcmp(url, "/readyz"))
		return atomic_load(&s->ready) ?
		       reply_text(c, MHD_HTTP_OK, "ready\n") :
		       reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

struct http_server *http_server__start(const struct http_server_opts *o)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	unsigned int flags;
	socklen_t sl;
	int err;

	if (!o) {
		errno = EINVAL;
		return NULL;
	}
	err = http_addr__parse(o->listen ? o->listen : HTTP_DEFAULT_LISTEN, &ss, &sl);
	if (err) {
		errno = -err;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->o = *o;
	if (!s->o.max_conns)
		s->o.max_conns = HTTP_DEFAULT_MAX_CONNS;
	if (!s->o.max_conns_per_ip)
		s->o.max_conns_per_ip = s->o.max_conns / 4 > 2 ? s->o.max_conns / 4 : 2;
	if (!s->o.conn_timeout_s)
		s->o.conn_timeout_s = HTTP_DEFAULT_CONN_TIMEOUT_S;
	if (!s->o.health_timeout_ms)
		s->o.health_timeout_ms = HTTP_DEFAULT_HEALTH_TIMEOUT_MS;
	pthread_mutex_init(&s->render_lock, NULL);
	atomic_store(&s->last_tick_ms, clock__mono_ms());
	atomic_store(&s->ready, false);
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
	errno = 0;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, s->o.max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->o.max_conns_per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, s->o.conn_timeout_s,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
				MHD_OPTION_LISTEN_BACKLOG_SIZE, s->o.max_conns,
				MHD_OPTION_END);
	if (!s->d) {
		/* MHD returns no reason; errno is usually bind()'s */
		err = errno ? errno : EADDRNOTAVAIL;
		pthread_mutex_destroy(&s->render_lock);
		free(s);
		errno = err;
		return NULL;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s;
}

int http_server__port(const struct http_server *s)
{
	return s ? s->port : -EINVAL;
}

void http_server__tick(struct http_server *s)
{
	if (s)
		atomic_store(&s->last_tick_ms, clock__mono_ms());
}

void http_server__set_ready(struct http_server *s, bool ready)
{
	if (s)
		atomic_store(&s->ready, ready);
}

void http_server__stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->render_lock);
	free(s);
}
