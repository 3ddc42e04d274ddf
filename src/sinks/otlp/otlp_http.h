/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_http.h - OTLP/HTTP (binary protobuf over HTTP/1.1 or 2): the
 * transport (otlp_http_transport in otlp_transport.h) and the parser of
 * the one answer header a collector uses to steer us, exposed for tests
 * and the fuzzer.
 */
#ifndef MEMTEL_OTLP_HTTP_H
#define MEMTEL_OTLP_HTTP_H

#include <time.h>

/* RFC 9110 Retry-After value v (delay-seconds or an HTTP-date, relative to
 * now) in ms, at most a day; -1 if v is not one of those. */
int otlp_http_retry_after_ms(const char *v, time_t now);

#endif /* MEMTEL_OTLP_HTTP_H */
