#include "metrics/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <variant>

namespace imcap::metrics {

// ---- histogram ---------------------------------------------------------------------------

std::size_t detail::assign_cell() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % cells;
}

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::logic_error("histogram bounds must be finite and strictly ascending");
  }
  stride_ = (bounds_.size() + 2 + 7) / 8 * 8;  // intervals, +Inf, sum
  lines_ = std::make_unique<detail::line[]>(detail::cells * stride_ / 8);
}

void histogram::observe(double v) noexcept {
  // Buckets are stored per interval and made cumulative on read, so an observation touches
  // one bucket counter only. A value equal to a bound belongs to that bound's bucket (le).
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  const auto i = static_cast<std::size_t>(it - bounds_.begin());
  const std::size_t cell = detail::cell_index();
  slot(cell, i).fetch_add(1, std::memory_order_relaxed);
  // The sum is kept in integer millionths so it can be a lock-free atomic; negative and
  // non-finite values (never seen for latencies or sizes) add nothing to it.
  if (std::isfinite(v) && v > 0) {
    const double micro = std::round(v * 1e6);
    const auto add = micro >= 1.8e19 ? std::uint64_t{0} : static_cast<std::uint64_t>(micro);
    slot(cell, bounds_.size() + 1).fetch_add(add, std::memory_order_relaxed);
  }
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    for (std::size_t c = 0; c < detail::cells; ++c)
      running += slot(c, i).load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  // The count is the +Inf bucket, so a scrape racing observe() still shows _count equal to
  // the +Inf bucket, as Prometheus expects.
  s.count = running;
  std::uint64_t sum_micro = 0;
  for (std::size_t c = 0; c < detail::cells; ++c)
    sum_micro += slot(c, bounds_.size() + 1).load(std::memory_order_relaxed);
  s.sum = static_cast<double>(sum_micro) / 1e6;
  return s;
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
}

// ---- registry ----------------------------------------------------------------------------

namespace {

enum class kind { counter, gauge, histogram };

std::string_view type_name(kind k) {
  switch (k) {
    case kind::counter:
      return "counter";
    case kind::gauge:
      return "gauge";
    case kind::histogram:
      return "histogram";
  }
  return "untyped";
}

using series =
    std::variant<std::unique_ptr<counter>, std::unique_ptr<gauge>, std::unique_ptr<histogram>>;

struct family {
  std::string name;
  std::string help;
  kind type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histograms only
  mutable std::shared_mutex mutex;
  std::map<labels, series> children;  // ordered: the exposition is stable between scrapes
};

bool valid_name(std::string_view n, bool label) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit) || (!label && c == ':'))) return false;
  }
  return !(label && n.size() >= 2 && n[0] == '_' && n[1] == '_');  // "__" is reserved
}

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  out += std::to_string(v);
}
void append_number(std::string& out, std::int64_t v) {
  out += std::to_string(v);
}

// `{a="x",b="y"}` or nothing; `extra` (the histogram's le) goes last.
void append_labels(std::string& out, const std::vector<std::string>& names, const labels& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], true);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

struct registry::impl {
  mutable std::shared_mutex mutex;
  std::map<std::string, std::unique_ptr<family>, std::less<>> families;

  family& family_of(std::string_view name, std::string_view help, kind type,
                    std::initializer_list<std::string_view> label_names,
                    const std::vector<double>* bounds) {
    {
      std::shared_lock read(mutex);
      if (auto it = families.find(name); it != families.end()) {
        check_same(*it->second, help, type, label_names, bounds);
        return *it->second;
      }
    }
    if (!valid_name(name, false))
      throw std::logic_error("metric name " + std::string(name) + " is not a valid name");
    for (auto l : label_names) {
      if (!valid_name(l, true) || l == "le")
        throw std::logic_error("metric " + std::string(name) + ": label name " + std::string(l) +
                               " is not allowed");
    }
    std::unique_lock write(mutex);
    if (auto it = families.find(name); it != families.end()) {
      check_same(*it->second, help, type, label_names, bounds);
      return *it->second;
    }
    auto f = std::make_unique<family>();
    f->name = name;
    f->help = help;
    f->type = type;
    f->label_names.assign(label_names.begin(), label_names.end());
    if (bounds) f->bounds = *bounds;
    auto& ref = *f;
    families.emplace(std::string(name), std::move(f));
    return ref;
  }

