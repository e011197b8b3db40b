/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CurveZMQ key files and keyrings (see keys.h).  A key file holds one key
 * as ZeroMQ writes it, 40 characters of Z85 and a newline, so that an
 * operator can compare keys by eye and copy a public key into a Secret or
 * a ConfigMap as text.  Secret key files are checked on the open
 * descriptor (fstat), so that the mode judged is the mode of the file
 * read, wherever a symbolic link (a Kubernetes Secret volume's) led.
 */
#include "common/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/confval.h"
#include "common/util.h"

#define KEY_FILE_MAX 128 /* bytes read: a key and some blanks */
#define ZAP_DOMAIN   "sluice"

typedef struct ring_node {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1];
	char z85[SL_KEY_Z85_LEN + 1];
} ring_node_t;

struct sl_keyring {
	int on;
	char secret[SL_KEY_Z85_LEN + 1];
	char public_key[SL_KEY_Z85_LEN + 1];
	size_t n;
	ring_node_t *nodes;
	/* [node-defaults] public_key: the key of every node not named
	 * (etcd's, which share one key pair); "" = none. */
	char fallback[SL_KEY_Z85_LEN + 1];
};

/* One Z85 key: 40 characters that decode. */
static int z85_ok(const char *z85)
{
	uint8_t raw[32];

	return strlen(z85) == SL_KEY_Z85_LEN && zmq_z85_decode(raw, z85);
}

/* The key in the file open on fd (named path) into z85: 0 or -errno. */
static int read_key(int fd, const char *path, char *z85, char *err,
		    size_t errlen)
{
	char buf[KEY_FILE_MAX + 1];
	size_t len = 0;
	ssize_t r;

	while (len < sizeof(buf) - 1) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			sl_errf(err, errlen, "%s: cannot read: %s", path,
				strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len != SL_KEY_Z85_LEN || strlen(buf) != len || !z85_ok(buf)) {
		sl_errf(err, errlen,
			"%s: not a CURVE key (expected %d characters of Z85, "
			"as sluicectl keygen writes)",
			path, SL_KEY_Z85_LEN);
		return -EINVAL;
	}
	memcpy(z85, buf, SL_KEY_Z85_LEN + 1);
	return 0;
}

static int open_key(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		sl_errf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	return fd;
}

int sl_keys_read_public(const char *path, char *z85, char *err, size_t errlen)
{
	int fd = open_key(path, err, errlen), rc;

	if (fd < 0)
		return fd;
	rc = read_key(fd, path, z85, err, errlen);
	close(fd);
	return rc;
}

int sl_keys_read_secret(const char *path, char *secret, char *public_key,
			char *err, size_t errlen)
{
	struct stat st;
	int fd = open_key(path, err, errlen), rc;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		sl_errf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (st.st_mode & 077) {
		sl_errf(err, errlen,
			"%s: a secret key with mode %04o is refused: group "
			"and others must have no access (chmod 600 %s)",
			path, (unsigned)(st.st_mode & 07777), path);
		rc = -EPERM;
		goto out;
	}
	rc = read_key(fd, path, secret, err, errlen);
	if (rc == 0 && zmq_curve_public(public_key, secret) < 0) {
		sl_errf(err, errlen, "%s: %s", path, zmq_strerror(zmq_errno()));
		rc = -EINVAL;
	}
out:
	close(fd);
	return rc;
}

/* Create path with mode and write text to it: 0 or -errno. */
static int write_new(const char *path, mode_t mode, const char *text, char *err,
		     size_t errlen)
{
	size_t len = strlen(text), done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	int rc = 0;

	if (fd < 0) {
		rc = -errno;
		sl_errf(err, errlen, "%s: cannot create: %s", path,
			strerror(-rc));
		return rc;
	}
	/* The umask may have taken more than asked, never less. */
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	while (rc == 0 && done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = -errno;
		else
			done += (size_t)w;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		sl_errf(err, errlen, "%s: cannot write: %s", path,
			strerror(-rc));
		unlink(path);
	}
	return rc;
}

