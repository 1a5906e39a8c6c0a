/* tern-switch's control API: HTTP/JSON on a UNIX socket (core/httpd.h).
 *
 *   GET    /                 the switch: version, workers, options
 *   GET    /ports            every port: spec, state, totals
 *   POST   /ports            add a port (body: spec.h's JSON)      201
 *   GET    /ports/NAME       one port, with per-queue counters
 *   DELETE /ports/NAME       remove it
 *   GET    /stats            per-port and per-queue counters of all ports
 *   GET    /mac              the MAC table: entries, size, counters
 *   DELETE /mac              flush it
 *   GET    /lcores           each worker: its RX queues, busy and idle
 *                            cycles, load, packets, cycles per packet
 * Counters: rx_packets, rx_bytes, tx_packets, tx_bytes and drops by cause
 * (frame.h). Errors: 400 bad request (the body says what), 404 no such
 * port or path, 405 wrong method, 409 name or socket taken, 500 DPDK
 * refused; every error body is {"error": "..."}. */
#ifndef TERN_NET_SWITCH_CTL_H
#define TERN_NET_SWITCH_CTL_H

#include "net/switch/sw.h"

#include <jansson.h>

/* An httpd_handler; OPAQUE is the struct sw. */
int ctl_handle(void *opaque, const char *method, const char *path,
	       json_t *body, json_t **reply);

#endif
