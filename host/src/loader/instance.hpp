// One configured plugin instance: the plugin's opaque instance pointer, its host context, and
// the guarded calls into it.
//
// Every call into the plugin goes through here so that three things always hold: the library
// stays loaded while a call is in flight (the caller holds the Instance, which holds the
// library), the plugin's error message is copied out of a host buffer, and the time is measured.
// destroy() is called only on the main thread and only once no call is in flight; an instance
// whose call hangs past the shutdown deadline is abandoned, never destroyed under the call.
#pragma once

#include "config/config.hpp"
#include "loader/library.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace vigil::store {
class Store;
}
namespace vigil::http {
class Server;
}

namespace vigil::loader {

// What the host lends every instance. The pointers outlive every instance.
struct Services {
  store::Store* store = nullptr;
  http::Server* http = nullptr;
  // Called after each request a plugin route served, with the route's path and duration.
  std::function<void(const std::string& path, std::chrono::nanoseconds)> on_request;
};

struct CallResult {
  vigil_status status = VIGIL_OK;
  std::string message;  // the plugin's message, empty when it wrote none
  std::chrono::nanoseconds duration{0};
  bool ok() const { return status == VIGIL_OK; }
};

struct HealthOutcome {
  vigil_health_status status = VIGIL_HEALTH_UNKNOWN;
  std::string message;
};

const char* status_name(vigil_status status);
const char* health_status_name(vigil_health_status status);

// Thread-safety: the calls may be made from any thread (the scheduler guarantees one collect /
// check / push at a time per instance; HTTP handlers run concurrently); create and shutdown
// belong to the main thread.
class Instance : public std::enable_shared_from_this<Instance> {
 public:
  // Creates the plugin's instance from already validated options. On failure returns nullptr
  // and sets `error` (the plugin's own message, with its status).
  static std::shared_ptr<Instance> create(std::shared_ptr<PluginLibrary> library,
                                          const config::InstanceConfig& config,
                                          const config::ResolvedOptions& options,
                                          std::chrono::milliseconds interval,
                                          std::chrono::milliseconds timeout, Services services,
                                          std::string& error);
  ~Instance();

  CallResult collect();
  CallResult check(HealthOutcome& outcome);
  CallResult push();
  CallResult flush(std::chrono::milliseconds deadline);
  CallResult notify(const vigil_notification& notification);

  // Unmounts routes, waits up to `deadline` for calls in flight, then destroys the plugin's
  // instance and drops its series. Returns false when it had to abandon a hung call.
  bool shutdown(std::chrono::milliseconds deadline);

  const std::string& name() const { return name_; }
  const std::string& plugin() const { return library_->name(); }
  const PluginLibrary& library() const { return *library_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }
  std::chrono::milliseconds interval() const { return interval_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  const std::vector<std::pair<std::string, std::string>>& routes() const;

  // The context handed to the plugin; host_api.cpp reaches the instance through it.
  vigil_host_ctx* context() { return context_.get(); }

  // Counts a call in flight for as long as it lives.
  class CallGuard {
   public:
    explicit CallGuard(Instance& instance);
    ~CallGuard();
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;

   private:
    Instance& instance_;
  };

 private:
  Instance() = default;
  template <typename Call>
  CallResult guarded(Call&& call);

  std::shared_ptr<PluginLibrary> library_;
  std::string name_;
  std::shared_ptr<spdlog::logger> logger_;
  std::chrono::milliseconds interval_{0}, timeout_{0};
  std::unique_ptr<vigil_host_ctx> context_;
  void* handle_ = nullptr;
  bool destroyed_ = false;
  std::atomic<int> in_flight_{0};
  std::mutex idle_mutex_;
  std::condition_variable idle_;
};

}  // namespace vigil::loader
