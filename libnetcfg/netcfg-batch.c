/* Bounded libmnl batches: messages are built in place, sent when the buffer is full (the
 * message that did not fit moves to the front and the batch resumes), and every message's
 * own ack (one seq each, NLM_F_ACK) is matched back to its tag. Like wireguard-tools' netlink
 * writer, this keeps memory bounded for 10,000 routes while needing one sendmsg() per ~400. */
#include <time.h>

#include "netcfg-internal.h"

struct NetcfgBatch {
        struct mnl_socket *nl; /* borrowed */
        char *buf;
        struct mnl_nlmsg_batch *batch;
        size_t limit;
        uint32_t seq_next;
        uint32_t seq_first; /* seq of the first message in the buffer */
        size_t *tags;       /* tags[i] belongs to seq_first + i */
        size_t n_tags, max_tags;
        netcfg_ack_fn cb;
        void *userdata;
        unsigned n_sends;
};

int netcfg_batch_new(NetcfgBatch **ret, struct mnl_socket *nl, size_t limit, netcfg_ack_fn cb,
                     void *userdata) {
        NetcfgBatch *b;

        if (limit == 0)
                limit = NETCFG_BATCH_LIMIT_DEFAULT;
        /* One sendmsg() must fit the socket's send buffer (see netcfg_nl_open()). */
        limit = MAX(MIN(limit, NETCFG_BATCH_LIMIT_MAX), NETCFG_NLMSG_MAX);
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        *b = (NetcfgBatch){ .nl = nl, .limit = limit, .cb = cb, .userdata = userdata };
        /* libmnl writes the message that overflows past the limit: leave room for it. Zeroed:
         * attribute alignment padding is not always written by libmnl, and what goes to the
         * kernel must not be uninitialised memory (valgrind, e2e-valgrind.sh). */
        b->buf = calloc(1, limit + NETCFG_NLMSG_MAX);
        b->max_tags = limit / NLMSG_HDRLEN + 2;
        b->tags = calloc(b->max_tags, sizeof(size_t));
        if (b->buf)
                b->batch = mnl_nlmsg_batch_start(b->buf, limit);
        if (!b->buf || !b->tags || !b->batch) {
                netcfg_batch_free(b);
                return -ENOMEM;
        }
        b->seq_next = b->seq_first = (uint32_t) time(NULL);
        *ret = b;
        return 0;
}

NetcfgBatch *netcfg_batch_free(NetcfgBatch *b) {
        if (!b)
                return NULL;
        if (b->batch)
                mnl_nlmsg_batch_stop(b->batch);
        free(b->buf);
        free(b->tags);
        free(b);
        return NULL;
}

void *netcfg_batch_current(NetcfgBatch *b) {
        return mnl_nlmsg_batch_current(b->batch);
}

unsigned netcfg_batch_n_sends(const NetcfgBatch *b) {
        return b->n_sends;
}

static int batch_dispatch(NetcfgBatch *b, const char *buf, size_t len, size_t *pending) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) buf;
        int len_left = (int) len;

        for (; mnl_nlmsg_ok(nlh, len_left); nlh = mnl_nlmsg_next(nlh, &len_left)) {
                uint32_t i = nlh->nlmsg_seq - b->seq_first;
                const char *extack;
                int error, r;

                if (nlh->nlmsg_type != NLMSG_ERROR || i >= b->n_tags)
                        continue; /* not an ack of this batch */
                r = netcfg_nlmsg_parse_ack(nlh, (size_t) len_left, &error, &extack);
                if (r < 0)
                        return r;
                b->cb(b->userdata, b->tags[i], error, extack);
                (*pending)--;
        }
        return 0;
}

/* Sends the first n messages of the buffer and waits for their n acks. */
static int batch_send(NetcfgBatch *b, size_t n) {
        _cleanup_free_ char *rbuf = NULL;
        size_t rsize = MNL_SOCKET_BUFFER_SIZE * 8, pending = n;
        ssize_t k;
        int r;

        if (n == 0)
                return 0;
        rbuf = malloc(rsize);
        if (!rbuf)
                return -ENOMEM;
        k = mnl_socket_sendto(b->nl, mnl_nlmsg_batch_head(b->batch),
                              mnl_nlmsg_batch_size(b->batch));
        if (k < 0)
                return negative_errno();
        b->n_sends++;
        while (pending > 0) {
                k = mnl_socket_recvfrom(b->nl, rbuf, rsize);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno(); /* ENOBUFS: acks were lost */
                r = batch_dispatch(b, rbuf, (size_t) k, &pending);
                if (r < 0)
                        return r;
        }
        return 0;
}

int netcfg_batch_add(NetcfgBatch *b, size_t tag) {
        struct nlmsghdr *nlh = mnl_nlmsg_batch_current(b->batch);
        uint32_t seq = b->seq_next++;
        size_t last;
        bool fit;
        int r;

        nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = seq;
        b->tags[b->n_tags++] = tag;
        fit = mnl_nlmsg_batch_next(b->batch);
        if (fit && b->n_tags < b->max_tags)
                return 0;
        if (fit)
                return netcfg_batch_flush(b);
        /* The new message did not fit: send the others, then resume with it at the front. */
        last = b->tags[b->n_tags - 1];
        r = batch_send(b, b->n_tags - 1);
        mnl_nlmsg_batch_reset(b->batch);
        b->tags[0] = last;
        b->n_tags = 1;
        b->seq_first = seq;
        return r;
}

int netcfg_batch_flush(NetcfgBatch *b) {
        int r;

        r = batch_send(b, b->n_tags);
        mnl_nlmsg_batch_reset(b->batch);
        b->n_tags = 0;
        b->seq_first = b->seq_next;
        return r;
}
