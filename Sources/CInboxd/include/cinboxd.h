#ifndef INBOXD_CINBOXD_H
#define INBOXD_CINBOXD_H
#include <stddef.h>

/* renameat2(RENAME_NOREPLACE): needs _GNU_SOURCE, which Swift's Glibc module does not define.
   Returns 0 or -1 with errno (EEXIST when the target exists). */
int inboxd_rename_noreplace(const char *from, const char *to);

/* sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback of a written range without waiting, so a final
   fdatasync has little left to flush. _GNU_SOURCE only. Returns 0 or -1 with errno. */
int inboxd_start_writeback(int fd, long long offset, long long nbytes);

/* fcntl(F_OFD_SETLK) of the one byte at offset: lock 1 = exclusive (F_WRLCK), 0 = unlock (F_UNLCK). Never waits
   (EAGAIN when another open file description holds it); retries EINTR. _GNU_SOURCE only. Returns 0 or -1 with errno. */
int inboxd_ofd_lock_byte(int fd, long long offset, int lock);

/* Turns O_DIRECT on (on != 0) or off for an open file (fcntl F_SETFL): O_DIRECT is _GNU_SOURCE only. Returns 0 or -1
   with errno (EINVAL: the filesystem has no direct I/O). */
int inboxd_set_direct_io(int fd, int on);

/* memmem: also _GNU_SOURCE only. */
void *inboxd_memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);

/* Lowers the calling thread's scheduling priority: policy 1 = SCHED_BATCH, 2 = SCHED_IDLE (0 keeps SCHED_OTHER),
   then nice (setpriority on the thread id, which Linux applies to that thread only; SCHED_IDLE ignores it).
   Threads it creates afterwards inherit both. Returns 0 or -errno. Lowering needs no privilege; it cannot be
   undone without CAP_SYS_NICE. */
int inboxd_lower_thread_priority(int nice, int policy);

/* CPU seconds (user + system) of the calling thread: getrusage(RUSAGE_THREAD), _GNU_SOURCE only. -1 on error. */
double inboxd_thread_cpu_seconds(void);

/* The calling thread's kernel id (gettid) and name (pthread_setname_np, at most 15 bytes kept): _GNU_SOURCE only. */
int inboxd_gettid(void);
int inboxd_set_thread_name(const char *name);
/* Copies the calling thread's name into buf (at least 16 bytes). Returns 0 or an errno value. */
int inboxd_get_thread_name(char *buf, size_t len);

/* malloc_trim(0): gives free heap memory at the top of every arena and whole free pages inside them back to the
   kernel. <malloc.h> is not part of Swift's Glibc module. Returns 1 if memory was released, else 0. */
int inboxd_malloc_trim(void);
#endif
