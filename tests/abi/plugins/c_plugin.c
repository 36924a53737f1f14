/*
 * A plugin written in plain C against <vigil/plugin.h> alone, compiled several times with
 * different macros to give the host one library per scenario:
 *
 *   TEST_PLUGIN_NAME     the plugin's name (required)
 *   TEST_BEHAVIOUR       0 tick: counts collects in <name>_ticks_total (default)
 *                        1 error: collect() returns UNAVAILABLE with a message
 *                        2 hang: collect() sleeps for the "hang" option (default 1h)
 *   TEST_ABI_VERSION     overrides the declared ABI version (another major)
 *   TEST_NO_ENTRY        leaves out the entry point: a .so that is not a Vigil plugin
 *   TEST_ENTRY_CRASH     the entry point dies of SIGSEGV, as a broken plugin might
 *
 * Built against tests/abi/sdk-1.0/ it is also the "plugin from an older SDK minor".
 * It must stay C99 and use nothing but the ABI header, like a third-party plugin would.
 */
#define _POSIX_C_SOURCE 200809L
#include <vigil/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TEST_BEHAVIOUR
#define TEST_BEHAVIOUR 0
#endif
#ifndef TEST_ABI_VERSION
#define TEST_ABI_VERSION VIGIL_ABI_VERSION
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct {
  const vigil_host_api* api;
  vigil_host_ctx* ctx;
  vigil_series_id ticks;
  double count;
  long long hang_ms;
} test_plugin;

static vigil_status test_create(const vigil_host_api* api, vigil_host_ctx* ctx,
                                const vigil_config* cfg, void** out, vigil_error* err) {
  static const vigil_family_desc family = {sizeof(vigil_family_desc),
                                           STR(TEST_PLUGIN_NAME) "_ticks_total",
                                           "Completed collect() calls.",
                                           "",
                                           VIGIL_METRIC_COUNTER,
                                           NULL,
                                           0};
  vigil_family_id fid = 0;
  size_t i;
  test_plugin* self = calloc(1, sizeof *self);
  if (self == NULL) return VIGIL_ERR_INTERNAL;
  self->api = api;
  self->ctx = ctx;
  self->hang_ms = 3600 * 1000;
  for (i = 0; i < cfg->option_count; ++i) {
    if (strcmp(cfg->options[i].name, "hang") == 0 && cfg->options[i].is_set)
      self->hang_ms = cfg->options[i].int_value;
  }
  if (api->register_family(ctx, &family, &fid, err) != VIGIL_OK ||
      api->register_series(ctx, fid, NULL, 0, &self->ticks, err) != VIGIL_OK) {
    free(self);
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  *out = self;
  return VIGIL_OK;
}

static void test_destroy(void* instance) {
  free(instance);
}

static vigil_status test_collect(void* instance, vigil_error* err) {
  test_plugin* self = instance;
  if (TEST_BEHAVIOUR == 1) {
    snprintf(err->data, err->capacity, "the watched service at 127.0.0.1:1 is down");
    return VIGIL_ERR_UNAVAILABLE;
  }
  if (TEST_BEHAVIOUR == 2) {
    struct timespec ts;
    ts.tv_sec = (time_t)(self->hang_ms / 1000);
    ts.tv_nsec = (long)(self->hang_ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  self->count += 1;
  return self->api->write(self->ctx, self->ticks, self->count, 0);
}

static const vigil_option_desc test_options[] = {
    {sizeof(vigil_option_desc), "hang", VIGIL_OPT_DURATION, "1h",
     "how long collect() blocks (hang behaviour only)", 0},
};

static const vigil_collector_desc test_collector = {sizeof(vigil_collector_desc),
                                                    "A test collector.", test_collect};

static const vigil_plugin_desc test_desc = {sizeof(vigil_plugin_desc),
                                            TEST_ABI_VERSION,
                                            STR(TEST_PLUGIN_NAME),
                                            "1.0.0",
                                            "A plugin written in C for the host's tests.",
                                            test_options,
                                            1,
                                            test_create,
                                            test_destroy,
                                            &test_collector,
                                            NULL,
                                            NULL,
                                            NULL};

#if defined(TEST_ENTRY_CRASH)
#include <signal.h>
VIGIL_EXPORT const vigil_plugin_desc* vigil_plugin_entry(void) {
  raise(SIGSEGV);
  return &test_desc;
}
#elif !defined(TEST_NO_ENTRY)
VIGIL_EXPORT const vigil_plugin_desc* vigil_plugin_entry(void) {
  return &test_desc;
}
#else
VIGIL_EXPORT const vigil_plugin_desc* not_the_entry_point(void) {
  return &test_desc;
}
#endif
