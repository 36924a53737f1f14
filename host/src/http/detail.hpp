// Internals shared by the HTTP server's own .cpp files: how a request learns it was cancelled.
//
// Not part of the server's interface: only host/src/http/ includes it. It must never pull in
// Beast or Asio, so request.cpp stays quick to compile and free of the I/O machinery.
#pragma once

#include "http/server.hpp"

#include <atomic>
#include <memory>

namespace vigil::http::detail {

// One per request. The I/O thread sets client_gone; the server sets *server_stopping once for
// every request at stop(). Thread-safety: atomics only, read from handler threads.
struct CancelState {
  std::atomic<bool> client_gone{false};
  std::shared_ptr<const std::atomic<bool>> server_stopping;

  bool cancelled() const {
    return client_gone.load(std::memory_order_acquire) ||
           (server_stopping && server_stopping->load(std::memory_order_acquire));
  }
};

// The server's door into Request/Response internals. Thread-safety: none of its own.
struct Access {
  static void attach(Request& request, std::shared_ptr<const CancelState> cancel) {
    request.cancel_ = std::move(cancel);
  }
  static void attach(Response& response, std::shared_ptr<const CancelState> cancel) {
    response.cancel_ = std::move(cancel);
  }
  static std::vector<std::string> take_body(Response& response) {
    response.body_size_ = 0;
    return std::move(response.body_);
  }
};

// ASCII case-insensitive equality, as HTTP field names compare.
bool iequals(std::string_view a, std::string_view b);

// Decodes %XX escapes and '+' (as a space, as forms encode it); a malformed escape stays as is.
std::string percent_decode(std::string_view text);

}  // namespace vigil::http::detail
