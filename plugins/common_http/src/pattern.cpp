// See pattern.hpp. A thin RAII layer over <regex.h>.
#include "vigil_plugin_pattern/pattern.hpp"

#include <regex.h>

namespace vigil::plugin_pattern {

struct Pattern::Compiled {
  regex_t regex{};
  ~Compiled() { ::regfree(&regex); }
};

std::optional<Pattern> Pattern::compile(std::string_view expression, std::string& error) {
  auto compiled = std::make_shared<Compiled>();
  std::string text(expression);
  int rc = ::regcomp(&compiled->regex, text.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char buffer[256];
    ::regerror(rc, &compiled->regex, buffer, sizeof buffer);
    error = buffer;
    // regcomp() leaves nothing to free on failure; make the destructor's regfree() harmless.
    compiled->regex = regex_t{};
    return std::nullopt;
  }
  Pattern p;
  p.compiled_ = std::move(compiled);
  p.expression_ = std::move(text);
  return p;
}

bool Pattern::search(std::string_view text) const {
  if (!compiled_) return false;
  // REG_STARTEND bounds the search by length instead of a NUL, so a body holding NUL bytes is
  // searched whole and needs no copy.
  regmatch_t range[1];
  range[0].rm_so = 0;
  range[0].rm_eo = static_cast<regoff_t>(text.size());
  const char* data = text.empty() ? "" : text.data();
  return ::regexec(&compiled_->regex, data, 1, range, REG_STARTEND) == 0;
}

}  // namespace vigil::plugin_pattern
