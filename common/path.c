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

/* A byte a wire cursor carries as it is. */
static int cursor_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%';
}

int sl_cursor_encode(const char *raw, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0, max = SL_MIN(cap, (size_t)SL_CURSOR_MAX + 1);

	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		size_t need = cursor_plain(*p) ? 1 : 3;

		if (k + need >= max)
			return -ENAMETOOLONG;
		if (need == 1) {
			out[k++] = (char)*p;
			continue;
		}
		out[k++] = '%';
		out[k++] = hex[*p >> 4];
		out[k++] = hex[*p & 15];
	}
	if (k >= max)
		return -ENAMETOOLONG;
	out[k] = '\0';
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sl_cursor_decode(const char *wire, size_t len, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)wire[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -EINVAL;
			hi = hex_digit(wire[i + 1]);
			lo = hex_digit(wire[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0 || cursor_plain(c))
				return -EINVAL;
			i += 2;
		} else if (!cursor_plain(c)) {
			return -EINVAL;
		}
		if (k + 1 >= cap)
			return -ENAMETOOLONG;
		out[k++] = (char)c;
	}
	if (cap == 0)
		return -ENAMETOOLONG;
	out[k] = '\0';
	return 0;
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
