/* edge._kernels: the learned ranker's hot loops in C (see edge/core/kernels.py, the facade).
 *
 * Every function takes contiguous numpy arrays of exact dtypes through the buffer protocol and writes
 * into outputs the caller preallocated. Lengths and row indices are checked against their bounds
 * (ValueError, never an out-of-bounds read or write); every Py_buffer is released on every path.
 * The GIL is held throughout (each call costs microseconds) and there is no global state.
 *
 * The answers equal the numpy functions' bit for bit: the same operations in the same order
 * (np.maximum.at keeps the old value only when it is greater; np.bincount adds in entry order; a sum
 * over trees adds in tree order). Transcendental functions and BLAS stay in numpy (see the facade).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* dtype kinds a buffer may have */
enum kind { K_I64, K_I32, K_F64, K_F32 };

#define MAX_BUFFERS 20

/* the buffers one call holds, all released by `release` */
typedef struct {
    Py_buffer views[MAX_BUFFERS];
    int held;
} Buffers;

static void release(Buffers *b) {
    for (int i = 0; i < b->held; i++) {
        PyBuffer_Release(&b->views[i]);
    }
    b->held = 0;
}

static int format_is(const Py_buffer *view, enum kind kind) {
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=') {
        f++;
    } else if (*f == '<') {
        const uint16_t probe = 1;
        if (*(const uint8_t *)&probe != 1) {
            return 0; /* little-endian data on a big-endian machine */
        }
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0') {
        return 0;
    }
    switch (kind) {
    case K_I64:
        return view->itemsize == 8 && (f[0] == 'l' || f[0] == 'q');
    case K_I32:
        return view->itemsize == 4 && (f[0] == 'i' || f[0] == 'l');
    case K_F64:
        return view->itemsize == 8 && f[0] == 'd';
    case K_F32:
        return view->itemsize == 4 && f[0] == 'f';
    }
    return 0;
}

static const char *kind_name(enum kind kind) {
    switch (kind) {
    case K_I64:
        return "int64";
    case K_I32:
        return "int32";
    case K_F64:
        return "float64";
    case K_F32:
        return "float32";
    }
    return "?";
}

/* Hold `obj`'s buffer (C-contiguous, of `kind`, writable if asked); its data and length in items.
 * Returns 0, or -1 with ValueError set. */
static int hold(Buffers *b, PyObject *obj, enum kind kind, int writable, const char *name, void **data,
                Py_ssize_t *length) {
    if (b->held >= MAX_BUFFERS) {
        PyErr_SetString(PyExc_RuntimeError, "edge._kernels: too many buffers");
        return -1;
    }
    Py_buffer *view = &b->views[b->held];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s: expected a C-contiguous%s %s array", name, writable ? " writable" : "",
                     kind_name(kind));
        return -1;
    }
    b->held++;
    if (!format_is(view, kind)) {
        PyErr_Format(PyExc_ValueError, "%s: expected dtype %s, got format %s", name, kind_name(kind),
                     view->format ? view->format : "B");
        return -1;
    }
    *data = view->buf;
    *length = view->len / view->itemsize;
    return 0;
}

static int bad(const char *message) {
    PyErr_SetString(PyExc_ValueError, message);
    return -1;
}

/* ---------------------------------------------------------------------------------------------------- pool */

typedef struct {
    const int64_t *entry_row, *lengths, *source_code, *block_a, *block_b, *history;
    const double *entry_score, *source_weight, *prices, *ease;
    const float *item_facts;
    const int32_t *category_codes;
    int64_t *candidates, *reason;
    double *x, *ratio;
    Py_ssize_t total, n_sources, n_block_a, n_block_b, n_history, n_items;
    Py_ssize_t n_features, width, n_facts, ease_column;
} PoolArgs;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (x != x) {
        return y != y ? 0 : 1; /* NaN last, as np.sort */
    }
    if (y != y) {
        return -1;
    }
    return (x > y) - (x < y);
}

/* The proposed rows' slots: an open-addressing table of `mask + 1` (a power of two, at least twice the entries)
 * keys, so that a call costs what its entries cost whatever the catalog's size (no catalog-length array). */
typedef struct {
    int64_t *keys; /* a row, or -1: empty */
    int64_t *vals; /* the row's slot: -1 pending, -2 blocked, else its candidate index */
    uint64_t mask;
} RowTable;

static uint64_t row_hash(int64_t row, uint64_t mask) {
    return ((uint64_t)row * UINT64_C(0x9E3779B97F4A7C15) >> 32) & mask;
}

/* The table index of `row` (inserted, pending, when `insert` and absent); -1 when absent and not inserted. */
static Py_ssize_t row_find(RowTable *t, int64_t row, int insert) {
    uint64_t h = row_hash(row, t->mask);
    while (t->keys[h] != -1) {
        if (t->keys[h] == row) {
            return (Py_ssize_t)h;
        }
        h = (h + 1) & t->mask;
    }
    if (!insert) {
        return -1;
    }
    t->keys[h] = row;
    t->vals[h] = -1;
    return (Py_ssize_t)h;
}

