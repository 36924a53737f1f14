/*
 * vigil/plugin.h — the Vigil plugin ABI, version 1.
 *
 * This header is the whole contract between the `vigil` host and a plugin shared library. It is
 * plain C99 so that a plugin built with any compiler keeps loading in every later 1.y host.
 * Most authors never read it: they include <vigil/sdk.hpp> and use the C++ layer on top.
 * It must never contain a C++ type, an inline function with behaviour, or anything whose layout
 * depends on a compiler setting.
 *
 * A complete minimal plugin written against this header alone:
 *
 *     #include <vigil/plugin.h>
 *
 *     typedef struct { const vigil_host_api* api; vigil_host_ctx* ctx; vigil_series_id up; } hello;
 *
 *     static vigil_status hello_create(const vigil_host_api* api, vigil_host_ctx* ctx,
 *                                      const vigil_config* cfg, void** out, vigil_error* err) {
 *       static const vigil_family_desc fam = {sizeof(vigil_family_desc), "hello_up",
 *                                             "Always 1.", "", VIGIL_METRIC_GAUGE, 0, 0};
 *       hello* self = calloc(1, sizeof *self);
 *       vigil_family_id f;
 *       (void)cfg;
 *       if (!self) return VIGIL_ERR_INTERNAL;
 *       self->api = api; self->ctx = ctx;
 *       if (api->register_family(ctx, &fam, &f, err) != VIGIL_OK ||
 *           api->register_series(ctx, f, 0, 0, &self->up, err) != VIGIL_OK) {
 *         free(self);
 *         return VIGIL_ERR_INVALID_ARGUMENT;
 *       }
 *       *out = self;
 *       return VIGIL_OK;
 *     }
 *     static void hello_destroy(void* self) { free(self); }
 *     static vigil_status hello_collect(void* p, vigil_error* err) {
 *       hello* self = p; (void)err;
 *       self->api->write(self->ctx, self->up, 1.0, 0);
 *       return VIGIL_OK;
 *     }
 *
 *     static const vigil_collector_desc collector = {sizeof(vigil_collector_desc),
 *                                                   "Says hello.", hello_collect};
 *     static const vigil_plugin_desc plugin = {
 *         sizeof(vigil_plugin_desc), VIGIL_ABI_VERSION, "hello", "1.0.0", "A greeting.",
 *         0, 0, hello_create, hello_destroy, &collector, 0, 0, 0};
 *
 *     VIGIL_EXPORT const vigil_plugin_desc* vigil_plugin_entry(void) { return &plugin; }
 *
 * Compatibility rules (the promise to plugin authors):
 *  - The host finds exactly one symbol, VIGIL_ENTRY_SYMBOL, and calls it before anything else.
 *    Nothing but that call happens before the host has checked the ABI version and every
 *    descriptor's size.
 *  - The ABI version is (major << 16) | minor. A host accepts a plugin whose major equals its own
 *    and whose minor is not greater than its own; it refuses anything else in one log line.
 *  - Every struct either side hands to the other starts with a uint32_t `size`. Structs only ever
 *    grow at the end. A reader copies min(size, sizeof(its own struct)) into a zeroed struct, so a
 *    field added later reads as zero/NULL from an older writer.
 *  - Arrays of such structs (a plugin's option table, the option values in vigil_config) are
 *    walked with the WRITER's element size, taken from the first element's `size`, never with
 *    the reader's sizeof: a newer writer's elements may be larger.
 *  - The host services table (vigil_host_api) only grows at the end. Slots added after 1.0 are
 *    marked with the minor that added them; a plugin checks VIGIL_API_HAS(api, slot) first.
 *  - No C++ type, no exception and no ownership crosses. Strings are NUL-terminated UTF-8, owned
 *    by whoever passed them, valid for the duration of the call unless stated otherwise. Errors
 *    are a status code plus a message written into a host-owned buffer.
 */
#ifndef VIGIL_PLUGIN_H
#define VIGIL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Versions                                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define VIGIL_ABI_MAJOR 1
#ifndef VIGIL_ABI_MINOR
#define VIGIL_ABI_MINOR 2
#endif
#define VIGIL_MAKE_ABI_VERSION(major, minor) \
  ((uint32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))
#define VIGIL_ABI_VERSION VIGIL_MAKE_ABI_VERSION(VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR)
#define VIGIL_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define VIGIL_ABI_VERSION_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The one exported symbol. Its type is vigil_plugin_entry_fn. */
#define VIGIL_ENTRY_SYMBOL "vigil_plugin_entry"

