/*
 * Measurement prototype (see ab.mjs, patch-net.mjs): a net.Socket stand-in for the gateway's upstream
 * pool on libuv directly, addressed by small integer ids; reads land in one shared JS buffer with one
 * JS callback per read. Not part of the gateway.
 *   cc -O2 -shared -fPIC -I$(dirname $(which node))/../include/node -DNODE_GYP_MODULE_NAME=transport -o transport.node transport.c
 */
#include <node_api.h>
#include <uv.h>
#include <stdlib.h>
#include <string.h>

enum { EV_CONNECT = 1, EV_EOF = 2, EV_ERROR = 3, EV_DRAIN = 4 };
enum { ST_CONNECTING = 0, ST_OPEN = 1, ST_CLOSING = 2 };

typedef struct conn {
  uv_tcp_t tcp;
  int id;
  int state;
  int reading;     /* reads wanted by JS */
  size_t queued;   /* bytes handed to uv_write and not yet written */
  struct conn *next_free;
} conn_t;

typedef struct { uv_write_t req; size_t len; char data[]; } wreq_t;

static conn_t **conns = NULL;
static int nconns = 0, capconns = 0;
static conn_t *freelist = NULL;
static napi_env genv;
static napi_ref onread_ref, onevent_ref, recv_ref;
static napi_async_context actx;
static char *rbuf; static size_t rlen;
static uv_loop_t *loop;

/* A throwing JS callback becomes an uncaught exception, as it would from net.Socket's callbacks. */
static void rethrow(void) {
  bool pending = false;
  napi_is_exception_pending(genv, &pending);
  if (pending) { napi_value e; napi_get_and_clear_last_exception(genv, &e); napi_fatal_exception(genv, e); }
}

static void emit(conn_t *c, int type, int err) {
  napi_handle_scope scope;
  napi_open_handle_scope(genv, &scope);
  napi_value cb, recv, argv[3], result;
  napi_get_reference_value(genv, onevent_ref, &cb);
  napi_get_reference_value(genv, recv_ref, &recv);
  napi_create_int32(genv, c->id, &argv[0]);
  napi_create_int32(genv, type, &argv[1]);
  if (err) napi_create_string_utf8(genv, uv_err_name(err), NAPI_AUTO_LENGTH, &argv[2]);
  else napi_get_null(genv, &argv[2]);
  if (napi_make_callback(genv, actx, recv, cb, 3, argv, &result) != napi_ok) rethrow();
  napi_close_handle_scope(genv, scope);
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b) { b->base = rbuf; b->len = rlen; }

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = (conn_t *)s->data;
  if (c->state == ST_CLOSING || n == 0) return;
  if (n < 0) {
    uv_read_stop(s);
    c->reading = 0;
    emit(c, n == UV_EOF ? EV_EOF : EV_ERROR, n == UV_EOF ? 0 : (int)n);
    return;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(genv, &scope);
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(genv, onread_ref, &cb);
  napi_get_reference_value(genv, recv_ref, &recv);
  napi_create_int32(genv, c->id, &argv[0]);
  napi_create_int32(genv, (int)n, &argv[1]);
  if (napi_make_callback(genv, actx, recv, cb, 2, argv, &result) == napi_ok) {
    bool keep = true;
    if (napi_get_value_bool(genv, result, &keep) == napi_ok && !keep && c->state == ST_OPEN && c->reading) {
      uv_read_stop(s);
      c->reading = 0;
    }
  } else rethrow();
  napi_close_handle_scope(genv, scope);
}

static void connect_cb(uv_connect_t *req, int status) {
  conn_t *c = (conn_t *)req->data;
  free(req);
  if (c->state == ST_CLOSING) return;
  if (status == 0) {
    c->state = ST_OPEN;
    if (c->reading) uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
  }
  emit(c, EV_CONNECT, status);
}

static void close_cb(uv_handle_t *h) {
  conn_t *c = (conn_t *)h->data;
  c->next_free = freelist;
  freelist = c;
}

static void write_cb(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  conn_t *c = (conn_t *)req->handle->data;
  c->queued -= w->len;
  free(w);
  if (c->state == ST_CLOSING) return;
  if (status < 0) { emit(c, EV_ERROR, status); return; }
  if (c->queued == 0) emit(c, EV_DRAIN, 0);
}

static conn_t *get(napi_env env, napi_value v) {
  int id;
  if (napi_get_value_int32(env, v, &id) != napi_ok || id < 0 || id >= nconns) return NULL;
  conn_t *c = conns[id];
  return c->state == ST_CLOSING ? NULL : c;
}

static napi_value num(napi_env env, double d) { napi_value v; napi_create_double(env, d, &v); return v; }

/* init(sharedBuffer, onRead(id, n) -> bool, onEvent(id, type, errName|null)) */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  genv = env;
  void *d; napi_get_buffer_info(env, argv[0], &d, &rlen); rbuf = d;
  napi_create_reference(env, argv[0], 1, &recv_ref);
  napi_create_reference(env, argv[1], 1, &onread_ref);
  napi_create_reference(env, argv[2], 1, &onevent_ref);
  napi_value name; napi_create_string_utf8(env, "UPSTREAM", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, argv[0], name, &actx);
  napi_get_uv_event_loop(env, &loop);
  return NULL;
}

