#include "fd-util.h"

#include <dirent.h>
#include <fcntl.h>

#include "macro.h"

int fd_set_nonblock(int fd, bool nonblock) {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return negative_errno();
        int nflags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        if (nflags != flags && fcntl(fd, F_SETFL, nflags) < 0)
                return negative_errno();
        return 0;
}

int fd_set_cloexec(int fd, bool cloexec) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return negative_errno();
        int nflags = cloexec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        if (nflags != flags && fcntl(fd, F_SETFD, nflags) < 0)
                return negative_errno();
        return 0;
}

int fd_get_cloexec(int fd) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return negative_errno();
        return !!(flags & FD_CLOEXEC);
}

int fd_count_open(void) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return negative_errno();
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}
