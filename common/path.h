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
 * LIST cursors are opaque too, made by a backend (a directory offset, an
 * S3 continuation token) and handed back to it by whoever lists next, so
 * they are held to the version's charset: at most SL_CURSOR_MAX bytes of
 * visible ASCII other than '"' and '\\'.  A backend still encodes one
 * before it puts it in a URL.  Returns 0, -ENAMETOOLONG or -EINVAL; ""
 * (start, or last page) passes.
 */
#define SL_CURSOR_MAX 1024
int sl_cursor_check(const char *cursor, size_t len);

/*
 * Join dir and name into out[cap] ("" + "a" = "a", "a" + "b" = "a/b").
 * Returns 0 or -ENAMETOOLONG.
 */
int sl_path_join(char *out, size_t cap, const char *dir, const char *name);

#endif