/* connect(ip, port) -> id, or a negative errno name string on a bad address */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ip[64]; size_t n; int port;
  napi_get_value_string_utf8(env, argv[0], ip, sizeof ip, &n);
  napi_get_value_int32(env, argv[1], &port);
  struct sockaddr_storage ss;
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss) != 0 && uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss) != 0) return num(env, -1);
  conn_t *c = freelist;
  if (c) freelist = c->next_free;
  else {
    if (nconns == capconns) { capconns = capconns ? capconns * 2 : 64; conns = realloc(conns, capconns * sizeof *conns); }
    c = calloc(1, sizeof *c);
    c->id = nconns;
    conns[nconns++] = c;
  }
  c->state = ST_CONNECTING; c->reading = 1; c->queued = 0;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_connect_t *r = malloc(sizeof *r); r->data = c;
  int e = uv_tcp_connect(r, &c->tcp, (const struct sockaddr *)&ss, connect_cb);
  if (e != 0) { free(r); c->state = ST_CLOSING; uv_close((uv_handle_t *)&c->tcp, close_cb); return num(env, -2); }
  return num(env, c->id);
}

/* The bytes of a string (utf8) or a Buffer. *owned: caller frees. */
static int bytes_of(napi_env env, napi_value v, char *stack, size_t stacklen, char **out, size_t *len, int *owned) {
  napi_valuetype t; napi_typeof(env, v, &t);
  *owned = 0;
  if (t == napi_string) {
    size_t n; napi_get_value_string_utf8(env, v, NULL, 0, &n);
    char *p = n + 1 <= stacklen ? stack : malloc(n + 1);
    if (p != stack) *owned = 1;
    napi_get_value_string_utf8(env, v, p, n + 1, &n);
    *out = p; *len = n;
    return 0;
  }
  void *d; size_t n;
  if (napi_get_buffer_info(env, v, &d, &n) != napi_ok) return -1;
  *out = d; *len = n;
  return 0;
}

/* Writes bufs in order: try-write when nothing is queued, queue a copy of what is left. Returns queued bytes. */
static napi_value do_write(napi_env env, conn_t *c, uv_buf_t *bufs, int nb) {
  size_t total = 0, skip = 0;
  for (int i = 0; i < nb; i++) total += bufs[i].len;
  if (c->queued == 0 && c->state == ST_OPEN) {
    int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, nb);
    if (r > 0) skip = (size_t)r;
    else if (r != UV_EAGAIN && r < 0) return num(env, r);  /* an error: JS reports it */
  }
  if (skip == total) return num(env, (double)c->queued);
  size_t rest = total - skip;
  wreq_t *w = malloc(sizeof *w + rest);
  w->len = rest;
  size_t off = 0;
  for (int i = 0; i < nb; i++) {
    size_t l = bufs[i].len;
    if (skip >= l) { skip -= l; continue; }
    memcpy(w->data + off, bufs[i].base + skip, l - skip);
    off += l - skip; skip = 0;
  }
  uv_buf_t b = uv_buf_init(w->data, rest);
  int e = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
  if (e != 0) { free(w); return num(env, e); }
  c->queued += rest;
  return num(env, (double)c->queued);
}

/* writev(id, stringOrBuffer | [up to 64 of them]) -> queued bytes (>= 0), or a negative errno */
static napi_value js_writev(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  conn_t *c = get(env, argv[0]);
  if (!c) return num(env, UV_EBADF);
  bool isArr = false; napi_is_array(env, argv[1], &isArr);
  uint32_t n = 1;
  if (isArr) napi_get_array_length(env, argv[1], &n);
  if (n > 64) return num(env, UV_E2BIG);  /* the JS side writes longer lists in slices */
  uv_buf_t bufs[64]; char *own[64]; int nown = 0;
  char stack[16384]; size_t used = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v = argv[1];
    if (isArr) napi_get_element(env, argv[1], i, &v);
    char *p; size_t l; int owned;
    if (bytes_of(env, v, stack + used, sizeof stack - used, &p, &l, &owned) != 0) return num(env, UV_EINVAL);
    if (owned) own[nown++] = p; else if (p >= stack && p < stack + sizeof stack) used += l + 1;
    bufs[i] = uv_buf_init(p, l);
  }
  napi_value r = do_write(env, c, bufs, (int)n);
  for (int i = 0; i < nown; i++) free(own[i]);
  return r;
}

static napi_value js_read(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  conn_t *c = get(env, argv[0]);
  if (!c) return NULL;
  bool on; napi_get_value_bool(env, argv[1], &on);
  if (on && !c->reading) { c->reading = 1; if (c->state == ST_OPEN) uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb); }
  else if (!on && c->reading) { c->reading = 0; if (c->state == ST_OPEN) uv_read_stop((uv_stream_t *)&c->tcp); }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  conn_t *c = get(env, argv[0]);
  if (!c) return NULL;
  c->state = ST_CLOSING;
  uv_close((uv_handle_t *)&c->tcp, close_cb);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    {"init", 0, js_init, 0, 0, 0, napi_default, 0},
    {"connect", 0, js_connect, 0, 0, 0, napi_default, 0},
    {"writev", 0, js_writev, 0, 0, 0, napi_default, 0},
    {"read", 0, js_read, 0, 0, 0, napi_default, 0},
    {"close", 0, js_close, 0, 0, 0, napi_default, 0},
  };
  napi_define_properties(env, exports, 5, d);
  return exports;
}
NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