#if defined(_WIN32)
#define VIGIL_EXPORT __declspec(dllexport)
#else
#define VIGIL_EXPORT __attribute__((visibility("default")))
#endif

/* True when `table` (anything starting with uint32_t size) is large enough to hold `member`. */
#define VIGIL_HAS_FIELD(type, table, member) \
  ((table) != NULL && (table)->size >= offsetof(type, member) + sizeof((table)->member))
#define VIGIL_API_HAS(api, slot) (VIGIL_HAS_FIELD(vigil_host_api, api, slot) && (api)->slot != NULL)

/* ------------------------------------------------------------------------------------------ */
/* Status and errors                                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef int32_t vigil_status;
enum {
  VIGIL_OK = 0,
  VIGIL_ERR_INVALID_ARGUMENT = 1, /* bad configuration or input: retrying will not help */
  VIGIL_ERR_UNAVAILABLE = 2,      /* the watched thing is not there right now: try next run */
  VIGIL_ERR_TIMEOUT = 3,          /* the plugin gave up waiting on something */
  VIGIL_ERR_INTERNAL = 4,         /* a bug or an unexpected failure (exceptions become this) */
  VIGIL_ERR_RETRYABLE = 5,        /* notifiers: delivery failed, try again later */
  VIGIL_ERR_PERMANENT = 6,        /* notifiers: delivery can never succeed as is */
  VIGIL_ERR_CANCELLED = 7         /* the work was abandoned (client gone, host stopping) */
};

/* A host-owned message buffer. A callback that fails writes a NUL-terminated, human-readable
 * reason into data (at most capacity bytes including the NUL); the host copies it after the call
 * and logs it with the plugin's and instance's names. Writing nothing is allowed. */
typedef struct vigil_error {
  char* data;
  size_t capacity;
} vigil_error;

/* ------------------------------------------------------------------------------------------ */
/* Options: what a plugin accepts in its instance configuration                                */
/* ------------------------------------------------------------------------------------------ */

typedef int32_t vigil_option_type;
enum {
  VIGIL_OPT_STRING = 1,
  VIGIL_OPT_INT = 2, /* int64 */
  VIGIL_OPT_DOUBLE = 3,
  VIGIL_OPT_BOOL = 4,
  VIGIL_OPT_DURATION = 5,    /* "250ms", "10s", "5m", "1h" or a number of seconds; given as ms */
  VIGIL_OPT_STRING_LIST = 6, /* JSON array of strings */
  VIGIL_OPT_JSON = 7         /* any JSON value, handed over as compact JSON text */
};

/* One row of a plugin's option table. The host validates each instance's "options" object
 * against this table (unknown names, wrong types, missing required options) before create().
 * default_value is written the way the user would write it in JSON ("5s", "true", "[\"a\"]",
 * "\"text\"" or simply "text" for strings); NULL means no default. */
typedef struct vigil_option_desc {
  uint32_t size;
  const char* name;
  vigil_option_type type;
  const char* default_value;
  const char* description;
  int32_t required; /* non-zero: the user must set it */
} vigil_option_desc;

/* A validated option value, as create() receives it. Every declared option is present, with
 * is_set == 0 when neither the user nor a default gave it a value. */
typedef struct vigil_option_value {
  uint32_t size;
  const char* name;
  vigil_option_type type;
  int32_t is_set;
  const char* string_value;      /* STRING; also the JSON text for JSON; NULL otherwise */
  int64_t int_value;             /* INT, BOOL (0/1), DURATION (milliseconds) */
  double double_value;           /* DOUBLE (INT is also given here) */
  const char* const* list_items; /* STRING_LIST */
  size_t list_count;
} vigil_option_value;

/* An instance's configuration: its options, plus what the host decided for it. */
typedef struct vigil_config {
  uint32_t size;
  const char* instance_name;
  const vigil_option_value* options;
  size_t option_count;
  int64_t interval_ms; /* scheduling interval of collect()/check()/push(), 0 if not scheduled */
  int64_t timeout_ms;  /* per-call timeout the host enforces */
} vigil_config;

/* ------------------------------------------------------------------------------------------ */
/* Metrics: the Prometheus data model                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef int32_t vigil_metric_type;
enum {
  VIGIL_METRIC_COUNTER = 1,
  VIGIL_METRIC_GAUGE = 2,
  VIGIL_METRIC_HISTOGRAM = 3,
  VIGIL_METRIC_SUMMARY = 4,
  VIGIL_METRIC_UNTYPED = 5
};

/* A metric family. Names follow Prometheus' rules ([a-zA-Z_:][a-zA-Z0-9_:]*); the host refuses
 * a bad name with a message saying which character is wrong. Registering the same name twice
 * with the same type and help returns the same family; with a different type it is an error. */
