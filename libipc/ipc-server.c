/* Peer credentials, policies, unix sockets and the accepting server. */
#include <sys/queue.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fd-util.h"
#include "ipc.h"

void ipc_conn_set_server_hook(IpcConn *c, void (*hook)(IpcConn *, void *), void *data);

int ipc_peer_from_fd(int fd, IpcPeer *ret) {
        struct ucred uc;
        socklen_t len = sizeof(uc);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return negative_errno();
        if (len != sizeof(uc) || uc.pid <= 0)
                return -ENODATA;

        /* SO_PEERGROUPS says how much room it needs with ERANGE. */
        gid_t *groups = NULL;
        socklen_t glen = 16 * sizeof(gid_t);
        for (int tries = 0; tries < 4; tries++) {
                gid_t *g = realloc(groups, glen ? glen : sizeof(gid_t));
                if (!g) {
                        free(groups);
                        return -ENOMEM;
                }
                groups = g;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) >= 0)
                        break;
                if (errno != ERANGE) {
                        int r = negative_errno();
                        free(groups);
                        return r;
                }
        }
        *ret = (IpcPeer){
                .pid = uc.pid,
                .uid = uc.uid,
                .gid = uc.gid,
                .groups = groups,
                .n_groups = glen / sizeof(gid_t),
        };
        return 0;
}

void ipc_peer_done(IpcPeer *p) {
        free(p->groups);
        p->groups = NULL;
        p->n_groups = 0;
}

bool ipc_peer_in_group(const IpcPeer *p, gid_t gid) {
        if (p->gid == gid)
                return true;
        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i] == gid)
                        return true;
        return false;
}

bool ipc_policy_allows(const IpcPolicy *pol, const IpcPeer *peer) {
        if (pol->any)
                return true;
        if (!peer)
                return false; /* unknown credentials: only "any" admits them */
        if (peer->uid == 0)
                return true;
        if (pol->allow_uid && peer->uid == pol->uid)
                return true;
        return pol->allow_gid && ipc_peer_in_group(peer, pol->gid);
}

static int sockaddr_un_set(struct sockaddr_un *sa, const char *path) {
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        strcpy(sa->sun_path, path);
        return 0;
}

