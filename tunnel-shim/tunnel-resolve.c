#include "tunnel-resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>

/* Shared between the loop and the thread; freed by whoever drops the last reference. */
typedef struct ResolveJob {
        atomic_int refs;
        int efd;
        size_t n;
        char **hosts; /* NULL: numeric or no endpoint */
        uint16_t *ports;
        UapiEndpoint *results;
        int *errors; /* EAI_* per peer, 0 = ok */
        /* A host name's last address that worked (AF_UNSPEC: none), taken when the name does
         * not resolve (fell_back then says which error it hid). */
        UapiEndpoint *fallbacks;
        int *fell_back;
} ResolveJob;

struct TunnelResolve {
        sd_event_source *io, *timer, *defer;
        ResolveJob *job;
        char **names; /* peer names for messages */
        int error;
        char message[256];
        TunnelResolveHandler cb;
        void *userdata;
};

static void job_unref(ResolveJob *j) {
        if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
                return;
        for (size_t i = 0; i < j->n; i++)
                free(j->hosts[i]);
        free(j->hosts);
        free(j->ports);
        free(j->results);
        free(j->errors);
        free(j->fallbacks);
        free(j->fell_back);
        safe_close(j->efd);
        free(j);
}

static int lookup(const char *host, uint16_t port, UapiEndpoint *ret) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
        struct addrinfo *res = NULL;
        int r = getaddrinfo(host, NULL, &hints, &res);
        if (r != 0)
                return r;
        r = EAI_NONAME;
        /* The resolver's order (RFC 6724 via gai.conf) decides between IPv4 and IPv6, as in
         * wg(8). */
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
                        memcpy(&ret->addr.in, ai->ai_addr, sizeof(struct sockaddr_in));
                        ret->addr.in.sin_port = htons(port);
                        r = 0;
                        break;
                }
                if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
                        memcpy(&ret->addr.in6, ai->ai_addr, sizeof(struct sockaddr_in6));
                        ret->addr.in6.sin6_port = htons(port);
                        r = 0;
                        break;
                }
        }
        freeaddrinfo(res);
        return r;
}

static void *resolve_thread(void *p) {
        ResolveJob *j = p;
        for (size_t i = 0; i < j->n; i++) {
                if (!j->hosts[i])
                        continue;
                j->errors[i] = lookup(j->hosts[i], j->ports[i], &j->results[i]);
                if (j->errors[i] != 0 && j->fallbacks[i].addr.sa.sa_family != AF_UNSPEC) {
                        j->results[i] = j->fallbacks[i];
                        j->fell_back[i] = j->errors[i];
                        j->errors[i] = 0;
                }
        }
        /* The eventfd write publishes the results to the loop thread. */
        uint64_t one = 1;
        (void) !write(j->efd, &one, sizeof(one));
        job_unref(j);
        return NULL;
}

TunnelResolve *tunnel_resolve_free(TunnelResolve *t) {
        if (!t)
                return NULL;
        sd_event_source_disable_unref(t->io);
        sd_event_source_disable_unref(t->timer);
        sd_event_source_disable_unref(t->defer);
        if (t->names) {
                for (size_t i = 0; t->job && i < t->job->n; i++)
                        free(t->names[i]);
                free(t->names);
        }
        job_unref(t->job);
        free(t);
        return NULL;
}

/* "peer 1 (abcd…): ... using the last address that worked, 192.0.2.7:51820" for each peer
 * that fell back; empty when none did. */
static void fallback_message(TunnelResolve *t) {
        ResolveJob *j = t->job;
        for (size_t i = 0; i < j->n; i++) {
                char a[UAPI_ENDPOINT_MAX];
                if (!j->fell_back[i])
                        continue;
                if (uapi_endpoint_format(&j->results[i].addr, a, sizeof(a)) < 0)
                        snprintf(a, sizeof(a), "?");
                size_t len = strlen(t->message);
                snprintf(t->message + len, sizeof(t->message) - len,
                         "%speer %zu (%s): cannot resolve endpoint host \"%s\" (%s): using its "
                         "last address that worked, %s",
                         len ? "; " : "", i + 1, t->names[i], j->hosts[i],
                         gai_strerror(j->fell_back[i]), a);
        }
}

static void resolve_finish(TunnelResolve *t, int error) {
        TunnelResolveHandler cb = t->cb;
        t->cb = NULL;
        if (cb)
                cb(error, error < 0 ? NULL : t->job->results, t->job->n, t->message, t->userdata);
        tunnel_resolve_free(t);
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        TunnelResolve *t = userdata;
        ResolveJob *j = t->job;
        for (size_t i = 0; i < j->n; i++)
                if (j->hosts[i] && j->errors[i] != 0) {
                        snprintf(t->message, sizeof(t->message),
                                 "peer %zu (%s): cannot resolve endpoint host \"%s\": %s", i + 1,
                                 t->names[i], j->hosts[i], gai_strerror(j->errors[i]));
                        resolve_finish(t, -EHOSTUNREACH);
                        return 0;
                }
        fallback_message(t);
        resolve_finish(t, 0);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        TunnelResolve *t = userdata;
        size_t i = 0;
        while (i < t->job->n && !t->job->hosts[i])
                i++;
        snprintf(t->message, sizeof(t->message),
                 "peer %zu (%s): resolving endpoint host \"%s\" timed out", i + 1,
                 i < t->job->n ? t->names[i] : "?", i < t->job->n ? t->job->hosts[i] : "?");
        resolve_finish(t, -ETIMEDOUT);
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        resolve_finish(userdata, 0);
        return 0;
}

/* The first of the peer's fallback endpoints that is an address and a port. */
static void fallback_set(UapiEndpoint *ret, const Tund__WgPeer *peer) {
        for (size_t k = 0; k < peer->n_fallback_endpoints; k++) {
                const Tund__Endpoint *e = peer->fallback_endpoints[k];
                if (e->port == 0 || e->port > UINT16_MAX)
                        continue;
                if (e->address.len == 4) {
                        ret->addr.in.sin_family = AF_INET;
                        memcpy(&ret->addr.in.sin_addr, e->address.data, 4);
                        ret->addr.in.sin_port = htons((uint16_t) e->port);
                        return;
                }
                if (e->address.len == 16) {
                        ret->addr.in6.sin6_family = AF_INET6;
                        memcpy(&ret->addr.in6.sin6_addr, e->address.data, 16);
                        ret->addr.in6.sin6_port = htons((uint16_t) e->port);
                        return;
                }
        }
}

static int job_new(const Tund__WgConfig *cfg, const UapiEndpoint *current, ResolveJob **ret,
                   size_t *ret_names, char ***ret_peer_names, char **ret_error) {
        size_t n = cfg->n_peers, need = 0;
        ResolveJob *j = calloc(1, sizeof(*j));
        char **names = calloc(MAX(n, (size_t) 1), sizeof(char *));
        if (!j || !names) {
                free(j);
                free(names);
                return -ENOMEM;
        }
        atomic_init(&j->refs, 1);
        j->efd = -EBADF;
        j->n = n;
        j->hosts = calloc(MAX(n, (size_t) 1), sizeof(char *));
        j->ports = calloc(MAX(n, (size_t) 1), sizeof(uint16_t));
        j->results = calloc(MAX(n, (size_t) 1), sizeof(UapiEndpoint));
        j->errors = calloc(MAX(n, (size_t) 1), sizeof(int));
        j->fallbacks = calloc(MAX(n, (size_t) 1), sizeof(UapiEndpoint));
        j->fell_back = calloc(MAX(n, (size_t) 1), sizeof(int));
        int r = j->hosts && j->ports && j->results && j->errors && j->fallbacks && j->fell_back
                        ? 0
                        : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *ep = cfg->peers[i]->endpoint;
                char nm[UAPI_PEER_NAME_LEN + 4];
                uapi_peer_name(cfg->peers[i]->public_key, nm);
                if (!(names[i] = strdup(nm))) {
                        r = -ENOMEM;
                        break;
                }
                if (isempty(ep))
                        continue;
                r = uapi_endpoint_split(ep, &j->hosts[i], &j->ports[i]);
                if (r < 0) {
                        if (ret_error && asprintf(ret_error,
                                                  "peer %zu (%s): malformed endpoint \"%s\" "
                                                  "(want host:port or [IPv6]:port)",
                                                  i + 1, nm, ep) < 0)
                                *ret_error = NULL;
                        r = -EINVAL;
                        break;
                }
                if (uapi_endpoint_numeric(j->hosts[i], j->ports[i], &j->results[i].addr) > 0) {
                        free(j->hosts[i]);
                        j->hosts[i] = NULL;
                } else {
                        need++;
                        if (current && current[i].addr.sa.sa_family != AF_UNSPEC)
                                j->fallbacks[i] = current[i];
                        else
                                fallback_set(&j->fallbacks[i], cfg->peers[i]);
                }
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                job_unref(j);
                return r;
        }
        *ret = j;
        *ret_peer_names = names;
        *ret_names = need;
        return 0;
}

static int start_thread(ResolveJob *j) {
        pthread_attr_t attr;
        pthread_t tid;
        sigset_t all, old;

        if (pthread_attr_init(&attr))
                return -ENOMEM;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* The thread must not take our signals (sd-event reads them from a signalfd). */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        atomic_fetch_add(&j->refs, 1);
        int r = pthread_create(&tid, &attr, resolve_thread, j);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r) {
                atomic_fetch_sub(&j->refs, 1);
                return -r;
        }
        return 0;
}

int tunnel_resolve_start(sd_event *e, const Tund__WgConfig *cfg, uint64_t timeout_usec,
                         TunnelResolveHandler cb, void *userdata, TunnelResolve **ret,
                         char **ret_error) {
        return tunnel_resolve_again(e, cfg, NULL, timeout_usec, cb, userdata, ret, ret_error);
}

int tunnel_resolve_again(sd_event *e, const Tund__WgConfig *cfg, const UapiEndpoint *current,
                         uint64_t timeout_usec, TunnelResolveHandler cb, void *userdata,
                         TunnelResolve **ret, char **ret_error) {
        size_t need = 0;
        int r;

        TunnelResolve *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->cb = cb;
        t->userdata = userdata;
        r = job_new(cfg, current, &t->job, &need, &t->names, ret_error);
        if (r < 0) {
                free(t);
                return r;
        }
        if (need == 0)
                r = sd_event_add_defer(e, &t->defer, on_defer, t);
        else {
                t->job->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                r = t->job->efd < 0 ? negative_errno() : 0;
                if (r >= 0)
                        r = sd_event_add_io(e, &t->io, t->job->efd, EPOLLIN, on_done, t);
                if (r >= 0)
                        r = sd_event_add_time_relative(e, &t->timer, CLOCK_MONOTONIC, timeout_usec,
                                                       0, on_timeout, t);
                if (r >= 0)
                        r = start_thread(t->job);
        }
        if (r < 0) {
                t->cb = NULL;
                tunnel_resolve_free(t);
                return r;
        }
        if (ret)
                *ret = t;
        return 0;
}