typedef struct vigil_family_desc {
  uint32_t size;
  const char* name;
  const char* help;
  const char* unit; /* "" or a base unit: "seconds", "bytes", ... */
  vigil_metric_type type;
  const double* buckets; /* HISTOGRAM: strictly increasing upper bounds, without +Inf */
  size_t bucket_count;
} vigil_family_desc;

typedef struct vigil_label {
  const char* name;
  const char* value;
} vigil_label;

/* Handles. Zero is never a valid handle. */
typedef uint64_t vigil_family_id;
typedef uint64_t vigil_series_id;

/* What an exporter sees of one family while visiting the store. */
typedef struct vigil_family_view {
  uint32_t size;
  const char* name;
  const char* help;
  const char* unit;
  vigil_metric_type type;
  const double* buckets;
  size_t bucket_count;
  size_t series_count; /* live (non-stale) series that will be visited next */
} vigil_family_view;

/* What an exporter sees of one series while visiting the store. Every pointer is valid only
 * during the visitor call. */
typedef struct vigil_series_view {
  uint32_t size;
  const vigil_label* labels; /* sorted by name; the instance's extra labels are included */
  size_t label_count;
  /* The labels in Prometheus text syntax, already escaped: `{a="x",b="y"}` or "" when none. */
  const char* labels_text;
  size_t labels_text_len;
  int64_t timestamp_ms;       /* time of the last write */
  int32_t explicit_timestamp; /* non-zero when the writer gave the timestamp itself */
  double value;               /* COUNTER, GAUGE, UNTYPED */
  /* HISTOGRAM: cumulative counts per bucket in family order, then sum and count (+Inf). */
  const uint64_t* bucket_counts;
  /* SUMMARY: quantiles and their values. */
  const double* quantiles;
  const double* quantile_values;
  size_t quantile_count;
  double sum;
  uint64_t count;
} vigil_series_view;

/* Callbacks for visit_store(). Return non-zero from either to stop the visit early (for example
 * when the HTTP client went away). Called on the thread that called visit_store(). */
typedef struct vigil_store_visitor {
  uint32_t size;
  int (*family)(void* user, const vigil_family_view* family);
  int (*series)(void* user, const vigil_family_view* family, const vigil_series_view* series);
} vigil_store_visitor;

/* ------------------------------------------------------------------------------------------ */
/* HTTP: routes a plugin mounts on the host's server                                           */
/* ------------------------------------------------------------------------------------------ */

typedef struct vigil_http_request vigil_http_request;   /* opaque, host-owned */
typedef struct vigil_http_response vigil_http_response; /* opaque, host-owned */

/* Handles one request, on one of the host's HTTP worker threads, possibly concurrently with
 * other requests and with the instance's scheduled calls: it must be thread-safe. It may block
 * on the plugin's own work but should poll http_cancelled() (or check the result of
 * http_write()) during long work: a client that went away stops being served. Returning a
 * non-OK status without having written anything gives the client a 500 with the message. */
typedef vigil_status (*vigil_http_handler)(void* user, const vigil_http_request* request,
                                           vigil_http_response* response, vigil_error* err);

/* ------------------------------------------------------------------------------------------ */
/* Health                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef int32_t vigil_health_status;
enum {
  VIGIL_HEALTH_OK = 0,
  VIGIL_HEALTH_WARNING = 1,
  VIGIL_HEALTH_CRITICAL = 2,
  VIGIL_HEALTH_UNKNOWN = 3
};

/* Filled by a health check. The host zeroes it (status UNKNOWN) and sets size before the call. */
typedef struct vigil_health_result {
  uint32_t size;
  vigil_health_status status;
  char* message; /* host-owned buffer: write a NUL-terminated one-line message */
  size_t message_capacity;
} vigil_health_result;

/* ------------------------------------------------------------------------------------------ */
/* Notifications                                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef struct vigil_notification {
  uint32_t size;
  const char* idempotency_key; /* the same for every retry of this notification */
  const char* receiver;        /* the receiver (route target) name */
  const char* status;          /* "firing" or "resolved" */
  const char* group_key;
  int32_t escalation_step;  /* 0-based step of the escalation policy, -1 when none */
  int32_t attempt;          /* 1 on the first delivery attempt */
  const char* payload_json; /* the whole notification as JSON (alerts, labels, annotations) */
  /* ---- 1.2 ---- */
  /* Host-owned, zero before the call. A notifier returning VIGIL_ERR_RETRYABLE may write how
   * many milliseconds the receiver asked it to wait (an HTTP Retry-After): the host then waits
   * at least that long, and never beyond the notification's max age. Check
   * VIGIL_HAS_FIELD(vigil_notification, n, retry_after_ms) and non-NULL before writing. */
  int64_t* retry_after_ms;
} vigil_notification;

