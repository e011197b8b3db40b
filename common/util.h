/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every module uses: allocation of control structures that
 * aborts on out-of-memory (cached data uses its tier's fallible allocator
 * instead), always-on assertions, monotonic time and bounded string copies.
 */
#ifndef SL_UTIL_H
#define SL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define SL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b)	 ((a) > (b) ? (a) : (b))

/* Programmer errors only; environmental errors are returned as -errno. */
#define SL_ASSERT(expr)                                                        \
	((expr) ? (void)0 : sl_assert_fail(#expr, __FILE__, __LINE__, __func__))

_Noreturn void sl_assert_fail(const char *expr, const char *file, int line,
			      const char *func);

/* Never return NULL: print a message and abort on out-of-memory. */
void *sl_xmalloc(size_t size);
void *sl_xcalloc(size_t n, size_t size);
void *sl_xrealloc(void *ptr, size_t size);
/* Grow a buffer of *cap bytes (data, transferred: the result replaces it)
 * to hold at least need, doubling from first when it is empty, so that
 * appending n bytes at a time costs O(n) over all.  Sets *cap; never
 * shrinks; aborts on out-of-memory like sl_xrealloc. */
void *sl_xgrow(void *data, size_t *cap, size_t need, size_t first);
char *sl_xstrdup(const char *s);
char *sl_xstrndup(const char *s, size_t n);

/* The one-line message of a failure into err[errlen] (NULL or 0: none),
 * printf-style: for functions that return -errno and say why. */
void sl_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Monotonic clock in nanoseconds / milliseconds. */
uint64_t sl_now_ns(void);
uint64_t sl_now_ms(void);
/* Wall clock in nanoseconds since the epoch. */
int64_t sl_wall_ns(void);

/*
 * Copy src into dst[cap] always NUL-terminating.  Returns 0, or -ENAMETOOLONG
 * when src was truncated.
 */
int sl_strlcpy(char *dst, const char *src, size_t cap);

/* Little-endian loads and stores for wire and disk formats. */
static inline void sl_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void sl_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sl_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t sl_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t sl_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t sl_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif
