#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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

int inboxd_ofd_lock_byte(int fd, long long offset, int lock) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = lock ? F_WRLCK : F_UNLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)offset;
    fl.l_len = 1;
    int r;
    do { r = fcntl(fd, F_OFD_SETLK, &fl); } while (r != 0 && errno == EINTR);
    return r;
}

int inboxd_set_direct_io(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags == -1) return -1;
    return fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT));
}

void *inboxd_memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen) {
    return memmem(haystack, haystacklen, needle, needlelen);
}

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

int inboxd_lower_thread_priority(int nice, int policy) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (policy == 1 || policy == 2) {
        struct sched_param p = { .sched_priority = 0 };
        if (sched_setscheduler(tid, policy == 2 ? SCHED_IDLE : SCHED_BATCH, &p) == -1) return -errno;
    }
    if (nice != 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice) == -1) return -errno;
    return 0;
}

double inboxd_thread_cpu_seconds(void) {
    struct rusage u;
    if (getrusage(RUSAGE_THREAD, &u) != 0) return -1;
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

int inboxd_gettid(void) { return (int)syscall(SYS_gettid); }

int inboxd_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, 15);
    buf[15] = 0;
    return pthread_setname_np(pthread_self(), buf);
}

int inboxd_get_thread_name(char *buf, size_t len) {
    return pthread_getname_np(pthread_self(), buf, len);
}

#include <malloc.h>

int inboxd_malloc_trim(void) {
    return malloc_trim(0);
}