int sl_keys_generate(const char *dir, const char *name, char *err,
		     size_t errlen)
{
	char pub[SL_KEY_Z85_LEN + 2], sec[SL_KEY_Z85_LEN + 2];
	char pub_path[PATH_MAX], sec_path[PATH_MAX];
	int rc;

	if (!sl_name_valid(name)) {
		sl_errf(err, errlen,
			"invalid key name '%s' (use 1 to %d of A-Z a-z 0-9 . "
			"_ -)",
			name, SL_NAME_MAX);
		return -EINVAL;
	}
	if (!zmq_has("curve")) {
		sl_errf(err, errlen, "this libzmq was built without CURVE");
		return -ENOTSUP;
	}
	if (zmq_curve_keypair(pub, sec) < 0) {
		sl_errf(err, errlen, "zmq_curve_keypair: %s",
			zmq_strerror(zmq_errno()));
		return -EIO;
	}
	strcat(pub, "\n");
	strcat(sec, "\n");
	if ((size_t)snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", dir,
			     name) >= sizeof(pub_path) ||
	    (size_t)snprintf(sec_path, sizeof(sec_path), "%s/%s.key", dir,
			     name) >= sizeof(sec_path)) {
		sl_errf(err, errlen, "%s: path too long", dir);
		rc = -ENAMETOOLONG;
		goto out;
	}
	if (access(pub_path, F_OK) == 0) {
		sl_errf(err, errlen, "%s: exists already (remove it first)",
			pub_path);
		rc = -EEXIST;
		goto out;
	}
	rc = write_new(sec_path, 0600, sec, err, errlen);
	if (rc == 0) {
		rc = write_new(pub_path, 0644, pub, err, errlen);
		if (rc < 0)
			unlink(sec_path);
	}
out:
	explicit_bzero(sec, sizeof(sec));
	return rc;
}

/* ---- Exposure ------------------------------------------------------------ */

int sl_host_is_loopback(const char *host, size_t len)
{
	static const char *const names[] = {"localhost", "[::1]", "::1",
					    "ip6-localhost"};

	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == len && memcmp(host, names[i], len) == 0)
			return 1;
	/* 127.0.0.0/8, written as a dotted quad. */
	if (len < 9 || len > 15 || strncmp(host, "127.", 4) != 0)
		return 0;
	for (size_t i = 4; i < len; i++)
		if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
			return 0;
	return 1;
}

/* HOST of "HOST:PORT" is loopback. */
static int host_port_local(const char *hp)
{
	const char *colon = strrchr(hp, ':');

	return colon && sl_host_is_loopback(hp, (size_t)(colon - hp));
}

static int endpoint_local(const char *ep)
{
	if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
		return 1;
	return strncmp(ep, "tcp://", 6) == 0 && host_port_local(ep + 6);
}

int sl_keys_check_exposure(const sl_config_t *cfg, const sl_node_conf_t *n,
			   char *err, size_t errlen)
{
	const char *what = NULL, *where = NULL;

	if (cfg->security != SL_SECURITY_LOOPBACK)
		return 0;
	if (!endpoint_local(n->addr)) {
		what = "addr";
		where = n->addr;
	} else if (n->metrics_addr[0] && !host_port_local(n->metrics_addr)) {
		what = "metrics_addr";
		where = n->metrics_addr;
	}
	if (!what)
		return 0;
	sl_errf(err, errlen,
		"%s: [node %s] %s %s is not a loopback address, and the "
		"cluster has no keys: without [cluster] security = curve "
		"(keys: sluicectl keygen) a node serves only on loopback, so "
		"that no one else on the network can read its datasets; set "
		"security = none to serve in the clear on a network you "
		"trust",
		cfg->path, n->name, what, where);
	return -EPERM;
}

/* ---- Keyrings ------------------------------------------------------------ */

sl_keyring_t *sl_keyring_new(const sl_config_t *cfg, const char *self,
			     char *err, size_t errlen)
{
	sl_keyring_t *k = sl_xcalloc(1, sizeof(*k));
	const char *own;

	if (cfg->security != SL_SECURITY_CURVE)
		return k;
	k->on = 1;
	if (!zmq_has("curve")) {
		sl_errf(err, errlen,
			"security = curve, but this libzmq was built "
			"without CURVE (zmq_has(\"curve\") is false)");
		goto out_err;
	}
	if (self) {
		const sl_node_conf_t *n = sl_config_node(cfg, self);

		own = n ? n->secret_key : NULL;
		if (!own) {
			sl_errf(err, errlen,
				"%s: security = curve, but [node %s] has no "
				"secret_key",
				cfg->path, self);
			goto out_err;
		}
	} else {
		own = cfg->client.secret_key;
		if (!own) {
			sl_errf(err, errlen,
				"%s: security = curve, but [client] has no "
				"secret_key",
				cfg->path);
			goto out_err;
		}
	}
	if (sl_keys_read_secret(own, k->secret, k->public_key, err, errlen) < 0)
		goto out_err;
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const sl_node_conf_t *n = &cfg->nodes[i];
		char z85[SL_KEY_Z85_LEN + 1];

		if (!n->public_key)
			continue;
		if (sl_keys_read_public(n->public_key, z85, err, errlen) < 0 ||
		    sl_keyring_add(k, n->name, n->addr, z85) < 0)
			goto out_err;
	}
	if (cfg->has_node_defaults && cfg->node_defaults.public_key &&
	    sl_keys_read_public(cfg->node_defaults.public_key, k->fallback, err,
				errlen) < 0)
		goto out_err;
	return k;