int ipc_connect_unix(const char *path, int *ret_fd) {
        struct sockaddr_un sa;
        int r = sockaddr_un_set(&sa, path);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int ipc_listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid, int *ret_fd) {
        struct sockaddr_un sa;
        int r = sockaddr_un_set(&sa, path);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();

        /* Replace only a stale socket, never another kind of file. */
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (unlink(path) < 0)
                        return negative_errno();
        }
        /* The socket must never exist with a wider mode than asked, even briefly. */
        mode_t old = umask(0777);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return negative_errno();
        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && chown(path, uid, gid) < 0)
                return negative_errno();
        if (chmod(path, mode) < 0 || listen(fd, SOMAXCONN) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

typedef struct ServerLink ServerLink;
struct ServerLink {
        LIST_ENTRY(ServerLink) link;
        IpcConn *conn;
};

struct IpcServer {
        sd_event *event;
        sd_event_source *io, *resume;
        int fd;
        const IpcChannel *ch;
        IpcAcceptHandler on_accept;
        void *userdata;
        unsigned max_conns, n_conns;
        uint64_t frame_timeout; /* given to each accepted connection */
        LIST_HEAD(, ServerLink) conns;
};

/* Each accepted connection gets a link; the hook unlinks it when the connection closes. */
typedef struct ServerHookData {
        IpcServer *server;
        ServerLink link;
} ServerHookData;

static void server_hook(IpcConn *c, void *data) {
        ServerHookData *h = data;
        IpcServer *s = h->server;
        if (s) {
                LIST_REMOVE(&h->link, link);
                s->n_conns--;
        }
        free(h);
}

static int server_accept_one(IpcServer *s) {
        _cleanup_close_ int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (s->n_conns >= s->max_conns)
                return 0; /* over the documented limit: closed at once */

        _cleanup_free_ ServerHookData *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        _cleanup_(ipc_conn_unrefp) IpcConn *c = NULL;
        int r = ipc_conn_new(&c, s->event, TAKE_FD(fd), s->ch);
        if (r < 0)
                return r;
        h->server = s;
        h->link.conn = c;
        LIST_INSERT_HEAD(&s->conns, &h->link, link);
        s->n_conns++;
        ipc_conn_set_server_hook(c, server_hook, TAKE_PTR(h));
        (void) ipc_conn_set_frame_timeout(c, s->frame_timeout); /* nothing read yet: cannot fail */

        if (s->on_accept && s->on_accept(s, c, s->userdata) < 0)
                ipc_conn_close(c, -EPERM, "%s connection refused", s->ch->name);
        return 0;
}

static int server_resume(sd_event_source *es, uint64_t usec, void *userdata) {
        IpcServer *s = userdata;
        s->resume = sd_event_source_disable_unref(s->resume);
        (void) sd_event_source_set_enabled(s->io, SD_EVENT_ON);
        return 0;
}

static int server_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        IpcServer *s = userdata;
        /* A bounded batch per wakeup; the level-triggered source brings us back. */
        for (int i = 0; i < 64; i++) {
                int r = server_accept_one(s);
                if (r == -EAGAIN || r == -EINTR)
                        break;
                if (r == -EMFILE || r == -ENFILE) {
                        /* Out of fds: the level-triggered source would spin; pause 100 ms. */
                        if (sd_event_add_time_relative(s->event, &s->resume, CLOCK_MONOTONIC,
                                                       100 * USEC_PER_MSEC, 0, server_resume,
                                                       s) >= 0)
                                (void) sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
                        break;
                }
        }
        return 0;
}

int ipc_server_new(IpcServer **ret, sd_event *e, int listen_fd, const IpcChannel *ch,
                   IpcAcceptHandler on_accept, void *userdata) {
        _cleanup_close_ int fd = listen_fd;
        /* systemd hands over blocking sockets (unless NonBlocking=): the accept loop below
         * would then block the whole event loop on its second accept. */
        int r = fd_set_nonblock(fd, true);
        if (r < 0)
                return r;
        /* Connections inherit it from the listener when they are made: a peer's fds are then
         * refused even while its connection waits in the backlog, before we accept it. */
        if (!ch->recv_carries_fds) {
                r = ipc_socket_refuse_fds(fd);
                if (r < 0)
                        return r;
        }
        _cleanup_(ipc_server_freep) IpcServer *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (IpcServer){
                .event = sd_event_ref(e),
                .fd = TAKE_FD(fd),
                .ch = ch,
                .on_accept = on_accept,
                .userdata = userdata,
                .max_conns = IPC_SERVER_MAX_CONNECTIONS_DEFAULT,
                .frame_timeout = IPC_FRAME_TIMEOUT_SERVER_USEC,
        };
        r = sd_event_add_io(e, &s->io, s->fd, EPOLLIN, server_io, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->io, ch->name);
        *ret = TAKE_PTR(s);
        return 0;
}

IpcServer *ipc_server_free(IpcServer *s) {
        if (!s)
                return NULL;
        /* Connections outlive the server; they only stop reporting to it. */
        ServerLink *l;
        LIST_FOREACH(l, &s->conns, link) {
                ServerHookData *h =
                        (ServerHookData *) ((char *) l - offsetof(ServerHookData, link));
                h->server = NULL;
        }
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->resume);
        safe_close(s->fd);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void ipc_server_set_max_connections(IpcServer *s, unsigned n) {
        s->max_conns = n;
}

void ipc_server_set_frame_timeout(IpcServer *s, uint64_t usec) {
        s->frame_timeout = usec;
}

unsigned ipc_server_get_connections(IpcServer *s) {
        return s->n_conns;
}
