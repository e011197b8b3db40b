/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's ZAP handler (RFC 27/ZAP): under security = curve, libzmq asks
 * it about every connection's client key during the CURVE handshake, and
 * it admits only the keys of the allow-list -- the NAME.pub files of
 * [cluster] allowed_clients, and the public keys of the cluster's nodes
 * (for PEER_READ, REPLICATE, DRAIN).  An admitted connection's messages
 * carry the key's name as their User-Id (zmq_msg_gets): the client key's
 * NAME, or "node:NAME" for a node ("node:*" for the key pair of
 * [node-defaults], which nodes registered in etcd share).
 *
 * Threads: the handler runs on a thread of its own, so that a slow answer
 * never stalls the event loop and the event loop never delays a
 * handshake.  The allow-list is swapped under z->lock by cn_zap_load
 * (SIGHUP) and read under it by the handler and cn_zap_admits.
 */
#ifndef CN_ZAP_H
#define CN_ZAP_H

#include <stddef.h>

#include "cachenode/metrics.h"
#include "common/config.h"

typedef struct cn_zap cn_zap_t;

#define CN_ZAP_NODE_PREFIX "node:"

/*
 * Start the handler in zctx (borrowed; it must be terminated only after
 * cn_zap_destroy, or terminating it ends the handler: see there) with the
 * allow-list of cfg (borrowed).  m (borrowed, outlives z) counts the
 * refusals.  Bind it before any CURVE socket of zctx binds.  NULL with a
 * message in err when the list cannot be read.
 */
cn_zap_t *cn_zap_new(void *zctx, const sl_config_t *cfg, cn_metrics_t *m,
		     char *err, size_t errlen);

/*
 * Replace the allow-list with cfg's (borrowed).  Returns the number of
 * keys the new list lacks that the old one had (the caller cuts their
 * connections), or -errno with err, the old list kept.
 */
int cn_zap_load(cn_zap_t *z, const sl_config_t *cfg, char *err, size_t errlen);

/* Whether user (a User-Id the handler gave; borrowed) is on the list
 * now.  Any thread. */
int cn_zap_admits(cn_zap_t *z, const char *user);

/* Stop the handler.  Call after the context's other sockets are closed
 * and before zmq_ctx_term, or from after it (the handler sees ETERM and
 * closes its socket, which lets the termination finish).  Accepts NULL;
 * clears *zp. */
void cn_zap_destroy(cn_zap_t **zp);

#endif
