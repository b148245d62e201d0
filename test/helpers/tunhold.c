/* tunhold IFNAME: creates a TUN link and holds it open (standing in for the network shim,
 * which owns the TUN fd) until killed; the link vanishes with this process. Prints "ready"
 * once the link exists. */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
        int fd;

        if (argc != 2 || strlen(argv[1]) >= IFNAMSIZ) {
                fprintf(stderr, "usage: tunhold IFNAME\n");
                return 2;
        }
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                perror("open /dev/net/tun");
                return 1;
        }
        strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                perror("TUNSETIFF");
                return 1;
        }
        printf("ready\n");
        fflush(stdout);
        for (;;)
                pause();
}