/* Whether `row` is among the `n` ascending `rows` (a binary search: reads only inside the array). */
static int in_sorted(const int64_t *rows, Py_ssize_t n, int64_t row) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (rows[mid] < row) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && rows[lo] == row;
}

/* The pool's body; returns n candidates, -1 (error set) or -2 (a NaN score or weight: the caller uses numpy).
 * `entry_at` receives each entry's index in `table`. */
static Py_ssize_t pool_body(const PoolArgs *a, RowTable *table, int64_t *entry_at, int64_t *entry_source,
                            double *best, int64_t *winner) {
    const Py_ssize_t n_items = a->n_items, total = a->total, nf = a->n_features;
    Py_ssize_t e = 0;
    for (Py_ssize_t s = 0; s < a->n_sources; s++) {
        if (a->lengths[s] < 0 || a->lengths[s] > total - e) {
            return bad("lengths do not add up to the entries");
        }
        if (a->source_code[s] < 0 || a->source_code[s] >= a->width) {
            return bad("a source column is out of range");
        }
        if (a->source_weight[s] != a->source_weight[s]) {
            return -2;
        }
        for (int64_t j = 0; j < a->lengths[s]; j++) {
            entry_source[e++] = s;
        }
    }
    if (e != total) {
        return bad("lengths do not add up to the entries");
    }
    for (e = 0; e < total; e++) { /* every proposed row, pending */
        int64_t r = a->entry_row[e];
        if (r < 0 || r >= n_items) {
            return bad("a proposed row is out of range");
        }
        if (a->entry_score[e] != a->entry_score[e]) {
            return -2;
        }
        entry_at[e] = row_find(table, r, 1);
    }
    /* blocked rows come ascending (a catalog's out-of-stock set may hold most of a big catalog): each distinct
     * proposed row is looked up in them, so the work grows with the proposals, not with the blocked rows */
    if ((a->n_block_a && (a->block_a[0] < 0 || a->block_a[a->n_block_a - 1] >= n_items)) ||
        (a->n_block_b && (a->block_b[0] < 0 || a->block_b[a->n_block_b - 1] >= n_items))) {
        return bad("a blocked row is out of range");
    }
    Py_ssize_t n = 0;
    for (e = 0; e < total; e++) { /* candidates in order of first proposal */
        int64_t *val = &table->vals[entry_at[e]];
        if (*val == -1) {
            int64_t r = a->entry_row[e];
            if (in_sorted(a->block_a, a->n_block_a, r) || in_sorted(a->block_b, a->n_block_b, r)) {
                *val = -2;
            } else {
                *val = n;
                a->candidates[n++] = r;
            }
        }
    }
    for (e = 0; e < total; e++) {
        int64_t at = table->vals[entry_at[e]];
        if (at < 0) {
            continue;
        }
        int64_t s = entry_source[e];
        double score = a->entry_score[e];
        double *cell = &a->x[at * nf + a->source_code[s]];
        if (!(*cell > score)) { /* np.maximum.at: the old value stays only when greater */
            *cell = score;
        }
        double w = score * a->source_weight[s];
        if (w != w) {
            return -2;
        }
        if (winner[at] < 0 || w > best[at]) { /* the highest weighted score, the first proposer on a tie */
            best[at] = w;
            winner[at] = e;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double *row_x = &a->x[i * nf];
        int64_t row = a->candidates[i];
        a->reason[i] = entry_source[winner[i]];
        int count = 0;
        for (Py_ssize_t c = 0; c < a->width; c++) {
            count += row_x[c] > 0;
        }
        row_x[a->width] = (double)count;
        for (Py_ssize_t j = 0; j < a->n_facts; j++) {
            row_x[a->width + 1 + j] = (double)a->item_facts[row * a->n_facts + j];
        }
        if (a->ease != NULL) {
            row_x[a->ease_column] = a->ease[row];
        }
    }
    const Py_ssize_t nh = a->n_history;
    if (nh > 0 && n > 0) {
        int32_t top = 0;
        for (Py_ssize_t h = 0; h < nh; h++) {
            int64_t r = a->history[h];
            if (r < 0 || r >= n_items) {
                return bad("a history row is out of range");
            }
            int32_t code = a->category_codes[r];
            if (code < 0) {
                return bad("a category code is negative");
            }
            if (h == 0 || code > top) {
                top = code;
            }
        }
        int64_t *counts = PyMem_Calloc((size_t)top + 1, sizeof(int64_t));
        double *past = PyMem_Malloc((size_t)nh * sizeof(double));
        if (counts == NULL || past == NULL) {
            PyMem_Free(counts);
            PyMem_Free(past);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t h = 0; h < nh; h++) {
            counts[a->category_codes[a->history[h]]]++;
            past[h] = a->prices[a->history[h]];
        }
        qsort(past, (size_t)nh, sizeof(double), cmp_double);
        double usual = nh % 2 ? past[nh / 2] : (past[nh / 2 - 1] + past[nh / 2]) / 2;
        const Py_ssize_t affinity = a->width + 1 + a->n_facts;
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t row = a->candidates[i];
            int32_t code = a->category_codes[row];
            a->x[i * nf + affinity] = code >= 0 && code <= top ? (double)counts[code] / (double)nh : 0.0;
            a->ratio[i] = (a->prices[row] + 0.01) / (usual + 0.01);
        }
        PyMem_Free(counts);
        PyMem_Free(past);
    }
    return n;
}