/* ------------------------------------------------------------------------------------------ */
/* Host services                                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef struct vigil_host_ctx vigil_host_ctx; /* opaque: one per plugin instance */

typedef int32_t vigil_log_level;
enum {
  VIGIL_LOG_TRACE = 0,
  VIGIL_LOG_DEBUG = 1,
  VIGIL_LOG_INFO = 2,
  VIGIL_LOG_WARN = 3,
  VIGIL_LOG_ERROR = 4
};

/* The table of services the host hands to create(). It lives as long as the host; `ctx` is the
 * instance's context and stays valid until destroy() returns. Every slot is thread-safe unless
 * it says otherwise. */
typedef struct vigil_host_api {
  uint32_t size;
  uint32_t abi_version; /* the host's ABI version */

  /* ---- 1.0 ------------------------------------------------------------------------------ */

  /* Logs one line under the instance's name. Never blocks on I/O for long. */
  void (*log)(vigil_host_ctx* ctx, vigil_log_level level, const char* message);
  /* Non-zero when a message at `level` would be written (to skip building it otherwise). */
  int (*log_enabled)(vigil_host_ctx* ctx, vigil_log_level level);

  /* Wall clock in milliseconds since the Unix epoch; a monotonic clock in nanoseconds. */
  int64_t (*now_ms)(vigil_host_ctx* ctx);
  int64_t (*monotonic_ns)(vigil_host_ctx* ctx);

  /* Registers (or finds) a metric family. Any thread; takes a lock: not for the hot path. */
  vigil_status (*register_family)(vigil_host_ctx* ctx, const vigil_family_desc* desc,
                                  vigil_family_id* out, vigil_error* err);
  /* Registers (or finds) one series of a family: label names are checked against Prometheus'
   * rules, sorted, and the instance's extra labels are added. Not for the hot path. */
  vigil_status (*register_series)(vigil_host_ctx* ctx, vigil_family_id family,
                                  const vigil_label* labels, size_t label_count,
                                  vigil_series_id* out, vigil_error* err);

  /* Hot path: lock-free writes by handle. timestamp_ms 0 means "now". Returns VIGIL_OK, or
   * VIGIL_ERR_INVALID_ARGUMENT when the handle is unknown or no longer valid (a series the
   * host dropped after a long staleness): register it again. */
  vigil_status (*write)(vigil_host_ctx* ctx, vigil_series_id series, double value,
                        int64_t timestamp_ms);
  /* Adds one observation to a HISTOGRAM series. */
  vigil_status (*observe)(vigil_host_ctx* ctx, vigil_series_id series, double value);
  /* Replaces a HISTOGRAM series' state: cumulative counts per family bucket (bucket_count of
   * them, without +Inf), the sum, and the total count. */
  vigil_status (*write_histogram)(vigil_host_ctx* ctx, vigil_series_id series,
                                  const uint64_t* cumulative_counts, size_t bucket_count,
                                  double sum, uint64_t count, int64_t timestamp_ms);
  /* Replaces a SUMMARY series' state. */
  vigil_status (*write_summary)(vigil_host_ctx* ctx, vigil_series_id series,
                                const double* quantiles, const double* values,
                                size_t quantile_count, double sum, uint64_t count,
                                int64_t timestamp_ms);

  /* Visits every family and its live series, families sorted by name and series by labels.
   * Blocks registrations (not writes) while it runs. For exporters. */
  vigil_status (*visit_store)(vigil_host_ctx* ctx, const vigil_store_visitor* visitor, void* user,
                              vigil_error* err);

  /* Mounts a route on the host's HTTP server, for this instance's lifetime. Only from create().
   * `path` is exact (no patterns); `method` is "GET", "POST", ... . A path another instance or
   * the host already serves is an error. */
  vigil_status (*http_mount)(vigil_host_ctx* ctx, const char* method, const char* path,
                             vigil_http_handler handler, void* user, vigil_error* err);
  /* Request accessors, valid during the handler call. A missing header or query parameter
   * gives NULL. */
  const char* (*http_request_method)(const vigil_http_request* request);
  const char* (*http_request_target)(const vigil_http_request* request); /* path?query */
  const char* (*http_request_header)(const vigil_http_request* request, const char* name);
  const char* (*http_request_body)(const vigil_http_request* request, size_t* length);
  /* Response: status and headers before the first write. Body writes are buffered by the host;
   * a non-OK result (VIGIL_ERR_CANCELLED) means the client went away: stop working. */
  void (*http_set_status)(vigil_http_response* response, int status_code);
  void (*http_set_header)(vigil_http_response* response, const char* name, const char* value);
  vigil_status (*http_write)(vigil_http_response* response, const char* data, size_t length);
  /* Non-zero once the client disconnected or the host is stopping. */
  int (*http_cancelled)(const vigil_http_request* request);

  /* ---- 1.1 ------------------------------------------------------------------------------ */

  /* Drops a series this instance registered: it leaves the exposition at once, and its handle
   * becomes invalid. For things that disappear for good (a process, an unmounted disk). */
  vigil_status (*unregister_series)(vigil_host_ctx* ctx, vigil_series_id series);
} vigil_host_api;