  static void check_same(const family& f, std::string_view help, kind type,
                         std::initializer_list<std::string_view> label_names,
                         const std::vector<double>* bounds) {
    const bool same_labels = std::equal(f.label_names.begin(), f.label_names.end(),
                                        label_names.begin(), label_names.end());
    if (f.help != help || f.type != type || !same_labels || (bounds && f.bounds != *bounds))
      throw std::logic_error("metric " + f.name + " registered twice with different definitions");
  }

  template <class T, class Make>
  static T& child(family& f, const labels& values, Make make) {
    if (values.size() != f.label_names.size())
      throw std::logic_error("metric " + f.name + ": expected " +
                             std::to_string(f.label_names.size()) + " label value(s), got " +
                             std::to_string(values.size()));
    {
      std::shared_lock read(f.mutex);
      if (auto it = f.children.find(values); it != f.children.end())
        return *std::get<std::unique_ptr<T>>(it->second);
    }
    std::unique_lock write(f.mutex);
    auto [it, inserted] = f.children.try_emplace(values);
    if (inserted) it->second = make();
    return *std::get<std::unique_ptr<T>>(it->second);
  }
};

registry::registry() : impl_(std::make_unique<impl>()) {}
registry::~registry() = default;

registry& registry::global() {
  static registry r;
  return r;
}

counter& registry::counter_of(std::string_view name, std::string_view help,
                              std::initializer_list<std::string_view> label_names,
                              const labels& values) {
  auto& f = impl_->family_of(name, help, kind::counter, label_names, nullptr);
  return impl::child<counter>(f, values, [] { return std::make_unique<counter>(); });
}

gauge& registry::gauge_of(std::string_view name, std::string_view help,
                          std::initializer_list<std::string_view> label_names,
                          const labels& values) {
  auto& f = impl_->family_of(name, help, kind::gauge, label_names, nullptr);
  return impl::child<gauge>(f, values, [] { return std::make_unique<gauge>(); });
}

histogram& registry::histogram_of(std::string_view name, std::string_view help,
                                  std::vector<double> bounds,
                                  std::initializer_list<std::string_view> label_names,
                                  const labels& values) {
  // Bounds are checked before the family is made, so bad bounds leave nothing behind.
  histogram probe(bounds);
  (void)probe;
  auto& f = impl_->family_of(name, help, kind::histogram, label_names, &bounds);
  return impl::child<histogram>(f, values, [&f] { return std::make_unique<histogram>(f.bounds); });
}

std::string registry::expose() const {
  std::string out;
  std::shared_lock read(impl_->mutex);
  for (const auto& [name, fp] : impl_->families) {
    const family& f = *fp;
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, f.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    std::shared_lock read_children(f.mutex);
    for (const auto& [values, s] : f.children) {
      if (const auto* c = std::get_if<std::unique_ptr<counter>>(&s)) {
        out += name;
        append_labels(out, f.label_names, values);
        out += ' ';
        append_number(out, (*c)->value());
        out += '\n';
      } else if (const auto* g = std::get_if<std::unique_ptr<gauge>>(&s)) {
        out += name;
        append_labels(out, f.label_names, values);
        out += ' ';
        append_number(out, (*g)->value());
        out += '\n';
      } else if (const auto* h = std::get_if<std::unique_ptr<histogram>>(&s)) {
        const auto snap = (*h)->read();
        for (std::size_t i = 0; i <= snap.bounds.size(); ++i) {
          std::string le;
          if (i < snap.bounds.size())
            append_number(le, snap.bounds[i]);
          else
            le = "+Inf";
          out += name;
          out += "_bucket";
          append_labels(out, f.label_names, values, "le", le);
          out += ' ';
          append_number(out, snap.cumulative[i]);
          out += '\n';
        }
        out += name;
        out += "_sum";
        append_labels(out, f.label_names, values);
        out += ' ';
        append_number(out, snap.sum);
        out += '\n';
        out += name;
        out += "_count";
        append_labels(out, f.label_names, values);
        out += ' ';
        append_number(out, snap.count);
        out += '\n';
      }
    }
  }
  return out;
}

}  // namespace imcap::metrics
