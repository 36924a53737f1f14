// The host services table: the C functions a plugin calls, mapped onto the store, the HTTP
// server and the logger of its instance.
//
// Each function checks its arguments, never throws (every body that can allocate is wrapped),
// and reports problems as a status plus a message in the caller's buffer.
#include "loader/host_api.hpp"

#include "http/server.hpp"
#include "store/store.hpp"

#include <chrono>
#include <cstring>

struct vigil_http_request {
  const vigil::http::Request* request;
};
struct vigil_http_response {
  vigil::http::Response* response;
};

namespace vigil::loader {
namespace {

spdlog::level::level_enum to_spdlog(vigil_log_level level) {
  switch (level) {
    case VIGIL_LOG_TRACE:
      return spdlog::level::trace;
    case VIGIL_LOG_DEBUG:
      return spdlog::level::debug;
    case VIGIL_LOG_INFO:
      return spdlog::level::info;
    case VIGIL_LOG_WARN:
      return spdlog::level::warn;
    default:
      return spdlog::level::err;
  }
}

// Runs `body`, turning any exception (an allocation failure, in practice) into a status.
template <typename Body>
vigil_status shielded(vigil_error* err, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    set_error(err, std::string("host error: ") + e.what());
  } catch (...) {
    set_error(err, "host error");
  }
  return VIGIL_ERR_INTERNAL;
}

void api_log(vigil_host_ctx* ctx, vigil_log_level level, const char* message) {
  if (!ctx || !message) return;
  try {
    ctx->logger->log(to_spdlog(level), "{}", message);
  } catch (...) {
  }
}

int api_log_enabled(vigil_host_ctx* ctx, vigil_log_level level) {
  return ctx && ctx->logger->should_log(to_spdlog(level)) ? 1 : 0;
}

int64_t api_now_ms(vigil_host_ctx*) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t api_monotonic_ns(vigil_host_ctx*) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

vigil_status api_register_family(vigil_host_ctx* ctx, const vigil_family_desc* desc,
                                 vigil_family_id* out, vigil_error* err) {
  if (!ctx || !desc || !out) {
    set_error(err, "register_family: ctx, desc and out are required");
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  return shielded(err, [&] {
    // Copy only what this plugin's struct holds, so a smaller (older) desc reads safely.
    vigil_family_desc copy{};
    std::memcpy(&copy, desc, std::min<size_t>(desc->size, sizeof copy));
    if (desc->size < offsetof(vigil_family_desc, bucket_count) + sizeof(size_t)) {
      set_error(err,
                "register_family: descriptor too small (" + std::to_string(desc->size) + " bytes)");
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    std::string error;
    vigil_family_id id = ctx->services.store->register_family(copy, error);
    if (id == 0) {
      set_error(err, error);
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    *out = id;
    return VIGIL_OK;
  });
}

vigil_status api_register_series(vigil_host_ctx* ctx, vigil_family_id family,
                                 const vigil_label* labels, size_t label_count,
                                 vigil_series_id* out, vigil_error* err) {
  if (!ctx || !out || (label_count > 0 && !labels)) {
    set_error(err, "register_series: ctx, out and labels are required");
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  return shielded(err, [&] {
    store::Labels all;
    all.reserve(label_count + ctx->extra_labels.size());
    for (size_t i = 0; i < label_count; ++i) {
      if (!labels[i].name || !labels[i].value) {
        set_error(err, "register_series: label " + std::to_string(i) + " has a NULL name or value");
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
      all.emplace_back(labels[i].name, labels[i].value);
    }
    // The instance's extra labels apply unless the plugin set the same label itself: the
    // plugin's distinguishes series, and overriding it could merge two series into one.
    for (const auto& [name, value] : ctx->extra_labels) {
      bool set_by_plugin = false;
      for (size_t i = 0; i < label_count; ++i) set_by_plugin |= name == labels[i].name;
      if (!set_by_plugin) all.emplace_back(name, value);
    }
    std::string error;
    vigil_series_id id = ctx->services.store->register_series(
        family, std::move(all), ctx->stale_after_ms, ctx->owner, error);
    if (id == 0) {
      set_error(err, error);
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    *out = id;
    return VIGIL_OK;
  });
}

vigil_status api_write(vigil_host_ctx* ctx, vigil_series_id series, double value,
                       int64_t timestamp_ms) {
  if (!ctx) return VIGIL_ERR_INVALID_ARGUMENT;
  return ctx->services.store->write(series, value, timestamp_ms);
}

vigil_status api_observe(vigil_host_ctx* ctx, vigil_series_id series, double value) {
  if (!ctx) return VIGIL_ERR_INVALID_ARGUMENT;
  return ctx->services.store->observe(series, value);
}

vigil_status api_write_histogram(vigil_host_ctx* ctx, vigil_series_id series,
                                 const uint64_t* cumulative, size_t bucket_count, double sum,
                                 uint64_t count, int64_t timestamp_ms) {
  if (!ctx || (bucket_count > 0 && !cumulative)) return VIGIL_ERR_INVALID_ARGUMENT;
  return ctx->services.store->write_histogram(series, cumulative, bucket_count, sum, count,
                                              timestamp_ms);
}

vigil_status api_write_summary(vigil_host_ctx* ctx, vigil_series_id series, const double* quantiles,
                               const double* values, size_t count_q, double sum, uint64_t count,
                               int64_t timestamp_ms) {
  if (!ctx || (count_q > 0 && (!quantiles || !values))) return VIGIL_ERR_INVALID_ARGUMENT;
  return ctx->services.store->write_summary(series, quantiles, values, count_q, sum, count,
                                            timestamp_ms);
}

vigil_status api_visit_store(vigil_host_ctx* ctx, const vigil_store_visitor* visitor, void* user,
                             vigil_error* err) {
  if (!ctx || !visitor) {
    set_error(err, "visit_store: ctx and visitor are required");
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  return shielded(err, [&] {
    vigil_store_visitor copy{};
    std::memcpy(&copy, visitor, std::min<size_t>(visitor->size, sizeof copy));
    copy.size = sizeof copy;
    return ctx->services.store->visit(copy, user) ? VIGIL_OK : VIGIL_ERR_CANCELLED;
  });
}

vigil_status api_http_mount(vigil_host_ctx* ctx, const char* method, const char* path,
                            vigil_http_handler handler, void* user, vigil_error* err) {
  if (!ctx || !method || !path || !handler) {
    set_error(err, "http_mount: method, path and handler are required");
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  if (!ctx->creating.load()) {
    set_error(err, "http_mount: routes can only be mounted from create()");
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  if (path[0] != '/') {
    set_error(err, std::string("http_mount: path \"") + path + "\" must start with '/'");
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  if (!ctx->services.http) {
    set_error(err, "http_mount: this host runs without an HTTP server");
    return VIGIL_ERR_UNAVAILABLE;
  }
  return shielded(err, [&] {
    std::weak_ptr<Instance> weak = ctx->instance->weak_from_this();
    std::string route_path = path;
    auto on_request = ctx->services.on_request;
    auto logger = ctx->logger;
    http::Handler wrapped = [weak, handler, user, route_path, on_request, logger](
                                const http::Request& request, http::Response& response) {
      auto self = weak.lock();
      if (!self) {
        response.set_status(503);
        response.write("the plugin instance serving this route is stopping\n");
        return;
      }
      Instance::CallGuard guard(*self);
      const auto start = std::chrono::steady_clock::now();
      vigil_http_request c_request{&request};
      vigil_http_response c_response{&response};
      char buffer[1024];
      buffer[0] = '\0';
      vigil_error error{buffer, sizeof buffer};
      vigil_status status = handler(user, &c_request, &c_response, &error);
      buffer[sizeof buffer - 1] = '\0';
      if (status != VIGIL_OK && status != VIGIL_ERR_CANCELLED) {
        logger->error("{} {} failed: {}: {}", request.method(), route_path, status_name(status),
                      buffer);
        if (response.body().empty()) {
          response.set_status(500);
          response.write(std::string(buffer) + "\n");
        }
      }
      if (on_request) on_request(route_path, std::chrono::steady_clock::now() - start);
    };
    std::string error;
    // Plugin routes render from the store and can be large: they count as expensive.
    if (!ctx->services.http->mount(method, path, std::move(wrapped), {.expensive = true}, error)) {
      set_error(err, error);
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    std::lock_guard lock(ctx->routes_mutex);
    ctx->routes.emplace_back(method, path);
    return VIGIL_OK;
  });
}

const char* api_http_request_method(const vigil_http_request* request) {
  return request ? request->request->c_str_method() : nullptr;
}

const char* api_http_request_target(const vigil_http_request* request) {
  return request ? request->request->c_str_target() : nullptr;
}

const char* api_http_request_header(const vigil_http_request* request, const char* name) {
  if (!request || !name) return nullptr;
  const std::string* value = request->request->header(name);
  return value ? value->c_str() : nullptr;
}

const char* api_http_request_body(const vigil_http_request* request, size_t* length) {
  if (!request) return nullptr;
  const std::string& body = request->request->body();
  if (length) *length = body.size();
  return body.c_str();
}

void api_http_set_status(vigil_http_response* response, int status_code) {
  if (response && status_code >= 100 && status_code <= 599)
    response->response->set_status(status_code);
}

void api_http_set_header(vigil_http_response* response, const char* name, const char* value) {
  if (!response || !name || !value) return;
  try {
    response->response->set_header(name, value);
  } catch (...) {
  }
}

vigil_status api_http_write(vigil_http_response* response, const char* data, size_t length) {
  if (!response || (length > 0 && !data)) return VIGIL_ERR_INVALID_ARGUMENT;
  try {
    return response->response->write(std::string_view(data, length)) ? VIGIL_OK
                                                                     : VIGIL_ERR_CANCELLED;
  } catch (...) {
    return VIGIL_ERR_INTERNAL;
  }
}

int api_http_cancelled(const vigil_http_request* request) {
  return request && request->request->cancelled() ? 1 : 0;
}

vigil_status api_unregister_series(vigil_host_ctx* ctx, vigil_series_id series) {
  if (!ctx) return VIGIL_ERR_INVALID_ARGUMENT;
  return ctx->services.store->unregister_series(series, ctx->owner);
}

const vigil_host_api kTable = {
    sizeof(vigil_host_api),
    VIGIL_ABI_VERSION,
    api_log,
    api_log_enabled,
    api_now_ms,
    api_monotonic_ns,
    api_register_family,
    api_register_series,
    api_write,
    api_observe,
    api_write_histogram,
    api_write_summary,
    api_visit_store,
    api_http_mount,
    api_http_request_method,
    api_http_request_target,
    api_http_request_header,
    api_http_request_body,
    api_http_set_status,
    api_http_set_header,
    api_http_write,
    api_http_cancelled,
    api_unregister_series,
};

}  // namespace

const vigil_host_api* host_api() {
  return &kTable;
}

void set_error(vigil_error* err, std::string_view message) {
  if (!err || !err->data || err->capacity == 0) return;
  size_t n = std::min(message.size(), err->capacity - 1);
  std::memcpy(err->data, message.data(), n);
  err->data[n] = '\0';
}

}  // namespace vigil::loader