/* ------------------------------------------------------------------------------------------ */
/* What a plugin provides                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Collector. collect() is REQUIRED. The scheduler calls it on a worker thread every interval;
 * never twice at once for one instance. It may block on I/O, within the instance's timeout: a
 * call that overruns is logged and counted, and the next runs are skipped until it returns. A
 * non-OK status is logged with the message and counted in vigil_plugin_errors_total; samples
 * already written stay. */
typedef struct vigil_collector_desc {
  uint32_t size;
  const char* description;
  vigil_status (*collect)(void* instance, vigil_error* err);
} vigil_collector_desc;

/* Health check. check() is REQUIRED. Called like collect(); fills `result`. A non-OK return
 * status (as opposed to result->status) means the check itself failed and counts as UNKNOWN. */
typedef struct vigil_health_check_desc {
  uint32_t size;
  const char* description;
  vigil_status (*check)(void* instance, vigil_health_result* result, vigil_error* err);
} vigil_health_check_desc;

/* Exporter. Both callbacks are OPTIONAL: a pull exporter mounts its routes in create() and needs
 * neither; a push exporter sets push(), which the scheduler calls like collect() to send what
 * visit_store() shows. flush() is called once at shutdown, on the main thread, with a deadline. */
typedef struct vigil_exporter_desc {
  uint32_t size;
  const char* description;
  vigil_status (*push)(void* instance, vigil_error* err);
  vigil_status (*flush)(void* instance, int64_t deadline_ms, vigil_error* err);
} vigil_exporter_desc;

/* Notifier. notify() is REQUIRED. Called on the host's delivery worker, one notification at a
 * time per instance; may block up to the instance's timeout. Return VIGIL_OK when delivered,
 * VIGIL_ERR_RETRYABLE to be retried with backoff, VIGIL_ERR_PERMANENT when it never will be
 * (the host then uses the fallback receiver). Any other status counts as retryable. */
typedef struct vigil_notifier_desc {
  uint32_t size;
  const char* description;
  vigil_status (*notify)(void* instance, const vigil_notification* notification, vigil_error* err);
} vigil_notifier_desc;

/* The plugin as a whole, returned by the entry point. Every pointer in it must stay valid while
 * the library is loaded (static storage).
 *  - create() REQUIRED: makes one instance from a validated configuration, on the main thread,
 *    before any other callback of that instance. It may register series and mount routes. A
 *    non-OK status leaves that instance unloaded (the host reports it; others still run).
 *  - destroy() REQUIRED: frees the instance, on the main thread, after every call into it
 *    returned. Not called when create() failed.
 *  - At least one of the four kinds must be present; several may be (one instance serves all). */
typedef struct vigil_plugin_desc {
  uint32_t size;
  uint32_t abi_version; /* VIGIL_ABI_VERSION as the plugin was compiled */
  const char* name;     /* unique among loaded plugins: [a-z][a-z0-9_]* */
  const char* version;  /* the plugin's own version, free text such as "1.2.0" */
  const char* description;
  const vigil_option_desc* options;
  size_t option_count;
  vigil_status (*create)(const vigil_host_api* api, vigil_host_ctx* ctx, const vigil_config* config,
                         void** instance, vigil_error* err);
  void (*destroy)(void* instance);
  const vigil_collector_desc* collector;
  const vigil_health_check_desc* health_check;
  const vigil_exporter_desc* exporter;
  const vigil_notifier_desc* notifier;
} vigil_plugin_desc;

/* The exported entry point: returns the plugin's static descriptor. It must do nothing else. */
typedef const vigil_plugin_desc* (*vigil_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VIGIL_PLUGIN_H */
