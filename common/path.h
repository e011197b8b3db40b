/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dataset-relative paths.  Inside Sluice a path names an entry below a
 * dataset's root: "" is the root, "train/n01/x.jpg" a file.  No leading or
 * trailing '/', no empty, "." or ".." component, no NUL, at most
 * SL_PATH_MAX bytes and SL_COMPONENT_MAX per component.  Every path that
 * crosses a trust boundary (wire, FUSE) is checked here before use.
 */
#ifndef SL_PATH_H
#define SL_PATH_H

#include <stddef.h>

#define SL_PATH_MAX	 4095
#define SL_COMPONENT_MAX 255

/*
 * Check path[0..len).  Returns 0, -ENAMETOOLONG for an overlong path or
 * component, or -EINVAL for anything else that is not a clean relative path
 * (including an embedded NUL).
 */
int sl_path_check(const char *path, size_t len);

/* Check one name (a single component): -EINVAL or -ENAMETOOLONG. */
int sl_name_check(const char *name, size_t len);

/*
 * File versions (an ETag, "s<size>-m<mtime>", ...) are opaque to Sluice but
 * travel on the wire and into backend requests (S3 puts them in an If-Match
 * header), so they are held to a charset that cannot break out of a
 * header, a quoted string or a URL: at most SL_VERSION_MAX bytes of visible
 * ASCII other than '"' and '\\' (no space, no control byte, no NUL, nothing
 * above 0x7e).  Returns 0, -ENAMETOOLONG when overlong, -EINVAL otherwise.
 * "" (a directory's version, or "unknown") passes.
 */
#define SL_VERSION_MAX 128
int sl_version_check(const char *version, size_t len);

/*
 * LIST cursors are opaque too, and travel to the client and back, so on
 * the wire they are held to the version's charset: at most SL_CURSOR_MAX
 * bytes of visible ASCII other than '"' and '\\'.  Returns 0,
 * -ENAMETOOLONG or -EINVAL; "" (start, or last page) passes.
 */
#define SL_CURSOR_MAX 1024
int sl_cursor_check(const char *cursor, size_t len);

/*
 * A backend's own cursor (any bytes but NUL: webhdfs puts a file name in
 * it) as a wire cursor and back: bytes outside the charset above, and '%'
 * itself, become "%XX" (upper-case hex).  encode writes raw into out[cap]
 * (NUL-terminated): 0, or -ENAMETOOLONG when it does not fit in cap or in
 * SL_CURSOR_MAX.  decode turns wire[0..len) (which passed
 * sl_cursor_check) into out[cap]: 0; -EINVAL for an escape that is
 * malformed, not upper-case, a NUL, or of a byte that needs none (so each
 * backend cursor has exactly one wire form); -ENAMETOOLONG.
 */
int sl_cursor_encode(const char *raw, char *out, size_t cap);
int sl_cursor_decode(const char *wire, size_t len, char *out, size_t cap);

/*
 * Join dir and name into out[cap] ("" + "a" = "a", "a" + "b" = "a/b").
 * Returns 0 or -ENAMETOOLONG.
 */
int sl_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
