/* Sets of kernel objects (NetcfgObjects), the same verbs for every kind: the kind table
 * (netcfg_kinds[]) says how each kind compares, sorts, is written and recorded. */
#include <stddef.h>
#include <stdlib.h>

#include "netcfg-internal.h"

const NetcfgKindOps *const netcfg_kinds[_NETCFG_KIND_MAX] = {
        [NETCFG_KIND_ADDRESS] = &netcfg_address_kind,
        [NETCFG_KIND_ROUTE] = &netcfg_route_kind,
        [NETCFG_KIND_RULE] = &netcfg_rule_kind,
};

/* The typed members and the arrays index the same storage (netcfg-internal.h). */
#define SAME_SLOT(member, array, kind)                                                             \
        _Static_assert(offsetof(NetcfgObjects, member) ==                                          \
                               offsetof(NetcfgObjects, array) +                                    \
                                       (kind) * sizeof(((NetcfgObjects *) 0)->array[0]),           \
                       #member " is " #array "[" #kind "]")
SAME_SLOT(addresses, items, NETCFG_KIND_ADDRESS);
SAME_SLOT(routes, items, NETCFG_KIND_ROUTE);
SAME_SLOT(rules, items, NETCFG_KIND_RULE);
SAME_SLOT(n_addresses, n, NETCFG_KIND_ADDRESS);
SAME_SLOT(n_routes, n, NETCFG_KIND_ROUTE);
SAME_SLOT(n_rules, n, NETCFG_KIND_RULE);

void *netcfg_objects_at(const NetcfgObjects *o, NetcfgKind k, size_t i) {
        return (uint8_t *) o->items[k] + i * netcfg_kinds[k]->size;
}

void netcfg_objects_done(NetcfgObjects *o) {
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                free(o->items[k]);
        *o = (NetcfgObjects){};
}

size_t netcfg_objects_count(const NetcfgObjects *o) {
        size_t n = 0;
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                n += o->n[k];
        return n;
}

/* Empty sets with room for as many objects of each kind as shape has (and never a NULL
 * array, so that callers may index them without checking). */
int netcfg_objects_alloc_like(const NetcfgObjects *shape, NetcfgObjects *ret) {
        NetcfgObjects o = {};
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++) {
                o.items[k] = calloc(shape->n[k] + 1, netcfg_kinds[k]->size);
                if (!o.items[k]) {
                        netcfg_objects_done(&o);
                        return -ENOMEM;
                }
        }
        *ret = o;
        return 0;
}

/* Appends one object to a set allocated by alloc_like() for at least this many. */
static void put(NetcfgObjects *o, NetcfgKind k, const void *obj) {
        memcpy(netcfg_objects_at(o, k, o->n[k]++), obj, netcfg_kinds[k]->size);
}

int netcfg_objects_push(NetcfgObjects *o, NetcfgKind k, const void *obj) {
        void *a = array_append_size(&o->items[k], &o->n[k], netcfg_kinds[k]->size);
        if (!a)
                return -ENOMEM;
        memcpy(a, obj, netcfg_kinds[k]->size);
        return 0;
}

int netcfg_objects_copy(const NetcfgObjects *src, NetcfgObjects *dst) {
        NetcfgObjects o;
        int r = netcfg_objects_alloc_like(src, &o);
        if (r < 0)
                return r;
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++) {
                memcpy_safe(o.items[k], src->items[k], src->n[k] * netcfg_kinds[k]->size);
                o.n[k] = src->n[k];
        }
        *dst = o;
        return 0;
}

void netcfg_objects_sort(NetcfgObjects *o) {
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                if (netcfg_kinds[k]->sorted_cmp && o->n[k] > 1)
                        qsort(o->items[k], o->n[k], netcfg_kinds[k]->size,
                              netcfg_kinds[k]->sorted_cmp);
}

/* Whether b holds an object equal to a's i-th of kind k; *j is the merge position for kinds
 * kept sorted (both sets in order), advanced monotonically. */
static bool contains(const NetcfgObjects *a, size_t i, const NetcfgObjects *b, NetcfgKind k,
                     size_t *j) {
        const NetcfgKindOps *ops = netcfg_kinds[k];
        const void *x = netcfg_objects_at(a, k, i);

        if (ops->sorted_cmp) {
                int c = 1;
                while (*j < b->n[k] && (c = ops->sorted_cmp(netcfg_objects_at(b, k, *j), x)) < 0)
                        (*j)++;
                return *j < b->n[k] && c == 0;
        }
        for (size_t m = 0; m < b->n[k]; m++)
                if (ops->equal(x, netcfg_objects_at(b, k, m)))
                        return true;
        return false;
}

int netcfg_objects_subtract(const NetcfgObjects *a, const NetcfgObjects *b, NetcfgObjects *ret) {
        NetcfgObjects o;
        int r = netcfg_objects_alloc_like(a, &o);
        if (r < 0)
                return r;
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++) {
                size_t j = 0;
                for (size_t i = 0; i < a->n[k]; i++)
                        if (!contains(a, i, b, k, &j))
                                put(&o, k, netcfg_objects_at(a, k, i));
        }
        *ret = o;
        return 0;
}

int netcfg_objects_append(NetcfgObjects *a, const NetcfgObjects *b) {
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++) {
                size_t size = netcfg_kinds[k]->size;
                void *v = reallocarray(a->items[k], a->n[k] + b->n[k] + 1, size);
                if (!v)
                        return -ENOMEM;
                a->items[k] = v;
                memcpy_safe((uint8_t *) v + a->n[k] * size, b->items[k], b->n[k] * size);
                a->n[k] += b->n[k];
        }
        netcfg_objects_sort(a);
        return 0;
}

int netcfg_objects_select(const NetcfgObjects *o, const NetcfgOpResult *res, int want,
                          NetcfgObjects *ret) {
        NetcfgObjects s;
        int r = netcfg_objects_alloc_like(o, &s);
        if (r < 0)
                return r;
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                for (size_t i = 0; i < o->n[k]; i++)
                        if (res->v[k][i] == want)
                                put(&s, k, netcfg_objects_at(o, k, i));
        *ret = s;
        return 0;
}

void netcfg_op_result_done(NetcfgOpResult *r) {
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                free(r->v[k]);
        *r = (NetcfgOpResult){};
}

int netcfg_op_result_new(const NetcfgObjects *o, NetcfgOpResult *ret) {
        NetcfgOpResult r = {};
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++) {
                r.v[k] = malloc((o->n[k] + 1) * sizeof(int));
                if (!r.v[k]) {
                        netcfg_op_result_done(&r);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < o->n[k]; i++)
                        r.v[k][i] = 1;
        }
        *ret = r;
        return 0;
}

size_t netcfg_op_result_count(const NetcfgObjects *o, const NetcfgOpResult *res, int want) {
        size_t n = 0;
        for (NetcfgKind k = 0; k < _NETCFG_KIND_MAX; k++)
                for (size_t i = 0; i < o->n[k]; i++)
                        n += res->v[k][i] == want;
        return n;
}
