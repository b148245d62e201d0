#pragma once

#include <stdbool.h>

/* fd helpers that return -errno. */
int fd_set_nonblock(int fd, bool nonblock);
int fd_set_cloexec(int fd, bool cloexec);
int fd_get_cloexec(int fd);
/* Number of fds open in this process (counts /proc/self/fd). */
int fd_count_open(void);

#include <dirent.h>
static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
