/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_grpc.h - OTLP/gRPC without a gRPC library: the wire pieces of
 * gRPC over HTTP/2 the transport (otlp_grpc_transport in
 * otlp_transport.h) is built from, exposed for the unit tests and the
 * fuzzer. Everything parsed here comes from a collector and is bounded:
 * header and trailer values are cut to fixed sizes, a message is at most
 * the caller's max bytes inflated or not, a RetryInfo delay at most a day.
 */
#ifndef MEMTEL_OTLP_GRPC_H
#define MEMTEL_OTLP_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* google.rpc.Code, the gRPC status codes. */
enum otlp_grpc_code {
	OTLP_GRPC_OK = 0,
	OTLP_GRPC_CANCELLED = 1,
	OTLP_GRPC_UNKNOWN = 2,
	OTLP_GRPC_INVALID_ARGUMENT = 3,
	OTLP_GRPC_DEADLINE_EXCEEDED = 4,
	OTLP_GRPC_NOT_FOUND = 5,
	OTLP_GRPC_ALREADY_EXISTS = 6,
	OTLP_GRPC_PERMISSION_DENIED = 7,
	OTLP_GRPC_RESOURCE_EXHAUSTED = 8,
	OTLP_GRPC_FAILED_PRECONDITION = 9,
	OTLP_GRPC_ABORTED = 10,
	OTLP_GRPC_OUT_OF_RANGE = 11,
	OTLP_GRPC_UNIMPLEMENTED = 12,
	OTLP_GRPC_INTERNAL = 13,
	OTLP_GRPC_UNAVAILABLE = 14,
	OTLP_GRPC_DATA_LOSS = 15,
	OTLP_GRPC_UNAUTHENTICATED = 16,
};

/* Bytes before each gRPC message: compressed flag, 32-bit BE length. */
#define OTLP_GRPC_FRAME_HDR 5
/* grpc-message and grpc-status-details-bin values kept; longer ones are
 * cut (the message) or ignored (the details). */
#define OTLP_GRPC_MESSAGE_MAX 512
#define OTLP_GRPC_DETAILS_MAX 4096

/* "UNAVAILABLE" for 14; "UNKNOWN" for a code out of range. */
const char *otlp_grpc_code_name(int code);
/* Whether the OTLP spec has code retried; RESOURCE_EXHAUSTED only if the
 * status carried a google.rpc.RetryInfo (retry_info). */
bool otlp_grpc_retryable(int code, bool retry_info);
/* The grpc-timeout value for ms ("250m", "100000S"): at most 8 digits,
 * rounded up. snprintf()'s result, or -EINVAL if ms <= 0. */
int otlp_grpc_timeout(int ms, char *buf, size_t len);
/* Fill hdr for a message of len bytes. */
void otlp_grpc_frame_header(uint8_t hdr[OTLP_GRPC_FRAME_HDR], bool compressed,
			    uint32_t len);
/* *out (malloc'ed, *out_len bytes) = header + msg. -E2BIG past 4 GiB. */
int otlp_grpc_frame(const uint8_t *msg, size_t len, bool compressed,
		    uint8_t **out, size_t *out_len);
/* The one message of a unary answer's body buf (msg points into buf).
 * -ENODATA if len is 0, -EBADMSG if buf is not exactly one message. */
int otlp_grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg,
		      size_t *msg_len, bool *compressed);
/* Inflate a gzip or zlib ("deflate") stream into a malloc'ed *out that
 * grows as needed up to max bytes: -E2BIG past max (a zip bomb costs
 * max bytes, no more), -EBADMSG if in is not a whole valid stream,
 * -ENOMEM. */
int otlp_grpc_inflate(const uint8_t *in, size_t len, size_t max,
		      uint8_t **out, size_t *out_len);
/* The message of a unary answer's framed body, inflated per encoding
 * (grpc-encoding: identity, gzip, deflate) when flagged compressed, into
 * a new malloc'ed *out of at most max bytes. -ENODATA for an empty body,
 * -EBADMSG, -EPROTO for an unknown encoding, -E2BIG, -ENOMEM. */
int otlp_grpc_message(const uint8_t *body, size_t len, const char *encoding,
		      size_t max, uint8_t **out, size_t *out_len);
/* RetryInfo.retry_delay in ms (capped at a day) from a
 * grpc-status-details-bin value (a base64 google.rpc.Status); 0 if the
 * RetryInfo has no delay, -1 if there is none or the value is malformed. */
int otlp_grpc_retry_delay_ms(const char *details_bin);

/* What the headers and trailers of one gRPC answer said. */
struct otlp_grpc_answer {
	int code;			/* grpc-status, -1 if none */
	bool grpc_ctype;		/* content-type: application/grpc... */
	bool details_cut;		/* grpc-status-details-bin too long */
	char encoding[32];		/* grpc-encoding */
	char message[OTLP_GRPC_MESSAGE_MAX]; /* grpc-message, still encoded */
	char details[OTLP_GRPC_DETAILS_MAX]; /* grpc-status-details-bin */
};

void otlp_grpc_answer__init(struct otlp_grpc_answer *r);
/* One header or trailer line ("name: value\r\n", len bytes, not
 * NUL-terminated); a later value (a trailer) wins. */
void otlp_grpc_answer__header(struct otlp_grpc_answer *r, const char *line,
			      size_t len);
/* Decode grpc-message's percent-encoding in place; a malformed escape is
 * kept as it is (gRPC: never fail a call over its message). */
void otlp_grpc_message_decode(char *s);

#endif /* MEMTEL_OTLP_GRPC_H */