out_err:
	sl_keyring_destroy(&k);
	return NULL;
}

sl_keyring_t *sl_keyring_of(const char *secret)
{
	sl_keyring_t *k;

	if (!z85_ok(secret))
		return NULL;
	k = sl_xcalloc(1, sizeof(*k));
	k->on = 1;
	memcpy(k->secret, secret, sizeof(k->secret));
	if (zmq_curve_public(k->public_key, k->secret) < 0)
		sl_keyring_destroy(&k);
	return k;
}

void sl_keyring_destroy(sl_keyring_t **kp)
{
	sl_keyring_t *k = kp ? *kp : NULL;

	if (!k)
		return;
	explicit_bzero(k->secret, sizeof(k->secret));
	free(k->nodes);
	free(k);
	*kp = NULL;
}

int sl_keyring_on(const sl_keyring_t *k)
{
	return k && k->on;
}

const char *sl_keyring_public(const sl_keyring_t *k)
{
	return k && k->on ? k->public_key : "";
}

int sl_keyring_add(sl_keyring_t *k, const char *name, const char *addr,
		   const char *z85)
{
	ring_node_t *rn = NULL;

	if (!z85_ok(z85))
		return -EINVAL;
	for (size_t i = 0; i < k->n && !rn; i++)
		if (strcmp(k->nodes[i].name, name) == 0)
			rn = &k->nodes[i];
	if (!rn) {
		k->nodes =
			sl_xrealloc(k->nodes, (k->n + 1) * sizeof(*k->nodes));
		rn = &k->nodes[k->n++];
	}
	sl_strlcpy(rn->name, name, sizeof(rn->name));
	sl_strlcpy(rn->addr, addr ? addr : "", sizeof(rn->addr));
	memcpy(rn->z85, z85, sizeof(rn->z85));
	return 0;
}

/* ZMQ_MAXMSGSIZE counts a frame as it travels, so under CURVE with its
 * box around it: a limit set for the plaintext grows by the box. */
static int widen_maxmsg(void *sock)
{
	int64_t v = -1;
	size_t len = sizeof(v);

	if (zmq_getsockopt(sock, ZMQ_MAXMSGSIZE, &v, &len) < 0)
		return -zmq_errno();
	if (v < 0)
		return 0;
	v += SL_KEYS_CURVE_OVERHEAD;
	return zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &v, sizeof(v)) < 0
		       ? -zmq_errno()
		       : 0;
}

int sl_keyring_client(const sl_keyring_t *k, void *sock, const char *name,
		      const char *addr)
{
	const ring_node_t *rn = NULL;

	if (!sl_keyring_on(k))
		return 0;
	for (size_t i = 0; name && i < k->n && !rn; i++)
		if (strcmp(k->nodes[i].name, name) == 0)
			rn = &k->nodes[i];
	for (size_t i = 0; addr && i < k->n && !rn; i++)
		if (strcmp(k->nodes[i].addr, addr) == 0)
			rn = &k->nodes[i];
	if (!rn && !k->fallback[0])
		return -ENOKEY;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY,
			   rn ? rn->z85 : k->fallback,
			   SL_KEY_Z85_LEN + 1) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->public_key,
			   SL_KEY_Z85_LEN + 1) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret,
			   SL_KEY_Z85_LEN + 1) < 0)
		return -zmq_errno();
	return widen_maxmsg(sock);
}

int sl_keyring_server(const sl_keyring_t *k, void *sock)
{
	int one = 1;

	if (!sl_keyring_on(k))
		return 0;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret,
			   SL_KEY_Z85_LEN + 1) < 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN,
			   strlen(ZAP_DOMAIN)) < 0)
		return -zmq_errno();
	return widen_maxmsg(sock);
}
