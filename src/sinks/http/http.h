/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * http.h - the node agent's HTTP endpoint (libmicrohttpd, its own polling
 * thread): /metrics from the owner's render callback, /healthz (200 while
 * the owner's loop has ticked recently, for a liveness probe), /readyz
 * (200 once the owner says BPF is attached and the first scan is done, for
 * a readiness probe), 404 for anything else, GET and HEAD only. Bounded in
 * connections (in all and per client address), request memory and idle
 * time, so idle or slow clients (slowloris) cannot pin it: one address
 * trickling bytes holds at most its own share of the slots, and the
 * kubelet's probes and Prometheus come from other addresses. Bound to
 * loopback unless told otherwise.
 */
#ifndef MEMTEL_SINKS_HTTP_H
#define MEMTEL_SINKS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define HTTP_DEFAULT_LISTEN	"127.0.0.1:9464"
#define HTTP_DEFAULT_MAX_CONNS	32
#define HTTP_DEFAULT_CONN_TIMEOUT_S	10
#define HTTP_DEFAULT_HEALTH_TIMEOUT_MS	30000

/* "ADDR:PORT" into a socket address. ADDR is an IPv4 literal, an IPv6
 * literal in brackets ([::1]:9464) or "localhost"; "PORT" alone or ":PORT"
 * mean 127.0.0.1 (every interface has to be asked for: 0.0.0.0 or [::]).
 * Port 0 picks a free one. No name resolution. 0 or -EINVAL. */
int http_addr__parse(const char *s, struct sockaddr_storage *out,
		     socklen_t *len);

struct http_server_opts {
	const char *listen;		/* NULL: HTTP_DEFAULT_LISTEN */
	unsigned int max_conns;		/* 0: HTTP_DEFAULT_MAX_CONNS */
	unsigned int max_conns_per_ip;	/* 0: max_conns / 4, at least 2 */
	unsigned int conn_timeout_s;	/* 0: HTTP_DEFAULT_CONN_TIMEOUT_S */
	unsigned int health_timeout_ms;	/* 0: HTTP_DEFAULT_HEALTH_TIMEOUT_MS */
	/* Write /metrics to out; called from the server's thread, one call
	 * at a time. 0 or -errno (answered 500). */
	int (*render_metrics)(void *ctx, FILE *out);
	void *ctx;
	const char *metrics_content_type;	/* NULL: text/plain */
};

struct http_server;

/* Bind and start serving. The start counts as the first tick (a slow BPF
 * attach is not killed by the liveness probe before health_timeout_ms);
 * not ready until http_server__set_ready(s, true). NULL and errno (EINVAL
 * for the address, EADDRINUSE when the port is taken). */
struct http_server *http_server__start(const struct http_server_opts *o);
/* The bound port (the chosen one when the address said port 0). */
int http_server__port(const struct http_server *s);
/* The owner's loop is alive (thread-safe, cheap). */
void http_server__tick(struct http_server *s);
/* Ready (attached, first scan done) or not (before, or after a failure). */
void http_server__set_ready(struct http_server *s, bool ready);
/* Stop the thread and close the socket. NULL-safe. */
void http_server__stop(struct http_server *s);

#endif /* MEMTEL_SINKS_HTTP_H */
