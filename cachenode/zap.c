/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ZAP handler (see zap.h).  libzmq sends it, for each CURVE handshake,
 * a request of seven frames (version, request id, domain, address, routing
 * id, mechanism, and the client's long-term public key, 32 bytes) and
 * waits for the reply (version, request id, status "200" or "400", a text,
 * the user id, metadata) before it completes or fails the handshake.  The
 * user id is what every message of the connection carries as "User-Id".
 *
 * The list is a plain array, searched linearly: it holds the cluster's
 * client keys and nodes (tens to a few thousand), and the handler runs
 * once per connection, not per message; cn_zap_admits runs per request
 * and compares names.
 */
#include "cachenode/zap.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"

#define ZAP_ENDPOINT  "inproc://zeromq.zap.01"
#define ZAP_FRAMES    7	    /* of a request */
#define ZAP_FRAME_MAX 256   /* bytes of one request frame we look at */
#define ZAP_POLL_MS   100   /* how often the thread looks for a stop */
#define ZAP_KEYS_MAX  65536 /* keys on one list */
#define USER_MAX      (sizeof(CN_ZAP_NODE_PREFIX) + SL_NAME_MAX)

typedef struct zkey {
	char user[USER_MAX + 1];
	uint8_t key[32];
} zkey_t;

typedef struct zlist {
	size_t n;
	zkey_t *v;
} zlist_t;

struct cn_zap {
	void *sock; /* the REP socket: the handler thread's */
	pthread_t thread;
	int started;
	_Atomic int stop;
	cn_metrics_t *m;
	pthread_mutex_t lock;
	zlist_t list; /* protected by lock */
	/* The request being answered: the handler thread's. */
	uint8_t f[ZAP_FRAMES][ZAP_FRAME_MAX];
	size_t lens[ZAP_FRAMES];
};

static void list_free(zlist_t *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int list_add(zlist_t *l, const char *user, const char *z85, char *err,
		    size_t errlen, const char *path)
{
	zkey_t *k;

	if (l->n == ZAP_KEYS_MAX) {
		snprintf(err, errlen, "%s: more than %d keys", path,
			 ZAP_KEYS_MAX);
		return -E2BIG;
	}
	l->v = sl_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	k = &l->v[l->n++];
	sl_strlcpy(k->user, user, sizeof(k->user));
	zmq_z85_decode(k->key, z85); /* checked by the reader */
	return 0;
}

/* The NAME.pub files of dir into l: 0 or -errno with err. */
static int load_dir(zlist_t *l, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		rc = -errno;
		snprintf(err, errlen, "allowed_clients %s: %s", dir,
			 strerror(-rc));
		return rc;
	}
	while (rc == 0 && (e = readdir(d))) {
		char name[SL_NAME_MAX + 1], path[4096], z85[SL_KEY_Z85_LEN + 1];
		size_t len = strlen(e->d_name);

		if (len <= 4 || strcmp(e->d_name + len - 4, ".pub") != 0)
			continue;
		if (len - 4 > SL_NAME_MAX) {
			snprintf(err, errlen, "%s/%s: the name is too long",
				 dir, e->d_name);
			rc = -EINVAL;
			break;
		}
		memcpy(name, e->d_name, len - 4);
		name[len - 4] = '\0';
		if (!sl_name_valid(name)) {
			snprintf(err, errlen,
				 "%s/%s: a key name is 1 to %d of A-Z a-z "
				 "0-9 . _ -",
				 dir, e->d_name, SL_NAME_MAX);
			rc = -EINVAL;
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = sl_keys_read_public(path, z85, err, errlen);
		if (rc == 0)
			rc = list_add(l, name, z85, err, errlen, dir);
	}
	closedir(d);
	return rc;
}

/* cfg's whole list into l: 0 or -errno with err. */
static int load_list(zlist_t *l, const sl_config_t *cfg, char *err,
		     size_t errlen)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < cfg->n_nodes; i++) {
		char z85[SL_KEY_Z85_LEN + 1], user[USER_MAX + 1];

		if (!cfg->nodes[i].public_key)
			continue;
		snprintf(user, sizeof(user), CN_ZAP_NODE_PREFIX "%s",
			 cfg->nodes[i].name);
		rc = sl_keys_read_public(cfg->nodes[i].public_key, z85, err,
					 errlen);
		if (rc == 0)
			rc = list_add(l, user, z85, err, errlen, cfg->path);
	}
	if (rc == 0 && cfg->has_node_defaults &&
	    cfg->node_defaults.public_key) {
		char z85[SL_KEY_Z85_LEN + 1];

		rc = sl_keys_read_public(cfg->node_defaults.public_key, z85,
					 err, errlen);
		if (rc == 0)
			rc = list_add(l, CN_ZAP_NODE_PREFIX "*", z85, err,
				      errlen, cfg->path);
	}
	if (rc == 0 && cfg->allowed_clients)
		rc = load_dir(l, cfg->allowed_clients, err, errlen);
	if (rc < 0)
		list_free(l);
	return rc;
}

/* The user of key on z's list into user (NUL-terminated), or 0. */
static int lookup(cn_zap_t *z, const uint8_t *key, char *user, size_t cap)
{
	int found = 0;

	pthread_mutex_lock(&z->lock);
	for (size_t i = 0; i < z->list.n && !found; i++) {
		if (memcmp(z->list.v[i].key, key, 32) == 0) {
			sl_strlcpy(user, z->list.v[i].user, cap);
			found = 1;
		}
	}
	pthread_mutex_unlock(&z->lock);
	return found;
}

/* Send one reply frame; more: not the last. */
static void send_frame(void *sock, const void *p, size_t len, int more)
{
	zmq_send(sock, p, len, more ? ZMQ_SNDMORE : 0);
}

