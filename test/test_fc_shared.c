/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/shared and the supervisor's control messages
 * (fuse/proc.c): the shared state made by one process is mapped whole by
 * another (a child, through the inherited memfd), with an inode table in
 * it that the child formats and the parent then takes over; a saved map
 * comes back as saved, the last one of several, and one too big is
 * refused without losing the one before; a memfd that holds something
 * else is refused; control messages carry a descriptor that works on the
 * other side, a closed peer reads as -EPIPE and a short datagram as
 * -EBADMSG.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuse/inode.h"
#include "fuse/proc.h"
#include "fuse/shared.h"
#include "test/helper_check.h"

START_TEST(test_shared_across_processes)
{
	fc_shared_t *sh, *sh2;
	size_t bytes, bytes2;
	fc_inode_table_t *t;
	uint64_t ino = 0;
	int fd, err = 0, st;
	pid_t pid;

	fd = fc_shared_create(5000, &sh, &bytes);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_ge(bytes, fc_inode_table_bytes(5000));
	ck_assert_uint_eq(sh->init_len, 0);
	pid = fork();
	if (pid == 0) {
		/* A worker: map the descriptor, make the table, a lookup. */
		if (fc_shared_map(fd, &sh2, &bytes2) < 0 || bytes2 != bytes)
			_exit(1);
		t = fc_inode_table_new(fc_shared_inodes(sh2), sh2->inode_bytes,
				       5000, NULL, &err);
		if (!t || fc_inode_lookup(t, FC_INO_ROOT, "ds", 0, "ds", "",
					  &ino) < 0)
			_exit(2);
		atomic_store(&sh2->slots[7], 77);
		atomic_fetch_add(&sh2->next_fh, 5);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(atomic_load(&sh->slots[7]), 77);
	ck_assert_uint_eq(atomic_load(&sh->next_fh), 5);
	/* The next worker takes the table over. */
	ck_assert_int_eq(
		fc_inode_table_check(fc_shared_inodes(sh), sh->inode_bytes), 0);
	t = fc_inode_table_new(fc_shared_inodes(sh), sh->inode_bytes, 5000,
			       NULL, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(fc_inode_table_attached(t), 1);
	ck_assert_uint_eq(fc_inode_nlookup(t, fc_inode_hash("ds", "")), 1);
	fc_inode_table_destroy(&t);
	fc_shared_unmap(sh, bytes);
	close(fd);
}
END_TEST

START_TEST(test_map_copies)
{
	fc_shared_t *sh;
	size_t bytes, len;
	char *big = calloc(1, FC_MAP_MAX + 1);
	void *got;
	int fd = fc_shared_create(1000, &sh, &bytes);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fc_shared_load_map(sh, &got, &len), -ENOENT);
	for (int i = 0; i < 5; i++) {
		char m[32];

		snprintf(m, sizeof(m), "map number %d", i);
		ck_assert_int_eq(fc_shared_save_map(sh, m, strlen(m)), 0);
		ck_assert_int_eq(fc_shared_load_map(sh, &got, &len), 0);
		ck_assert_uint_eq(len, strlen(m));
		ck_assert(memcmp(got, m, len) == 0);
		free(got);
	}
	ck_assert_int_eq(fc_shared_save_map(sh, big, FC_MAP_MAX + 1),
			 -EMSGSIZE);
	ck_assert_int_eq(fc_shared_load_map(sh, &got, &len), 0);
	ck_assert(memcmp(got, "map number 4", len) == 0);
	free(got);
	free(big);
	fc_shared_unmap(sh, bytes);
	close(fd);
}
END_TEST

START_TEST(test_not_shared_state)
{
	fc_shared_t *sh;
	size_t bytes;
	int fd = memfd_create("other", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fc_shared_map(fd, &sh, &bytes), -EINVAL); /* empty */
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	ck_assert_int_eq(fc_shared_map(fd, &sh, &bytes), -EINVAL); /* zeros */
	close(fd);
	ck_assert_int_lt(fc_shared_map(-1, &sh, &bytes), 0);
}
END_TEST

START_TEST(test_ctl_messages)
{
	int sv[2], fd = -1, p[2];
	struct fc_ctl m = {.type = FC_CTL_GO, .value = 1}, r;
	char c = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(pipe(p), 0);
	/* A descriptor crosses, and works on the other side. */
	ck_assert_int_eq(fc_ctl_send(sv[0], &m, p[1]), 0);
	close(p[1]);
	ck_assert_int_eq(fc_ctl_recv(sv[1], &r, &fd), 0);
	ck_assert_uint_eq(r.type, FC_CTL_GO);
	ck_assert_int_eq(r.value, 1);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	close(fd);
	/* Without one; one sent to a receiver that takes none is closed. */
	m.type = FC_CTL_READY;
	ck_assert_int_eq(fc_ctl_send(sv[1], &m, -1), 0);
	ck_assert_int_eq(fc_ctl_recv(sv[0], &r, &fd), 0);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(fc_ctl_send(sv[1], &m, p[0]), 0);
	ck_assert_int_eq(fc_ctl_recv(sv[0], &r, NULL), 0);
	/* A short datagram is no message. */
	ck_assert_int_eq(send(sv[1], "abc", 3, 0), 3);
	ck_assert_int_eq(fc_ctl_recv(sv[0], &r, &fd), -EBADMSG);
	/* The peer gone. */
	close(sv[1]);
	ck_assert_int_eq(fc_ctl_recv(sv[0], &r, &fd), -EPIPE);
	ck_assert_int_lt(fc_ctl_send(sv[0], &m, -1), 0);
	close(sv[0]);
	close(p[0]);
}
END_TEST

static Suite *shared_suite(void)
{
	return TH_SUITE("fc_shared",
			{.name = "core",
			 .tests = TH_TESTS(
				 test_shared_across_processes, test_map_copies,
				 test_not_shared_state, test_ctl_messages)});
}

int main(void)
{
	return th_check_run(shared_suite(), NULL);
}
