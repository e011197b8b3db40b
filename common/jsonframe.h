/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cuts a byte stream of concatenated JSON texts into whole texts, whatever
 * chunks the bytes arrive in: etcd's gateway streams a watch as one JSON
 * object after another over a chunked HTTP response, and curl hands the
 * body over in pieces that may end inside a string, inside an escape, or
 * hold three objects and the start of a fourth.  Each text is an object or
 * an array; blanks between texts are skipped, anything else there is an
 * error.  The framer only finds the boundaries (brackets outside strings);
 * the caller parses each text (jansson) and so still rejects bad JSON.
 *
 * A text longer than the framer's max_text is an error (-EMSGSIZE) rather
 * than a buffer that grows without limit; so is the first stray byte
 * between texts (-EBADMSG).  Errors are sticky: every later feed returns
 * the same one, since the stream cannot be resynchronised.
 *
 * Not thread-safe: one stream, one owner.
 */
#ifndef SL_JSONFRAME_H
#define SL_JSONFRAME_H

#include <stddef.h>

typedef struct sl_jsonframe sl_jsonframe_t;

/* One whole text [text, text + len), borrowed for the call (not
 * NUL-terminated).  Return 0 to go on, or -errno to stop the feed, which
 * then returns it (and stays failed). */
typedef int (*sl_jsonframe_fn)(const char *text, size_t len, void *ud);

/* A framer for texts of at most max_text bytes (> 0).  Caller destroys. */
sl_jsonframe_t *sl_jsonframe_new(size_t max_text);
/* Accepts NULL; clears *fp. */
void sl_jsonframe_destroy(sl_jsonframe_t **fp);

/*
 * Feed the next len bytes of the stream (borrowed); fn is called, in
 * order, for every text they complete.  Returns 0, -EMSGSIZE (a text over
 * max_text), -EBADMSG (a byte that cannot start a text), or what fn
 * returned.
 */
int sl_jsonframe_feed(sl_jsonframe_t *f, const void *buf, size_t len,
		      sl_jsonframe_fn fn, void *ud);

/* 1 when the stream so far ends between texts (nothing half-received). */
int sl_jsonframe_idle(const sl_jsonframe_t *f);

#endif
