/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The thread hand-off (see inbox.h).  Why the eventfd is written outside
 * the lock: a poster that saw the inbox empty must wake the owner, but a
 * write under the lock would make every poster of a burst contend on the
 * syscall.  Written after the unlock, the worst case is a spurious wake-up
 * (the owner took the element between our unlock and our write), never a
 * lost one: every empty-to-non-empty transition is followed by a write.
 */
#include "common/inbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"

struct sl_inbox {
	pthread_mutex_t lock;
	sl_fifo_t q; /* protected by ib->lock */
	int closed;  /* protected by ib->lock */
	int efd;
};

sl_inbox_t *sl_inbox_new(int *err)
{
	sl_inbox_t *ib = sl_xcalloc(1, sizeof(*ib));

	ib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ib->efd < 0) {
		*err = -errno;
		free(ib);
		return NULL;
	}
	pthread_mutex_init(&ib->lock, NULL);
	sl_fifo_init(&ib->q);
	*err = 0;
	return ib;
}

void sl_inbox_destroy(sl_inbox_t **ibp)
{
	sl_inbox_t *ib = ibp ? *ibp : NULL;

	if (!ib)
		return;
	close(ib->efd);
	pthread_mutex_destroy(&ib->lock);
	free(ib);
	*ibp = NULL;
}

int sl_inbox_fd(const sl_inbox_t *ib)
{
	return ib->efd;
}

static void wake(sl_inbox_t *ib)
{
	uint64_t one = 1;
	ssize_t n = write(ib->efd, &one, sizeof(one));

	(void)n; /* EAGAIN only when the counter is already huge */
}

int sl_inbox_post_all(sl_inbox_t *ib, sl_fifo_t *batch)
{
	int was_empty;

	if (sl_fifo_empty(batch))
		return 0;
	pthread_mutex_lock(&ib->lock);
	if (ib->closed) {
		pthread_mutex_unlock(&ib->lock);
		return -ESHUTDOWN;
	}
	was_empty = sl_fifo_empty(&ib->q);
	sl_fifo_splice(&ib->q, batch);
	pthread_mutex_unlock(&ib->lock);
	if (was_empty)
		wake(ib);
	return 0;
}

int sl_inbox_post(sl_inbox_t *ib, sl_qlink_t *l)
{
	sl_fifo_t one;

	sl_fifo_init(&one);
	sl_fifo_push(&one, l);
	return sl_inbox_post_all(ib, &one);
}

size_t sl_inbox_take(sl_inbox_t *ib, sl_fifo_t *out)
{
	uint64_t v;
	size_t n;
	ssize_t r;

	pthread_mutex_lock(&ib->lock);
	/* Cleared under the lock: a post after this unlock sees an empty
	 * queue and writes again. */
	r = read(ib->efd, &v, sizeof(v));
	(void)r;
	n = ib->q.count;
	sl_fifo_splice(out, &ib->q);
	pthread_mutex_unlock(&ib->lock);
	return n;
}

void sl_inbox_close(sl_inbox_t *ib)
{
	pthread_mutex_lock(&ib->lock);
	ib->closed = 1;
	pthread_mutex_unlock(&ib->lock);
}
