/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies and reply conversion for the FUSE client (see wire.h).
 * Encoders validate before they write, so a refused request leaves
 * nothing to free; replies arrive decoded and validated by proto/, and
 * are checked here again only for what the client relies on beyond the
 * wire's rules (a name it can hand to the kernel).
 */
#include "fuse/wire.h"

#include <errno.h>
#include <string.h>

#include "common/path.h"
#include "common/util.h"

/* Hand b's bytes to the caller after an encoder's verdict rc. */
static int take_body(pr_buf_t *b, int rc, void **body, size_t *len)
{
	*body = NULL;
	*len = 0;
	if (rc == 0)
		*body = pr_buf_release(b, len);
	pr_buf_fini(b);
	return rc;
}

int fc_wire_stat_req(const char *dataset, const char *path, void **body,
		     size_t *len)
{
	pr_target_t t = {.dataset = pr_str(dataset), .path = pr_str(path)};
	pr_buf_t b;

	pr_buf_init(&b);
	return take_body(&b, pr_target_encode(&b, &t), body, len);
}

int fc_wire_list_req(const char *dataset, const char *path, const char *cursor,
		     uint32_t max_entries, void **body, size_t *len)
{
	pr_list_req_t lr = {
		.dataset = pr_str(dataset),
		.path = pr_str(path),
		.cursor = pr_str(cursor),
		.max_entries = max_entries,
	};
	pr_buf_t b;

	pr_buf_init(&b);
	return take_body(&b, pr_list_req_encode(&b, &lr), body, len);
}

int fc_wire_read_req(const char *dataset, uint32_t layout, const char *path,
		     const char *version, uint64_t block, uint32_t offset,
		     uint32_t length, void **body, size_t *len)
{
	pr_read_req_t rr = {
		.dataset = pr_str(dataset),
		.layout = layout,
		.path = pr_str(path),
		.version = pr_str(version),
		.block = block,
		.offset = offset,
		.length = length,
	};
	pr_buf_t b;

	pr_buf_init(&b);
	return take_body(&b, pr_read_req_encode(&b, &rr), body, len);
}

/* The one conversion from the wire's stat record (STAT and LIST). */
static void attr_from_wire(fc_attr_t *a, const pr_stat_t *st)
{
	memset(a, 0, sizeof(*a));
	a->type = st->type;
	a->mode = st->mode & 07777;
	a->size = st->size;
	a->mtime_ns = st->mtime_ns;
	if (pr_str_copy(a->version, sizeof(a->version), st->version) < 0)
		a->version[0] = '\0'; /* cannot happen: the decoder checks */
	a->fetched_ms = sl_now_ms();
}

int fc_wire_stat_reply(const void *buf, size_t len, fc_attr_t *out)
{
	pr_stat_t st;
	int rc = pr_stat_decode(&st, buf, len);

	/* The decoder admits only files and directories. */
	if (rc == 0)
		attr_from_wire(out, &st);
	return rc;
}

int fc_wire_list_reply(const void *buf, size_t len, pr_list_reply_t *page)
{
	return pr_list_reply_decode(page, buf, len);
}

int fc_wire_dirent(const pr_dirent_t *de, char *name, fc_attr_t *a)
{
	if (pr_str_copy(name, PR_MAX_NAME + 1, de->name) < 0 ||
	    sl_name_check(name, strlen(name)) < 0 ||
	    strlen(name) != de->name.len ||
	    (de->st.type != PR_TYPE_FILE && de->st.type != PR_TYPE_DIR))
		return -EBADMSG;
	attr_from_wire(a, &de->st);
	return 0;
}
