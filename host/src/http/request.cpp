// Request and Response: the plain-data side of an HTTP exchange that handlers (and, through the
// loader, plugins) see. No I/O happens here; the server fills a Request and sends a Response.
// Nothing here may throw on odd client input: a malformed query or header is kept as received.
#include "http/detail.hpp"

#include <cctype>

namespace vigil::http {
namespace detail {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace detail

namespace {

const std::string* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (detail::iequals(key, name)) return &value;
  }
  return nullptr;
}

HeaderList parse_query(std::string_view query) {
  HeaderList out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(detail::percent_decode(pair), std::string{});
    } else {
      out.emplace_back(detail::percent_decode(pair.substr(0, eq)),
                       detail::percent_decode(pair.substr(eq + 1)));
    }
  }
  return out;
}

}  // namespace

Request::Request(std::string method, std::string target, HeaderList headers, std::string body)
    : method_(std::move(method)), target_(std::move(target)), body_(std::move(body)) {
  const size_t question = target_.find('?');
  path_ = target_.substr(0, question);
  if (question != std::string::npos)
    query_ = parse_query(std::string_view(target_).substr(question + 1));
  // A repeated field means the same as one field with the values comma-joined (RFC 9110 5.3),
  // so a single lookup sees every value.
  for (auto& [name, value] : headers) {
    bool merged = false;
    for (auto& [seen_name, seen_value] : headers_) {
      if (detail::iequals(seen_name, name)) {
        seen_value += ", ";
        seen_value += value;
        merged = true;
        break;
      }
    }
    if (!merged) headers_.emplace_back(std::move(name), std::move(value));
  }
}

std::optional<std::string_view> Request::query(std::string_view name) const {
  for (const auto& [key, value] : query_) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

const std::string* Request::header(std::string_view name) const {
  return find_header(headers_, name);
}

bool Request::cancelled() const {
  return cancel_ && cancel_->cancelled();
}

void Response::set_status(int code) {
  status_ = code;
}

void Response::set_header(std::string_view name, std::string_view value) {
  for (auto& [key, existing] : headers_) {
    if (detail::iequals(key, name)) {
      existing.assign(value);
      return;
    }
  }
  headers_.emplace_back(std::string(name), std::string(value));
}

bool Response::write(std::string_view data) {
  if (cancel_ && cancel_->cancelled()) return false;
  if (data.empty()) return true;
  // Small writes (a JSON handler's pieces) are gathered so the chunk list stays short; a write
  // that would take the last chunk past this size starts a chunk of its own, exactly its size.
  constexpr size_t kGather = 16 * 1024;
  if (!body_.empty() && body_.back().size() + data.size() <= kGather) {
    body_.back().append(data);
  } else {
    body_.emplace_back(data);
  }
  body_size_ += data.size();
  return true;
}

std::string Response::body() const {
  if (body_.size() == 1) return body_.front();
  std::string out;
  out.reserve(body_size_);
  for (const auto& chunk : body_) out += chunk;
  return out;
}

const std::string* Response::header(std::string_view name) const {
  return find_header(headers_, name);
}

}  // namespace vigil::http
