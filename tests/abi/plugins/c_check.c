/*
 * A health check written in plain C against <vigil/plugin.h>: each check() reads one line from
 * the file named by the "status_file" option, "<0-3> <message>", and reports it. Tests rewrite
 * the file to move the check between ok, warning, critical and unknown. A missing file makes
 * check() itself fail (UNAVAILABLE), which the host reports as unknown.
 */
#define _POSIX_C_SOURCE 200809L
#include <vigil/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char path[512];
} check_plugin;

static vigil_status check_create(const vigil_host_api* api, vigil_host_ctx* ctx,
                                 const vigil_config* cfg, void** out, vigil_error* err) {
  size_t i;
  check_plugin* self = calloc(1, sizeof *self);
  (void)api;
  (void)ctx;
  if (self == NULL) return VIGIL_ERR_INTERNAL;
  for (i = 0; i < cfg->option_count; ++i) {
    if (strcmp(cfg->options[i].name, "status_file") == 0 && cfg->options[i].string_value)
      snprintf(self->path, sizeof self->path, "%s", cfg->options[i].string_value);
  }
  if (self->path[0] == '\0') {
    snprintf(err->data, err->capacity, "status_file is required");
    free(self);
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  *out = self;
  return VIGIL_OK;
}

static void check_destroy(void* instance) {
  free(instance);
}

static vigil_status check_check(void* instance, vigil_health_result* result, vigil_error* err) {
  check_plugin* self = instance;
  char line[256];
  FILE* f = fopen(self->path, "r");
  int status = 3;
  size_t n;
  if (f == NULL) {
    snprintf(err->data, err->capacity, "cannot open %s", self->path);
    return VIGIL_ERR_UNAVAILABLE;
  }
  if (fgets(line, sizeof line, f) == NULL) line[0] = '\0';
  fclose(f);
  n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  if (line[0] >= '0' && line[0] <= '3') status = line[0] - '0';
  result->status = status;
  snprintf(result->message, result->message_capacity, "%s", n > 2 ? line + 2 : "");
  return VIGIL_OK;
}

static const vigil_option_desc check_options[] = {
    {sizeof(vigil_option_desc), "status_file", VIGIL_OPT_STRING, NULL,
     "file whose first line is \"<0-3> <message>\"", 1},
};

static const vigil_health_check_desc check_desc = {
    sizeof(vigil_health_check_desc), "Reports the status written in a file.", check_check};

static const vigil_plugin_desc plugin_desc = {sizeof(vigil_plugin_desc),
                                              VIGIL_ABI_VERSION,
                                              "test_check",
                                              "1.0.0",
                                              "A health check for the host's tests.",
                                              check_options,
                                              1,
                                              check_create,
                                              check_destroy,
                                              NULL,
                                              &check_desc,
                                              NULL,
                                              NULL};

VIGIL_EXPORT const vigil_plugin_desc* vigil_plugin_entry(void) {
  return &plugin_desc;
}