/* Answer one request of n frames (read into z->f and z->lens). */
static void answer(cn_zap_t *z, size_t n)
{
	uint8_t(*f)[ZAP_FRAME_MAX] = z->f;
	const size_t *lens = z->lens;
	char user[USER_MAX + 1] = "";
	int ok = n == ZAP_FRAMES && lens[0] == 3 && memcmp(f[0], "1.0", 3) == 0;
	int admitted = 0;

	if (ok && lens[5] == 5 && memcmp(f[5], "CURVE", 5) == 0 &&
	    lens[6] == 32)
		admitted = lookup(z, f[6], user, sizeof(user));
	send_frame(z->sock, "1.0", 3, 1);
	send_frame(z->sock, f[1], ok ? lens[1] : 0, 1);
	send_frame(z->sock, admitted ? "200" : "400", 3, 1);
	send_frame(z->sock, admitted ? "OK" : "key not allowed",
		   admitted ? 2 : 15, 1);
	send_frame(z->sock, user, strlen(user), 1);
	send_frame(z->sock, "", 0, 0);
	if (!admitted) {
		char z85[SL_KEY_Z85_LEN + 1] = "?";

		atomic_fetch_add(&z->m->auth_refused, 1);
		if (ok && lens[6] == 32)
			zmq_z85_encode(z85, f[6], 32);
		sl_log_ratelimited(SL_LOG_WARNING,
				   "refused a connection from %.*s: key %s is "
				   "not allowed",
				   ok ? (int)SL_MIN(lens[3], (size_t)64) : 1,
				   ok ? (const char *)f[3] : "?", z85);
	}
}

static void *zap_main(void *arg)
{
	cn_zap_t *z = arg;

	while (!atomic_load(&z->stop)) {
		zmq_pollitem_t it = {z->sock, 0, ZMQ_POLLIN, 0};
		size_t n = 0;
		int more = 1;

		if (zmq_poll(&it, 1, ZAP_POLL_MS) <= 0)
			continue;
		/* Every frame is read, those past ZAP_FRAMES dropped, so
		 * that a request never leaves the socket out of step. */
		while (more) {
			int r = zmq_recv(z->sock,
					 n < ZAP_FRAMES ? z->f[n] : z->f[0],
					 ZAP_FRAME_MAX, 0);
			size_t sz = sizeof(more);

			if (r < 0)
				break;
			if (n < ZAP_FRAMES)
				z->lens[n] = SL_MIN((size_t)r,
						    (size_t)ZAP_FRAME_MAX);
			n++;
			if (zmq_getsockopt(z->sock, ZMQ_RCVMORE, &more, &sz) <
			    0)
				more = 0;
		}
		answer(z, SL_MIN(n, (size_t)ZAP_FRAMES + 1));
	}
	zmq_close(z->sock);
	return NULL;
}

cn_zap_t *cn_zap_new(void *zctx, const sl_config_t *cfg, cn_metrics_t *m,
		     char *err, size_t errlen)
{
	cn_zap_t *z = sl_xcalloc(1, sizeof(*z));
	int linger = 0;

	pthread_mutex_init(&z->lock, NULL);
	z->m = m;
	if (!cfg->allowed_clients) {
		snprintf(err, errlen,
			 "%s: security = curve needs [cluster] "
			 "allowed_clients (a directory of NAME.pub files)",
			 cfg->path);
		goto out_err;
	}
	if (load_list(&z->list, cfg, err, errlen) < 0)
		goto out_err;
	z->sock = zmq_socket(zctx, ZMQ_REP);
	if (!z->sock ||
	    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_bind(z->sock, ZAP_ENDPOINT) < 0) {
		snprintf(err, errlen, "ZAP handler: %s",
			 zmq_strerror(zmq_errno()));
		goto out_err;
	}
	if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
		snprintf(err, errlen, "ZAP handler: cannot start its thread");
		goto out_err;
	}
	z->started = 1;
	sl_notice("CURVE: %zu keys allowed (clients from %s and nodes)",
		  z->list.n, cfg->allowed_clients);
	return z;
out_err:
	cn_zap_destroy(&z);
	return NULL;
}

int cn_zap_load(cn_zap_t *z, const sl_config_t *cfg, char *err, size_t errlen)
{
	zlist_t fresh = {0}, old;
	int removed = 0, rc;

	if (!cfg->allowed_clients) {
		snprintf(err, errlen, "security = curve needs allowed_clients");
		return -EINVAL;
	}
	rc = load_list(&fresh, cfg, err, errlen);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&z->lock);
	old = z->list;
	z->list = fresh;
	pthread_mutex_unlock(&z->lock);
	for (size_t i = 0; i < old.n; i++) {
		size_t k;

		for (k = 0; k < fresh.n; k++)
			if (memcmp(old.v[i].key, fresh.v[k].key, 32) == 0 &&
			    strcmp(old.v[i].user, fresh.v[k].user) == 0)
				break;
		removed += k == fresh.n;
	}
	list_free(&old);
	return removed;
}

int cn_zap_admits(cn_zap_t *z, const char *user)
{
	int found = 0;

	pthread_mutex_lock(&z->lock);
	for (size_t i = 0; i < z->list.n && !found; i++)
		found = strcmp(z->list.v[i].user, user) == 0;
	pthread_mutex_unlock(&z->lock);
	return found;
}

void cn_zap_destroy(cn_zap_t **zp)
{
	cn_zap_t *z = zp ? *zp : NULL;

	if (!z)
		return;
	atomic_store(&z->stop, 1);
	if (z->started)
		pthread_join(z->thread, NULL);
	else if (z->sock)
		zmq_close(z->sock);
	list_free(&z->list);
	pthread_mutex_destroy(&z->lock);
	free(z);
	*zp = NULL;
}
