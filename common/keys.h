/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CurveZMQ keys: the key files `sluicectl keygen` writes (NAME.key, the
 * secret, mode 0600; NAME.pub, the public key; each one key in Z85 text
 * with a newline), and the keyring a process builds from the cluster
 * configuration at start: its own key pair and the public keys of the
 * nodes it may connect to, applied to each ZeroMQ socket before it
 * connects or binds.
 *
 * A keyring is frozen once built: any thread may use it without a lock.
 */
#ifndef SL_KEYS_H
#define SL_KEYS_H

#include <stddef.h>

#include "common/config.h"

#define SL_KEY_Z85_LEN 40 /* a 32-byte key in Z85 text */
/* What CURVE adds to each frame it encrypts: the MESSAGE command's name,
 * its nonce, the box's MAC and the inner flags byte (RFC 26: 33 bytes),
 * with room to spare. */
#define SL_KEYS_CURVE_OVERHEAD 64

/*
 * Write a new key pair as dir/name.key (mode 0600) and dir/name.pub
 * (0644), neither of which may exist yet.  dir and name borrowed; name
 * must be a valid name (sl_name_valid).  0, or -errno with a message in
 * err naming the file.
 */
int sl_keys_generate(const char *dir, const char *name, char *err,
		     size_t errlen);

/*
 * Read the public key file path into z85[SL_KEY_Z85_LEN + 1].  0, or
 * -errno with a message in err: -ENOENT & co. from the file, -EINVAL for
 * anything but one Z85 key (a trailing newline is tolerated).
 */
int sl_keys_read_public(const char *path, char *z85, char *err, size_t errlen);

/*
 * Read the secret key file path into secret[SL_KEY_Z85_LEN + 1] and
 * derive its public key into public[SL_KEY_Z85_LEN + 1].  A file that its
 * group or others may read or write is refused (-EPERM, the message names
 * the path and the mode).  Otherwise as sl_keys_read_public.
 */
int sl_keys_read_secret(const char *path, char *secret, char *public_key,
			char *err, size_t errlen);

/*
 * Whether node n of cfg (both borrowed) may serve where it is told to:
 * under the default security (loopback), its addr and metrics_addr must be
 * loopback addresses (127.0.0.0/8, ::1, localhost; ipc:// and inproc://
 * are local too).  0, or -EPERM with a message in err that says why and
 * what to set.
 */
int sl_keys_check_exposure(const sl_config_t *cfg, const sl_node_conf_t *n,
			   char *err, size_t errlen);

/* Whether host ("127.0.0.1", "[::1]", "localhost"; borrowed) is a
 * loopback address. */
int sl_host_is_loopback(const char *host, size_t len);

typedef struct sl_keyring sl_keyring_t;

/*
 * The keyring of cfg (borrowed; what is needed is copied) for node self
 * (borrowed), or for a client when self is NULL: under security = curve,
 * its own key pair (the node's secret_key, or [client] secret_key) and the
 * public keys of every [node] that has one; otherwise an empty keyring
 * that applies nothing.  NULL with a message in err when a key file is
 * missing or unusable, or when libzmq was built without CURVE.  Caller
 * frees with sl_keyring_destroy.
 */
sl_keyring_t *sl_keyring_new(const sl_config_t *cfg, const char *self,
			     char *err, size_t errlen);
void sl_keyring_destroy(sl_keyring_t **kp); /* accepts NULL; clears *kp */

/* A CURVE keyring of the key pair of secret (Z85, borrowed) and no node
 * yet (sl_keyring_add): for tools and tests that hold keys, not files.
 * NULL for a bad key. */
sl_keyring_t *sl_keyring_of(const char *secret);

/* Whether the keyring encrypts (security = curve). */
int sl_keyring_on(const sl_keyring_t *k);

/* This process's own public key in Z85, or "" without CURVE. */
const char *sl_keyring_public(const sl_keyring_t *k);

/*
 * Add (or replace) the public key z85 of node name at addr (both
 * borrowed): a node learnt after start (etcd).  Not thread-safe: call
 * before the keyring is shared.  0, or -EINVAL for a bad key.
 */
int sl_keyring_add(sl_keyring_t *k, const char *name, const char *addr,
		   const char *z85);

/*
 * Make sock (not connected yet, its ZMQ_MAXMSGSIZE already set: it grows
 * by SL_KEYS_CURVE_OVERHEAD) a CURVE client of the node called name
 * (or, when name is NULL or unknown, the node at addr; failing both, the
 * key of [node-defaults], which etcd's nodes share): 0 (nothing to do
 * without CURVE), or -ENOKEY when the keyring has no key for that node.
 */
int sl_keyring_client(const sl_keyring_t *k, void *sock, const char *name,
		      const char *addr);

/* Make sock (not bound yet; ZMQ_MAXMSGSIZE grows as for a client) a
 * CURVE server with the keyring's secret key, its ZAP domain "sluice":
 * 0, or -errno.  Nothing without CURVE. */
int sl_keyring_server(const sl_keyring_t *k, void *sock);

#endif
