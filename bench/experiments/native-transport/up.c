// Measurement prototype for ab.mjs (see there): the upstream connection and the response head parse in C. Not part of the gateway.
// Prototype: minimal native keep-alive HTTP/1.1 upstream client for measurement only.
#include <node_api.h>
#include <uv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXC 1024
#define BUFSZ 65536
typedef struct {
  uv_tcp_t tcp;
  int id;
  char buf[BUFSZ];
  size_t len;
  int connected;
} conn_t;

static conn_t *conns[MAXC];
static int nconns = 0;
static napi_env genv;
static napi_ref cbref;
static napi_async_context actx;
static napi_ref resref;
static uv_loop_t *loop;


static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  conn_t *c = (conn_t *)h->data;
  b->base = c->buf + c->len;
  b->len = BUFSZ - c->len;
}

static void deliver(conn_t *c, int status, const char *hs, size_t hl, const char *body, size_t bl) {
  napi_handle_scope scope;
  napi_open_handle_scope(genv, &scope);
  napi_value cb, argv[4], result, resobj;
  napi_get_reference_value(genv, cbref, &cb);
  napi_get_reference_value(genv, resref, &resobj);
  napi_create_int32(genv, c->id, &argv[0]);
  napi_create_int32(genv, status, &argv[1]);
  napi_create_string_latin1(genv, hs, hl, &argv[2]);
  void *data;
  napi_create_buffer_copy(genv, bl, body, &data, &argv[3]);
  napi_make_callback(genv, actx, resobj, cb, 4, argv, &result);
  napi_close_handle_scope(genv, scope);
}

static void try_parse(conn_t *c) {
  for (;;) {
    // find end of head
    char *end = NULL;
    for (size_t i = 3; i < c->len; i++) if (c->buf[i] == '\n' && c->buf[i-1] == '\r' && c->buf[i-2] == '\n' && c->buf[i-3] == '\r') { end = c->buf + i + 1; break; }
    if (!end) return;
    size_t headlen = end - c->buf;
    int status = atoi(c->buf + 9);
    // headers start after first CRLF
    char *p = memchr(c->buf, '\n', headlen) + 1;
    long cl = 0;
    char *q = p;
    while (q < end - 2) {
      char *nl = memchr(q, '\n', end - q);
      if (nl - q > 15 && strncasecmp(q, "content-length:", 15) == 0) cl = strtol(q + 15, NULL, 10);
      q = nl + 1;
    }
    if (c->len < headlen + cl) return;
    deliver(c, status, p, (end - 4) - p, end, cl);
    size_t used = headlen + cl;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    if (c->len == 0) return;
  }
}

static void connect_cb(uv_connect_t *req, int st);
static int upport;
static void reconnect(conn_t *c) {
  uv_tcp_init(loop, &c->tcp);
  uv_tcp_nodelay(&c->tcp, 1);
  c->tcp.data = c;
  c->len = 0;
  struct sockaddr_in a; uv_ip4_addr("127.0.0.1", upport, &a);
  uv_connect_t *r = malloc(sizeof *r); r->data = c;
  uv_tcp_connect(r, &c->tcp, (const struct sockaddr *)&a, connect_cb);
}
static void close_cb(uv_handle_t *h) { reconnect((conn_t *)h->data); }
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = (conn_t *)s->data;
  if (n <= 0) { if (n < 0) { c->connected = 0; uv_close((uv_handle_t *)s, close_cb); } return; }
  c->len += n;
  try_parse(c);
}

static void connect_cb(uv_connect_t *req, int st) {
  conn_t *c = (conn_t *)req->data;
  free(req);
  if (st == 0) { c->connected = 1; uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb); }
}

static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  genv = env;
  napi_create_reference(env, argv[0], 1, &cbref);
  napi_value name, obj;
  napi_create_string_utf8(env, "upstream", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &obj);
  napi_create_reference(env, obj, 1, &resref);
  napi_async_init(env, obj, name, &actx);
  napi_get_uv_event_loop(env, &loop);
  return NULL;
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int port; napi_get_value_int32(env, argv[0], &port);
  conn_t *c = calloc(1, sizeof(conn_t));
  c->id = nconns; conns[nconns++] = c;
  upport = port;
  reconnect(c);
  napi_value out; napi_create_int32(env, c->id, &out); return out;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int id; napi_get_value_int32(env, argv[0], &id);
  char tmp[8192]; size_t n;
  napi_get_value_string_latin1(env, argv[1], tmp, sizeof tmp, &n);
  if (!conns[id]->connected) { napi_value o; napi_create_int32(env, -1, &o); return o; }
  uv_buf_t b = uv_buf_init(tmp, n);
  int r = uv_try_write((uv_stream_t *)&conns[id]->tcp, &b, 1);
  napi_value out; napi_create_int32(env, r, &out); return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    {"init", 0, js_init, 0, 0, 0, napi_default, 0},
    {"connect", 0, js_connect, 0, 0, 0, napi_default, 0},
    {"send", 0, js_send, 0, 0, 0, napi_default, 0},
  };
  napi_define_properties(env, exports, 3, d);
  return exports;
}
NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