PyDoc_STRVAR(pool_doc,
             "pool(entry_row, entry_score, lengths, source_code, source_weight, block_a, block_b, item_facts,\n"
             "     history, category_codes, prices, ease, candidates, x, reason, ratio, width, ease_column) -> int\n\n"
             "`edge.core.learned.pool_small`'s loops: fills candidates, x (all but the price, history-length and\n"
             "taste columns), reason (source index) and ratio (the price ratio); returns the number of candidates,\n"
             "or -1 when a score or weight is NaN (the caller then computes it in numpy). block_a and block_b, the\n"
             "blocked rows, must be ascending (rows are looked up in them by binary search).");

static PyObject *k_pool(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[16];
    Py_ssize_t width, ease_column;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOnn:pool", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7],
                          &o[8], &o[9], &o[10], &o[11], &o[12], &o[13], &o[14], &o[15], &width, &ease_column)) {
        return NULL;
    }
    Buffers b = {.held = 0};
    PoolArgs a;
    memset(&a, 0, sizeof a);
    Py_ssize_t n_rows, n_scores, n_codes, n_weights, n_facts_all, n_cat, n_prices, n_ease = 0, n_cand, n_x, n_reason,
        n_ratio;
    RowTable table = {.keys = NULL, .vals = NULL, .mask = 0};
    int64_t *entry_at = NULL, *entry_source = NULL, *winner = NULL;
    double *best = NULL;
    PyObject *result = NULL;
    if (hold(&b, o[0], K_I64, 0, "entry_row", (void **)&a.entry_row, &n_rows) ||
        hold(&b, o[1], K_F64, 0, "entry_score", (void **)&a.entry_score, &n_scores) ||
        hold(&b, o[2], K_I64, 0, "lengths", (void **)&a.lengths, &a.n_sources) ||
        hold(&b, o[3], K_I64, 0, "source_code", (void **)&a.source_code, &n_codes) ||
        hold(&b, o[4], K_F64, 0, "source_weight", (void **)&a.source_weight, &n_weights) ||
        hold(&b, o[5], K_I64, 0, "block_a", (void **)&a.block_a, &a.n_block_a) ||
        hold(&b, o[6], K_I64, 0, "block_b", (void **)&a.block_b, &a.n_block_b) ||
        hold(&b, o[7], K_F32, 0, "item_facts", (void **)&a.item_facts, &n_facts_all) ||
        hold(&b, o[8], K_I64, 0, "history", (void **)&a.history, &a.n_history) ||
        hold(&b, o[9], K_I32, 0, "category_codes", (void **)&a.category_codes, &n_cat) ||
        hold(&b, o[10], K_F64, 0, "prices", (void **)&a.prices, &n_prices) ||
        (o[11] != Py_None && hold(&b, o[11], K_F64, 0, "ease", (void **)&a.ease, &n_ease)) ||
        hold(&b, o[12], K_I64, 1, "candidates", (void **)&a.candidates, &n_cand) ||
        hold(&b, o[13], K_F64, 1, "x", (void **)&a.x, &n_x) ||
        hold(&b, o[14], K_I64, 1, "reason", (void **)&a.reason, &n_reason) ||
        hold(&b, o[15], K_F64, 1, "ratio", (void **)&a.ratio, &n_ratio)) {
        goto done;
    }
    a.total = n_rows;
    a.n_items = n_cat;
    a.width = width;
    a.ease_column = ease_column;
    if (n_scores != n_rows || n_codes != a.n_sources || n_weights != a.n_sources) {
        bad("entry_score, source_code and source_weight must match entry_row and lengths");
        goto done;
    }
    if (n_prices != n_cat || (a.ease != NULL && n_ease != n_cat) || n_cat == 0 || n_facts_all % n_cat != 0) {
        bad("item_facts, prices and ease must have one entry per category code");
        goto done;
    }
    a.n_facts = n_facts_all / n_cat;
    if (n_cand != n_rows || n_reason != n_rows || n_ratio != n_rows || n_rows == 0 || n_x % n_rows != 0) {
        bad("candidates, reason, ratio and x must have one row per entry");
        goto done;
    }
    a.n_features = n_x / n_rows;
    if (width < 1 || width + 2 + a.n_facts > a.n_features || ease_column < width + 2 + a.n_facts ||
        ease_column >= a.n_features) {
        bad("width or ease_column do not fit the feature columns");
        goto done;
    }
    uint64_t size = 16;
    while (size < 2 * (uint64_t)n_rows) {
        size *= 2;
    }
    table.mask = size - 1;
    table.keys = PyMem_Malloc((size_t)size * sizeof(int64_t));
    table.vals = PyMem_Malloc((size_t)size * sizeof(int64_t));
    entry_at = PyMem_Malloc((size_t)n_rows * sizeof(int64_t));
    entry_source = PyMem_Malloc((size_t)n_rows * sizeof(int64_t));
    winner = PyMem_Malloc((size_t)n_rows * sizeof(int64_t));
    best = PyMem_Malloc((size_t)n_rows * sizeof(double));
    if (table.keys == NULL || table.vals == NULL || entry_at == NULL || entry_source == NULL || winner == NULL ||
        best == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memset(table.keys, 0xff, (size_t)size * sizeof(int64_t)); /* every key -1: empty */
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        winner[i] = -1;
    }
    Py_ssize_t n = pool_body(&a, &table, entry_at, entry_source, best, winner);
    if (n != -1) {
        result = PyLong_FromSsize_t(n < 0 ? -1 : n);
    }
