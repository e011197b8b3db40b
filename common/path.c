/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dataset-relative path checks (see path.h).  A path is checked as a byte
 * range, not a C string, so a NUL smuggled inside a wire field is seen and
 * refused instead of silently cutting the path short.  Overlength is checked
 * before anything else, so an attacker cannot make us scan more than
 * SL_PATH_MAX bytes.
 */
#include "common/path.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

static int component_check(const char *c, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > SL_COMPONENT_MAX)
		return -ENAMETOOLONG;
	if (c[0] == '.' && (len == 1 || (len == 2 && c[1] == '.')))
		return -EINVAL;
	if (memchr(c, '\0', len))
		return -EINVAL;
	return 0;
}

int sl_path_check(const char *path, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return 0; /* the dataset root */
	if (len > SL_PATH_MAX)
		return -ENAMETOOLONG;
	SL_ASSERT(path);
	while (start <= len) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		int ret = component_check(path + start, end - start);

		if (ret < 0)
			return ret;
		start = end + 1;
	}
	return 0;
}

int sl_name_check(const char *name, size_t len)
{
	int ret;

	SL_ASSERT(name || len == 0);
	ret = component_check(name, len);
	if (ret < 0)
		return ret;
	if (memchr(name, '/', len))
		return -EINVAL;
	return 0;
}

/* Visible ASCII but for the quote and the backslash: nothing that can end
 * a header line, a quoted string or a URL's token. */
static int token_check(const char *s, size_t len, size_t max)
{
	if (len > max)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return -EINVAL;
	}
	return 0;
}

int sl_version_check(const char *version, size_t len)
{
	return token_check(version, len, SL_VERSION_MAX);
}

int sl_cursor_check(const char *cursor, size_t len)
{
	return token_check(cursor, len, SL_CURSOR_MAX);
}

/*
 * out may be dir itself (append in place); name must not overlap out.  On
 * error out is left untouched.
 */
int sl_path_join(char *out, size_t cap, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	size_t nl = strlen(name);
	size_t total;

	/* Joining nothing leaves dir as it is; "a" + "" is not "a/". */
	if (dl == 0 || nl == 0) {
		const char *src = dl ? dir : name;
		size_t sl = dl ? dl : nl;

		if (sl >= cap || sl > SL_PATH_MAX)
			return -ENAMETOOLONG;
		memmove(out, src, sl + 1);
		return 0;
	}
	total = dl + 1 + nl;
	if (total >= cap || total > SL_PATH_MAX)
		return -ENAMETOOLONG;
	memmove(out, dir, dl);
	out[dl] = '/';
	memmove(out + dl + 1, name, nl + 1);
	return 0;
}
