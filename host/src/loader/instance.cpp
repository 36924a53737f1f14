// Guarded calls into one plugin instance. See instance.hpp for the lifetime rules.
#include "loader/instance.hpp"

#include "http/server.hpp"
#include "loader/host_api.hpp"
#include "store/store.hpp"

#include <condition_variable>

namespace vigil::loader {
namespace {

constexpr size_t kErrorCapacity = 1024;

std::atomic<uint64_t> next_owner{1};

int64_t now_monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* status_name(vigil_status status) {
  switch (status) {
    case VIGIL_OK:
      return "ok";
    case VIGIL_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case VIGIL_ERR_UNAVAILABLE:
      return "unavailable";
    case VIGIL_ERR_TIMEOUT:
      return "timeout";
    case VIGIL_ERR_INTERNAL:
      return "internal error";
    case VIGIL_ERR_RETRYABLE:
      return "retryable failure";
    case VIGIL_ERR_PERMANENT:
      return "permanent failure";
    case VIGIL_ERR_CANCELLED:
      return "cancelled";
    default:
      return "unknown status";
  }
}

const char* health_status_name(vigil_health_status status) {
  switch (status) {
    case VIGIL_HEALTH_OK:
      return "ok";
    case VIGIL_HEALTH_WARNING:
      return "warning";
    case VIGIL_HEALTH_CRITICAL:
      return "critical";
    default:
      return "unknown";
  }
}

Instance::CallGuard::CallGuard(Instance& instance) : instance_(instance) {
  instance_.in_flight_.fetch_add(1, std::memory_order_acq_rel);
}

Instance::CallGuard::~CallGuard() {
  if (instance_.in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(instance_.idle_mutex_);
    instance_.idle_.notify_all();
  }
}

template <typename Call>
CallResult Instance::guarded(Call&& call) {
  CallGuard guard(*this);
  char buffer[kErrorCapacity];
  buffer[0] = '\0';
  vigil_error err{buffer, sizeof buffer};
  CallResult result;
  const int64_t start = now_monotonic_ns();
  result.status = call(&err);
  result.duration = std::chrono::nanoseconds(now_monotonic_ns() - start);
  buffer[sizeof buffer - 1] = '\0';
  if (result.status != VIGIL_OK) result.message = buffer;
  return result;
}

std::shared_ptr<Instance> Instance::create(std::shared_ptr<PluginLibrary> library,
                                           const config::InstanceConfig& config,
                                           const config::ResolvedOptions& options,
                                           std::chrono::milliseconds interval,
                                           std::chrono::milliseconds timeout, Services services,
                                           std::string& error) {
  std::shared_ptr<Instance> self(new Instance());
  library->pin();  // from now on its code may run on threads that outlive the instance
  self->library_ = std::move(library);
  self->name_ = config.name;
  self->logger_ = log::for_instance(self->library_->name(), config.name, config.log_level);
  self->interval_ = interval;
  self->timeout_ = timeout;
  self->context_ = std::make_unique<vigil_host_ctx>();
  auto& ctx = *self->context_;
  ctx.instance = self.get();
  ctx.services = std::move(services);
  ctx.logger = self->logger_;
  ctx.extra_labels = config.labels;
  // A series is stale once it missed two runs and the timeout of a third.
  ctx.stale_after_ms = interval.count() > 0 ? 2 * interval.count() + timeout.count() : 0;
  ctx.owner = next_owner.fetch_add(1);

  vigil_config cfg{};
  cfg.size = sizeof cfg;
  cfg.instance_name = self->name_.c_str();
  cfg.options = options.data();
  cfg.option_count = options.size();
  cfg.interval_ms = interval.count();
  cfg.timeout_ms = timeout.count();

  ctx.creating = true;
  void* handle = nullptr;
  auto result = self->guarded([&](vigil_error* err) {
    return self->library_->desc().create(host_api(), &ctx, &cfg, &handle, err);
  });
  ctx.creating = false;
  if (!result.ok() || handle == nullptr) {
    error = std::string("create() failed: ") + status_name(result.status) +
            (result.message.empty() ? std::string() : ": " + result.message);
    if (result.ok()) error = "create() returned OK but no instance";
    // The plugin may have registered routes or series before failing.
    {
      std::lock_guard lock(ctx.routes_mutex);
      for (const auto& [method, path] : ctx.routes) ctx.services.http->unmount(method, path);
      ctx.routes.clear();
    }
    if (ctx.services.store) ctx.services.store->unregister_owner(ctx.owner);
    self->destroyed_ = true;
    return nullptr;
  }
  self->handle_ = handle;
  return self;
}

Instance::~Instance() {
  // shutdown() is the normal path. Reaching here undestroyed means the host is going away with
  // the instance abandoned, or an error path: never call into the plugin from an unknown thread.
}

CallResult Instance::collect() {
  return guarded([&](vigil_error* err) { return library_->collector().collect(handle_, err); });
}

CallResult Instance::check(HealthOutcome& outcome) {
  char message[1024];
  message[0] = '\0';
  vigil_health_result health{};
  health.size = sizeof health;
  health.status = VIGIL_HEALTH_UNKNOWN;
  health.message = message;
  health.message_capacity = sizeof message;
  auto result = guarded(
      [&](vigil_error* err) { return library_->health_check().check(handle_, &health, err); });
  message[sizeof message - 1] = '\0';
  if (!result.ok()) {
    outcome.status = VIGIL_HEALTH_UNKNOWN;
    outcome.message = result.message.empty()
                          ? std::string("check failed: ") + status_name(result.status)
                          : result.message;
  } else {
    outcome.status = health.status >= VIGIL_HEALTH_OK && health.status <= VIGIL_HEALTH_UNKNOWN
                         ? health.status
                         : VIGIL_HEALTH_UNKNOWN;
    outcome.message = message;
  }
  return result;
}

CallResult Instance::push() {
  if (!library_->exporter().push) return {};
  return guarded([&](vigil_error* err) { return library_->exporter().push(handle_, err); });
}

CallResult Instance::flush(std::chrono::milliseconds deadline) {
  if (!library_->exporter().flush) return {};
  return guarded(
      [&](vigil_error* err) { return library_->exporter().flush(handle_, deadline.count(), err); });
}

CallResult Instance::notify(const vigil_notification& notification) {
  return guarded(
      [&](vigil_error* err) { return library_->notifier().notify(handle_, &notification, err); });
}

const std::vector<std::pair<std::string, std::string>>& Instance::routes() const {
  return context_->routes;
}

bool Instance::shutdown(std::chrono::milliseconds deadline) {
  if (destroyed_) return true;
  auto& ctx = *context_;
  {
    std::lock_guard lock(ctx.routes_mutex);
    for (const auto& [method, path] : ctx.routes) ctx.services.http->unmount(method, path);
    ctx.routes.clear();
  }
  {
    std::unique_lock lock(idle_mutex_);
    if (!idle_.wait_for(lock, deadline, [&] { return in_flight_.load() == 0; })) {
      logger_->error(
          "a call is still running after {} ms; abandoning the instance without "
          "destroying it",
          deadline.count());
      return false;
    }
  }
  library_->desc().destroy(handle_);
  handle_ = nullptr;
  destroyed_ = true;
  if (ctx.services.store) ctx.services.store->unregister_owner(ctx.owner);
  return true;
}

}  // namespace vigil::loader
