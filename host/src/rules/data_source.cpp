// StoreSource (see data_source.hpp): selectors answered by the store's index, with the
// matchers the index cannot take (!=, =~, !~, and = "") filtered here.
#include "rules/data_source.hpp"

namespace vigil::rules {

void StoreSource::select(const alerts::Selector& selector, int64_t now_ms,
                         std::vector<SeriesRef>& out) {
  select_where(selector, true, now_ms, out);
}

void StoreSource::select_registered(const alerts::Selector& selector, std::vector<SeriesRef>& out) {
  select_where(selector, false, 0, out);
}

void StoreSource::select_where(const alerts::Selector& selector, bool live_only, int64_t now_ms,
                               std::vector<SeriesRef>& out) {
  std::vector<std::pair<std::string, std::string>> equal;
  std::vector<const alerts::Matcher*> rest;
  for (const auto& m : selector.matchers) {
    if (m.op() == alerts::MatchOp::equal && !m.value().empty())
      equal.emplace_back(m.name(), m.value());
    else
      rest.push_back(&m);
  }
  auto visit_family = [&](std::string_view family) {
    auto keep = [&](const store::SeriesInfo& s) {
      SeriesRef ref;
      ref.id = s.id;
      ref.name = std::string(s.family);
      for (size_t i = 0; i < s.label_count; ++i) ref.labels[s.labels[i].name] = s.labels[i].value;
      for (const auto* m : rest)
        if (!m->matches(ref.labels)) return;
      out.push_back(std::move(ref));
    };
    if (live_only)
      store_.select(family, equal, keep, now_ms);
    else
      store_.select_registered(family, equal, keep);
  };
  if (!selector.name.empty()) {
    visit_family(selector.name);
    return;
  }
  // No name: every scalar family, filtered by a __name__ matcher when there is one.
  std::vector<std::string> families;
  store_.families([&](std::string_view name, vigil_metric_type type) {
    if (type == VIGIL_METRIC_HISTOGRAM || type == VIGIL_METRIC_SUMMARY) return;
    for (const auto* m : rest)
      if (m->name() == "__name__" && !m->matches(name)) return;
    families.emplace_back(name);
  });
  rest.erase(std::remove_if(rest.begin(), rest.end(),
                            [](const alerts::Matcher* m) { return m->name() == "__name__"; }),
             rest.end());
  for (const auto& f : families) visit_family(f);
}

}  // namespace vigil::rules