done:
    PyMem_Free(table.keys);
    PyMem_Free(table.vals);
    PyMem_Free(entry_at);
    PyMem_Free(entry_source);
    PyMem_Free(winner);
    PyMem_Free(best);
    release(&b);
    return result;
}

/* ------------------------------------------------------------------------------------------------- predict */

PyDoc_STRVAR(predict_doc,
             "predict(x, feature, threshold, node_rows, leaf, out) -> None\n\n"
             "`Trees.predict`'s table form: per tree and row, the code of its comparisons (bit b: the split at\n"
             "node_rows[b * n_trees + t] is above its threshold; a row equal to len(feature) is always false), the\n"
             "tree's leaf for that code; out = the sum over the trees in their order.");

static PyObject *k_predict(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[6];
    if (!PyArg_ParseTuple(args, "OOOOOO:predict", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5])) {
        return NULL;
    }
    Buffers b = {.held = 0};
    const double *x, *threshold, *leaf;
    const int64_t *feature, *node_rows;
    double *out, *columns = NULL;
    uint8_t *above = NULL;
    Py_ssize_t n_x, n_splits, n_threshold, n_nodes, n_leaf, n;
    PyObject *result = NULL;
    if (hold(&b, o[0], K_F64, 0, "x", (void **)&x, &n_x) ||
        hold(&b, o[1], K_I64, 0, "feature", (void **)&feature, &n_splits) ||
        hold(&b, o[2], K_F64, 0, "threshold", (void **)&threshold, &n_threshold) ||
        hold(&b, o[3], K_I64, 0, "node_rows", (void **)&node_rows, &n_nodes) ||
        hold(&b, o[4], K_F64, 0, "leaf", (void **)&leaf, &n_leaf) ||
        hold(&b, o[5], K_F64, 1, "out", (void **)&out, &n)) {
        goto done;
    }
    const Py_ssize_t nodes = 8; /* comparisons per tree: edge.core.learned._TABLE_NODES */
    if (n_threshold != n_splits || n_nodes % nodes != 0 || n_nodes == 0) {
        bad("threshold must match feature, node_rows must hold 8 comparisons per tree");
        goto done;
    }
    const Py_ssize_t n_trees = n_nodes / nodes;
    if (n_leaf % n_trees != 0) {
        bad("leaf must hold one table per tree");
        goto done;
    }
    const Py_ssize_t codes = n_leaf / n_trees;
    if (n == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (n_x % n != 0) {
        bad("x must have one row per output");
        goto done;
    }
    const Py_ssize_t width = n_x / n;
    for (Py_ssize_t s = 0; s < n_splits; s++) {
        if (feature[s] < 0 || feature[s] >= width) {
            bad("a split's feature is out of range");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n_nodes; i++) {
        if (node_rows[i] < 0 || node_rows[i] > n_splits) {
            bad("a node's split is out of range");
            goto done;
        }
    }
    /* every tree's largest code (its real comparisons all true) must have a leaf */
    for (Py_ssize_t t = 0; t < n_trees; t++) {
        Py_ssize_t largest = 0;
        for (Py_ssize_t bit = 0; bit < nodes; bit++) {
            largest |= (Py_ssize_t)(node_rows[bit * n_trees + t] < n_splits) << bit;
        }
        if (largest >= codes) {
            bad("a tree's codes go beyond its leaf table");
            goto done;
        }
    }
    /* x's columns, then every distinct split compared once for all rows (a last row of zeros: the padding),
     * then per tree a code per row from its comparisons' rows: loops down contiguous columns */
    columns = PyMem_Malloc((size_t)n_x * sizeof(double));
    above = PyMem_Malloc((size_t)(n_splits + 1) * (size_t)n + (size_t)n);
    if (columns == NULL || above == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        for (Py_ssize_t f = 0; f < width; f++) {
            columns[f * n + i] = x[i * width + f];
        }
    }
    for (Py_ssize_t s = 0; s < n_splits; s++) {
        const double *column = &columns[feature[s] * n];
        const double limit = threshold[s];
        uint8_t *mark = &above[s * n];
        for (Py_ssize_t i = 0; i < n; i++) {
            mark[i] = column[i] > limit;
        }
    }
    memset(&above[n_splits * n], 0, (size_t)n);
    uint8_t *code = &above[(n_splits + 1) * n];
    for (Py_ssize_t t = 0; t < n_trees; t++) {
        const uint8_t *m[8];
        for (Py_ssize_t bit = 0; bit < nodes; bit++) {
            m[bit] = &above[node_rows[bit * n_trees + t] * n];
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            code[i] = (uint8_t)(m[0][i] | m[1][i] << 1 | m[2][i] << 2 | m[3][i] << 3 | m[4][i] << 4 | m[5][i] << 5 |
                                m[6][i] << 6 | m[7][i] << 7);
        }
        const double *table = &leaf[t * codes];
        if (t == 0) { /* numpy's sum over the trees (axis 0) starts from the first tree's value, then adds in order */
            for (Py_ssize_t i = 0; i < n; i++) {
                out[i] = table[code[i]];
            }
        } else {
            for (Py_ssize_t i = 0; i < n; i++) {
                out[i] += table[code[i]];
            }
        }
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(columns);
    PyMem_Free(above);
    release(&b);
    return result;
}

/* --------------------------------------------------------------------------------------------------- order */

/* a before b: larger shown first (NaN last), then the lower row, then the lower index (np.lexsort is stable) */
static int before(const double *shown, const int64_t *rows, int64_t a, int64_t b) {
    double sa = shown[a], sb = shown[b];
    int na = sa != sa, nb = sb != sb;
    if (na != nb) {
        return nb;
    }
    if (!na && sa != sb) {
        return sa > sb;
    }
    if (rows[a] != rows[b]) {
        return rows[a] < rows[b];
    }
    return a < b;
}

PyDoc_STRVAR(order_doc, "order(shown, rows, out) -> None\n\n"
                        "out = np.lexsort((rows, -shown)): the best shown first, the lower row on a tie.");

static PyObject *k_order(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[3];
    if (!PyArg_ParseTuple(args, "OOO:order", &o[0], &o[1], &o[2])) {
        return NULL;
    }
    Buffers b = {.held = 0};
    const double *shown;
    const int64_t *rows;
    int64_t *out, *scratch = NULL;
    Py_ssize_t n, n_rows, n_out;
    PyObject *result = NULL;
    if (hold(&b, o[0], K_F64, 0, "shown", (void **)&shown, &n) ||
        hold(&b, o[1], K_I64, 0, "rows", (void **)&rows, &n_rows) ||
        hold(&b, o[2], K_I64, 1, "out", (void **)&out, &n_out)) {
        goto done;
    }
    if (n_rows != n || n_out != n) {
        bad("shown, rows and out must have the same length");
        goto done;
    }
    scratch = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* insertion sort of runs of 16, then bottom-up merges (the order is total: any sort gives the same answer) */
    const Py_ssize_t run = 16;
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = i;
    }
    for (Py_ssize_t lo = 0; lo < n; lo += run) {
        Py_ssize_t hi = lo + run < n ? lo + run : n;
        for (Py_ssize_t i = lo + 1; i < hi; i++) {
            int64_t v = out[i];
            Py_ssize_t j = i;
            while (j > lo && before(shown, rows, v, out[j - 1])) {
                out[j] = out[j - 1];
                j--;
            }
            out[j] = v;
        }
    }
    int64_t *src = out, *dst = scratch;
    for (Py_ssize_t w = run; w < n; w *= 2) {
        for (Py_ssize_t lo = 0; lo < n; lo += 2 * w) {
            Py_ssize_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            Py_ssize_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                dst[k++] = before(shown, rows, src[j], src[i]) ? src[j++] : src[i++];
            }
            while (i < mid) {
                dst[k++] = src[i++];
            }
            while (j < hi) {
                dst[k++] = src[j++];
            }
        }
        int64_t *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != out) {
        memcpy(out, src, (size_t)n * sizeof(int64_t));
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(scratch);
    release(&b);
    return result;
}

/* ---------------------------------------------------------------------------------------------------- ease */

PyDoc_STRVAR(ease_doc, "ease_scores(ease_rows, ease_weights, recent, decay, out) -> int\n\n"
                       "`edge.core.learned.ease_scores` for a dense EASE table: out (zeros, one per item) += each\n"
                       "recent row's EASE weights times its decay (float32 products, added in order), then the\n"
                       "recent rows themselves set to 0; returns the number of terms added.");

static PyObject *k_ease_scores(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[5];
    if (!PyArg_ParseTuple(args, "OOOOO:ease_scores", &o[0], &o[1], &o[2], &o[3], &o[4])) {
        return NULL;
    }
    Buffers b = {.held = 0};
    const int32_t *ease_rows;
    const float *ease_weights, *decay;
    const int64_t *recent;
    double *out;
    Py_ssize_t n_rows, n_weights, n_recent, n_decay, n_items;
    PyObject *result = NULL;
    if (hold(&b, o[0], K_I32, 0, "ease_rows", (void **)&ease_rows, &n_rows) ||
        hold(&b, o[1], K_F32, 0, "ease_weights", (void **)&ease_weights, &n_weights) ||
        hold(&b, o[2], K_I64, 0, "recent", (void **)&recent, &n_recent) ||
        hold(&b, o[3], K_F32, 0, "decay", (void **)&decay, &n_decay) ||
        hold(&b, o[4], K_F64, 1, "out", (void **)&out, &n_items)) {
        goto done;
    }
    if (n_weights != n_rows || n_decay != n_recent || n_items == 0 || n_rows % n_items != 0) {
        bad("ease_weights must match ease_rows (one row per item), decay must match recent");
        goto done;
    }
    const Py_ssize_t k = n_rows / n_items;
    for (Py_ssize_t j = 0; j < n_recent; j++) {
        if (recent[j] < 0 || recent[j] >= n_items) {
            bad("a recent row is out of range");
            goto done;
        }
    }
    Py_ssize_t terms = 0;
    for (Py_ssize_t j = 0; j < n_recent; j++) {
        const int32_t *rows = &ease_rows[recent[j] * k];
        const float *weights = &ease_weights[recent[j] * k];
        for (Py_ssize_t c = 0; c < k; c++) {
            int32_t row = rows[c];
            if (row < 0) {
                continue;
            }
            if (row >= n_items) {
                bad("an EASE row is out of range");
                goto done;
            }
            float product = weights[c] * decay[j];
            out[row] += (double)product;
            terms++;
        }
    }
    for (Py_ssize_t j = 0; j < n_recent; j++) {
        out[recent[j]] = 0.0;
    }
    result = PyLong_FromSsize_t(terms);
done:
    release(&b);
    return result;
}

/* ------------------------------------------------------------------------------------------------- similar */

PyDoc_STRVAR(similar_doc,
             "similar(found_rows, found_scores, k, codes, n_categories, per_category, first_blocked, second_blocked,\n"
             "        skip) -> (rows, scores)\n\n"
             "`edge.core.recommend._similar_source_quick`'s loop: the first k found rows whose category (codes, int32)\n"
             "has fewer than per_category chosen and that are in none of the three containers, their scores clipped\n"
             "to [0, 1]. The rows are the found row objects; the containers are asked with `in`.");

static PyObject *k_similar(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *found_rows, *found_scores, *codes_obj, *first, *second, *skip;
    Py_ssize_t k, n_categories, per_category;
    if (!PyArg_ParseTuple(args, "OOnOnnOOO:similar", &found_rows, &found_scores, &k, &codes_obj, &n_categories,
                          &per_category, &first, &second, &skip)) {
        return NULL;
    }
    Buffers b = {.held = 0};
    const int32_t *codes;
    Py_ssize_t n_items;
    PyObject *rows = NULL, *scores = NULL, *out_rows = NULL, *out_scores = NULL, *result = NULL;
    Py_ssize_t *counts = NULL;
    if (hold(&b, codes_obj, K_I32, 0, "codes", (void **)&codes, &n_items)) {
        goto done;
    }
    rows = PySequence_Fast(found_rows, "found rows must be a sequence");
    scores = rows == NULL ? NULL : PySequence_Fast(found_scores, "found scores must be a sequence");
    if (scores == NULL) {
        goto done;
    }
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(rows);
    if (PySequence_Fast_GET_SIZE(scores) != n || n_categories < 0) {
        bad("found rows and scores must have the same length, n_categories >= 0");
        goto done;
    }
    counts = PyMem_Calloc((size_t)(n_categories ? n_categories : 1), sizeof(Py_ssize_t));
    out_rows = PyList_New(0);
    out_scores = PyList_New(0);
    if (counts == NULL || out_rows == NULL || out_scores == NULL) {
        if (counts == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    PyObject **row_items = PySequence_Fast_ITEMS(rows), **score_items = PySequence_Fast_ITEMS(scores);
    PyObject *containers[3] = {first, second, skip};
    for (Py_ssize_t at = 0; at < n; at++) {
        PyObject *row = row_items[at];
        Py_ssize_t r = PyLong_AsSsize_t(row);
        if (r == -1 && PyErr_Occurred()) {
            goto done;
        }
        if (r < 0 || r >= n_items) {
            bad("a found row is out of range");
            goto done;
        }
        int32_t category = codes[r];
        if (category < 0 || category >= n_categories) {
            bad("a category code is out of range");
            goto done;
        }
        if (counts[category] >= per_category) { /* the cap first: a found list runs deep into full categories */
            continue;
        }
        int taken = 0;
        for (int c = 0; c < 3 && !taken; c++) {
            taken = PySequence_Contains(containers[c], row);
            if (taken < 0) {
                goto done;
            }
        }
        if (taken) {
            continue;
        }
        counts[category]++;
        double score = PyFloat_AsDouble(score_items[at]);
        if (score == -1.0 && PyErr_Occurred()) {
            goto done;
        }
        score = score > 0.0 ? score : 0.0; /* min(1.0, max(0.0, score)) */
        score = score < 1.0 ? score : 1.0;
        PyObject *clipped = PyFloat_FromDouble(score);
        if (clipped == NULL || PyList_Append(out_rows, row) < 0 || PyList_Append(out_scores, clipped) < 0) {
            Py_XDECREF(clipped);
            goto done;
        }
        Py_DECREF(clipped);
        if (PyList_GET_SIZE(out_rows) >= k) {
            break;
        }
    }
    result = PyTuple_Pack(2, out_rows, out_scores);
done:
    PyMem_Free(counts);
    Py_XDECREF(rows);
    Py_XDECREF(scores);
    Py_XDECREF(out_rows);
    Py_XDECREF(out_scores);
    release(&b);
    return result;
}

/* --------------------------------------------------------------------------------------------- ease_source */

typedef struct {
    double value;
    Py_ssize_t row;
} Scored;

static int cmp_scored_desc(const void *a, const void *b) {
    double x = ((const Scored *)a)->value, y = ((const Scored *)b)->value;
    return (x < y) - (x > y);
}

PyDoc_STRVAR(ease_source_doc,
             "ease_source(scores, k, skip) -> (status, rows, values)\n\n"
             "`edge.core.learned.ease_source` for dense scores: the k + 65 best by a heap instead of np.argpartition.\n"
             "status -1: numpy must answer (a NaN, fewer scores than k + 65, or a tie among the positive best that\n"
             "np.argpartition's order would settle); 0: no source (the best score is not positive); 1: rows and\n"
             "values (score / best) of the source.");

static PyObject *k_ease_source(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *scores_obj, *skip;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OnO:ease_source", &scores_obj, &k, &skip)) {
        return NULL;
    }
    Buffers b = {.held = 0};
    const double *scores;
    Py_ssize_t n_items;
    Scored *heap = NULL;
    PyObject *out_rows = NULL, *out_values = NULL, *result = NULL;
    long status = -1;
    if (hold(&b, scores_obj, K_F64, 0, "scores", (void **)&scores, &n_items)) {
        goto done;
    }
    const Py_ssize_t n = k + 64 < n_items ? k + 64 : n_items; /* what numpy keeps of np.argpartition */
    out_rows = PyList_New(0);
    out_values = PyList_New(0);
    if (out_rows == NULL || out_values == NULL) {
        goto done;
    }
    if (n < 1 || n >= n_items) {
        goto answer;
    }
    const Py_ssize_t m = n + 1; /* one more: a tie at the boundary would leave the choice to np.argpartition */
    heap = PyMem_Malloc((size_t)m * sizeof(Scored));
    if (heap == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n_items; i++) { /* a min-heap of the m largest */
        double v = scores[i];
        if (v != v) {
            goto answer;
        }
        Py_ssize_t j;
        if (size < m) {
            for (j = size++; j > 0 && heap[(j - 1) / 2].value > v; j = (j - 1) / 2) {
                heap[j] = heap[(j - 1) / 2];
            }
        } else if (v > heap[0].value) {
            j = 0;
            for (;;) {
                Py_ssize_t c = 2 * j + 1;
                if (c >= m) {
                    break;
                }
                if (c + 1 < m && heap[c + 1].value < heap[c].value) {
                    c++;
                }
                if (heap[c].value >= v) {
                    break;
                }
                heap[j] = heap[c];
                j = c;
            }
        } else {
            continue;
        }
        heap[j].value = v;
        heap[j].row = i;
    }
    qsort(heap, (size_t)size, sizeof(Scored), cmp_scored_desc);
    for (Py_ssize_t j = 1; j < size; j++) {
        if (heap[j].value > 0 && heap[j].value == heap[j - 1].value) {
            goto answer; /* np.argpartition's order among equal scores would decide */
        }
    }
    const double best = heap[0].value;
    if (!(best > 0)) {
        status = 0;
        goto answer;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        double score = heap[j].value;
        if (score <= 0) {
            break;
        }
        PyObject *row = PyLong_FromSsize_t(heap[j].row);
        if (row == NULL) {
            goto done;
        }
        int skipped = PySequence_Contains(skip, row);
        PyObject *value = skipped ? NULL : PyFloat_FromDouble(score / best);
        if (skipped < 0 || (!skipped && (value == NULL || PyList_Append(out_rows, row) < 0 ||
                                         PyList_Append(out_values, value) < 0))) {
            Py_DECREF(row);
            Py_XDECREF(value);
            goto done;
        }
        Py_DECREF(row);
        Py_XDECREF(value);
        if (!skipped && PyList_GET_SIZE(out_rows) >= k) {
            break;
        }
    }
    status = 1;
answer:
    result = Py_BuildValue("(lOO)", status, out_rows, out_values);
done:
    PyMem_Free(heap);
    Py_XDECREF(out_rows);
    Py_XDECREF(out_values);
    release(&b);
    return result;
}

/* ------------------------------------------------------------------------------------------- ease_sparse */

/* Where `row` is among the `n` ascending int32 `rows` (a binary search), -1 when it is not. */
static Py_ssize_t position32(const int32_t *rows, Py_ssize_t n, int64_t row) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (rows[mid] < row) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && rows[lo] == row ? lo : -1;
}

typedef struct {
    int64_t row;
    double score;
} RowScore;

static int cmp_row_score(const void *a, const void *b) {
    int64_t x = ((const RowScore *)a)->row, y = ((const RowScore *)b)->row;
    return (x > y) - (x < y);
}

PyDoc_STRVAR(ease_sparse_doc,
             "ease_sparse(ease_items, ease_rows, ease_weights, recent, decay, found, scores) -> int\n\n"
             "`edge.core.learned.ease_scores_sparse`: each recent row's EASE row (found in the ascending ease_items;\n"
             "none when absent), its weights times the row's decay (float32 products) summed per catalog row in\n"
             "order, the recent rows themselves set to 0; found (int32) gets the rows ascending and scores their\n"
             "sums; returns how many. found and scores need room for every term (len(recent) x the EASE width).");

static PyObject *k_ease_sparse(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *o[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO:ease_sparse", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6])) {
        return NULL;
    }
    Buffers b = {.held = 0};
    const int32_t *ease_items, *ease_rows;
    const float *ease_weights, *decay;
    const int64_t *recent;
    int32_t *found;
    double *scores;
    Py_ssize_t n_ease, n_rows, n_weights, n_recent, n_decay, n_found, n_scores;
    PyObject *result = NULL;
    RowTable table = {.keys = NULL, .vals = NULL, .mask = 0};
    double *sums = NULL;
    RowScore *pairs = NULL;
    if (hold(&b, o[0], K_I32, 0, "ease_items", (void **)&ease_items, &n_ease) ||
        hold(&b, o[1], K_I32, 0, "ease_rows", (void **)&ease_rows, &n_rows) ||
        hold(&b, o[2], K_F32, 0, "ease_weights", (void **)&ease_weights, &n_weights) ||
        hold(&b, o[3], K_I64, 0, "recent", (void **)&recent, &n_recent) ||
        hold(&b, o[4], K_F32, 0, "decay", (void **)&decay, &n_decay) ||
        hold(&b, o[5], K_I32, 1, "found", (void **)&found, &n_found) ||
        hold(&b, o[6], K_F64, 1, "scores", (void **)&scores, &n_scores)) {
        goto done;
    }
    if (n_ease == 0 || n_weights != n_rows || n_rows % n_ease != 0 || n_decay != n_recent) {
        bad("ease_rows and ease_weights must have one row per EASE item, decay one value per recent row");
        goto done;
    }
    const Py_ssize_t k = n_rows / n_ease;
    if (n_scores != n_found || n_found < n_recent * k) {
        bad("found and scores must have room for every term");
        goto done;
    }
    uint64_t size = 16;
    while (size < 2 * (uint64_t)(n_recent * k)) {
        size *= 2;
    }
    table.mask = size - 1;
    table.keys = PyMem_Malloc((size_t)size * sizeof(int64_t));
    table.vals = PyMem_Malloc((size_t)size * sizeof(int64_t)); /* the sum's index in `sums` */
    sums = PyMem_Malloc((size_t)(n_recent * k + 1) * sizeof(double));
    if (table.keys == NULL || table.vals == NULL || sums == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memset(table.keys, 0xff, (size_t)size * sizeof(int64_t));
    Py_ssize_t n = 0;
    for (Py_ssize_t j = 0; j < n_recent; j++) {
        Py_ssize_t lo = position32(ease_items, n_ease, recent[j]); /* the recent row's EASE row */
        if (lo < 0) {
            continue;
        }
        for (Py_ssize_t c = 0; c < k; c++) {
            int32_t row = ease_rows[lo * k + c];
            if (row < 0) {
                continue;
            }
            float product = ease_weights[lo * k + c] * decay[j];
            Py_ssize_t at = row_find(&table, row, 1);
            if (table.vals[at] == -1) { /* new: its sum starts at 0.0, as np.bincount's */
                table.vals[at] = n;
                sums[n++] = 0.0;
            }
            sums[table.vals[at]] += (double)product;
        }
    }
    pairs = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(RowScore));
    if (pairs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t m = 0;
    for (uint64_t h = 0; h < size; h++) {
        if (table.keys[h] != -1) {
            pairs[m].row = table.keys[h];
            pairs[m].score = sums[table.vals[h]];
            m++;
        }
    }
    qsort(pairs, (size_t)m, sizeof(RowScore), cmp_row_score);
    for (Py_ssize_t i = 0; i < m; i++) {
        found[i] = (int32_t)pairs[i].row;
        scores[i] = pairs[i].score;
    }
    for (Py_ssize_t j = 0; j < n_recent; j++) { /* the history itself scores 0 */
        Py_ssize_t at = position32(found, m, recent[j]);
        if (at >= 0) {
            scores[at] = 0.0;
        }
    }
    result = PyLong_FromSsize_t(m);
done:
    PyMem_Free(table.keys);
    PyMem_Free(table.vals);
    PyMem_Free(sums);
    PyMem_Free(pairs);
    release(&b);
    return result;
}

static PyMethodDef methods[] = {
    {"pool", k_pool, METH_VARARGS, pool_doc},
    {"predict", k_predict, METH_VARARGS, predict_doc},
    {"order", k_order, METH_VARARGS, order_doc},
    {"ease_scores", k_ease_scores, METH_VARARGS, ease_doc},
    {"similar", k_similar, METH_VARARGS, similar_doc},
    {"ease_source", k_ease_source, METH_VARARGS, ease_source_doc},
    {"ease_sparse", k_ease_sparse, METH_VARARGS, ease_sparse_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "edge._kernels", "The learned ranker's hot loops in C (edge/core/kernels.py).", 0, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModuleDef_Init(&module); }
