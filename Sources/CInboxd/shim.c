#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cinboxd.h"

int inboxd_rename_noreplace(const char *from, const char *to) {
    int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
    if (r == -1 && (errno == EINVAL || errno == ENOSYS)) {
        /* Filesystem without RENAME_NOREPLACE: link+unlink keeps the no-overwrite guarantee for files. */
        if (link(from, to) == -1) return -1;
        return unlink(from);
    }
    return r;
}

int inboxd_start_writeback(int fd, long long offset, long long nbytes) {
    return sync_file_range(fd, (off64_t)offset, (off64_t)nbytes, SYNC_FILE_RANGE_WRITE);
}

void *inboxd_memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen) {
    return memmem(haystack, haystacklen, needle, needlelen);
}

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

int inboxd_lower_thread_priority(int nice, int sched_batch) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (sched_batch) {
        struct sched_param p = { .sched_priority = 0 };
        if (sched_setscheduler(tid, SCHED_BATCH, &p) == -1) return -errno;
    }
    if (nice != 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice) == -1) return -errno;
    return 0;
}

#include <sys/prctl.h>

void inboxd_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, name, 0, 0, 0);
}
