// Pack file -> pack model. Every problem is collected with its file:line:column (toml++ keeps
// the source region of every key and value); the caller gets all of them in one pack_error or
// a complete pack, never something in between.

#include <sodium.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <map>
#include <set>
#include <utility>

#include "signatures/engine.hpp"
#include "signatures/pack.hpp"

namespace imcap::signatures {

std::string_view to_string(rule_kind k) {
  switch (k) {
    case rule_kind::keyword:
      return "keyword";
    case rule_kind::regex:
      return "regex";
    case rule_kind::dlp:
      return "dlp";
    case rule_kind::file:
      return "file";
    case rule_kind::app:
      return "app";
    case rule_kind::user_agent:
      return "user_agent";
  }
  return "?";
}

namespace {

constexpr std::array<std::pair<std::string_view, dlp_detector>, 10> detector_names{{
    {"payment_card", dlp_detector::payment_card},
    {"iban", dlp_detector::iban},
    {"us_ssn", dlp_detector::us_ssn},
    {"private_key", dlp_detector::private_key},
    {"aws_access_key", dlp_detector::aws_access_key},
    {"slack_token", dlp_detector::slack_token},
    {"github_token", dlp_detector::github_token},
    {"google_api_key", dlp_detector::google_api_key},
    {"jwt", dlp_detector::jwt},
    {"connection_string_password", dlp_detector::connection_string_password},
}};

}  // namespace

std::string_view to_string(dlp_detector d) {
  for (const auto& [n, v] : detector_names)
    if (v == d) return n;
  return "?";
}

std::optional<dlp_detector> detector_from_string(std::string_view s) {
  for (const auto& [n, v] : detector_names)
    if (n == s) return v;
  return std::nullopt;
}

std::string_view to_string(part p) {
  switch (p) {
    case part::text:
      return "text";
    case part::attachment_name:
      return "attachment_name";
    case part::attachment_content:
      return "attachment_content";
    case part::url:
      return "url";
    case part::app:
      return "app";
    case part::user_agent:
      return "user_agent";
  }
  return "?";
}

std::string_view to_string(action a) {
  switch (a) {
    case action::log:
      return "log";
    case action::warn:
      return "warn";
    case action::redact:
      return "redact";
    case action::block:
      return "block";
    case action::quarantine:
      return "quarantine";
  }
  return "?";
}

std::string_view to_string(severity s) {
  switch (s) {
    case severity::low:
      return "low";
    case severity::medium:
      return "medium";
    case severity::high:
      return "high";
    case severity::critical:
      return "critical";
  }
  return "?";
}

std::string_view to_string(direction d) {
  switch (d) {
    case direction::any:
      return "any";
    case direction::outbound:
      return "outbound";
    case direction::inbound:
      return "inbound";
  }
  return "?";
}

std::string_view to_string(pack_mode m) {
  return m == pack_mode::enforce ? "enforce" : "monitor";
}

std::vector<part> effective_parts(const rule& r) {
  switch (r.kind) {
    case rule_kind::keyword:
    case rule_kind::regex:
    case rule_kind::dlp:
      if (!r.scope.parts.empty()) return r.scope.parts;
      return {part::text, part::attachment_content};
    case rule_kind::file:
      return {part::attachment_content};
    case rule_kind::app:
      return {part::app};
    case rule_kind::user_agent:
      return {part::user_agent};
  }
  return {};
}

pack_error::pack_error(std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string all;
        for (const auto& p : problems) {
          if (!all.empty()) all += '\n';
          all += p;
        }
        return all;
      }()),
      problems_(std::move(problems)) {}

namespace {

template <class E>
using enum_table = std::initializer_list<std::pair<std::string_view, E>>;

class checker {
 public:
  explicit checker(std::string file) : file_(std::move(file)) {}

  void error(const toml::source_region& where, const std::string& why) {
    error(source_pos{where.begin.line, where.begin.column}, why);
  }
  void error(source_pos where, const std::string& why) {
    problems_.push_back({where, file_ + ":" + std::to_string(where.line) + ":" +
                                    std::to_string(where.column) + ": " + why});
  }
  bool any() const { return !problems_.empty(); }
  // In file order, whatever order the checks ran in.
  std::vector<std::string> problems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const auto& a, const auto& b) {
      return a.first.line != b.first.line ? a.first.line < b.first.line
                                          : a.first.column < b.first.column;
    });
    std::vector<std::string> out;
    for (auto& p : problems_) out.push_back(std::move(p.second));
    return out;
  }

  static source_pos pos(const toml::node& n) {
    return {n.source().begin.line, n.source().begin.column};
  }

  // Reports keys not in `allowed` (with a hint when the key belongs to another rule kind).
  void only_keys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                 std::string_view what,
                 const std::map<std::string_view, std::string_view>& hints = {}) {
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      std::string why = "unknown key '" + std::string(k.str()) + "' in " + std::string(what);
      if (auto h = hints.find(k.str()); h != hints.end())
        why += " (" + std::string(h->second) + ")";
      error(k.source(), why);
    }
  }

  std::optional<std::string> string(const toml::node& n, std::string_view key) {
    if (auto s = n.as_string()) return s->get();
    error(n.source(), "'" + std::string(key) + "' must be a string, not " + type_name(n));
    return std::nullopt;
  }

  std::optional<bool> boolean(const toml::node& n, std::string_view key) {
    if (auto b = n.as_boolean()) return b->get();
    error(n.source(), "'" + std::string(key) + "' must be true or false, not " + type_name(n));
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(const toml::node& n, std::string_view key, std::int64_t lo,
                                      std::int64_t hi) {
    auto i = n.as_integer();
    if (!i) {
      error(n.source(), "'" + std::string(key) + "' must be an integer, not " + type_name(n));
      return std::nullopt;
    }
    if (i->get() < lo || i->get() > hi) {
      error(n.source(), "'" + std::string(key) + "' must be between " + std::to_string(lo) +
                            " and " + std::to_string(hi) + ", not " + std::to_string(i->get()));
      return std::nullopt;
    }
    return i->get();
  }

  // An array of strings (a single string is accepted as a one-element list), with positions.
  std::vector<pattern> strings(const toml::node& n, std::string_view key, bool allow_empty_items) {
    std::vector<pattern> out;
    auto one = [&](const toml::node& item) {
      if (auto s = item.as_string()) {
        if (s->get().empty() && !allow_empty_items)
          error(item.source(), "empty string in '" + std::string(key) + "'");
        else
          out.push_back({s->get(), pos(item)});
      } else {
        error(item.source(),
              "'" + std::string(key) + "' must hold strings, not " + type_name(item));
      }
    };
    if (auto a = n.as_array()) {
      for (const auto& item : *a) one(item);
    } else if (n.is_string()) {
      one(n);
    } else {
      error(n.source(),
            "'" + std::string(key) + "' must be an array of strings, not " + type_name(n));
    }
    return out;
  }

  std::vector<std::string> plain_strings(const toml::node& n, std::string_view key) {
    std::vector<std::string> out;
    for (auto& p : strings(n, key, false)) out.push_back(std::move(p.text));
    return out;
  }

  template <class E>
  std::optional<E> one_of(const toml::node& n, std::string_view key, enum_table<E> values) {
    auto s = string(n, key);
    if (!s) return std::nullopt;
    for (const auto& [name, v] : values)
      if (name == *s) return v;
    std::string expected;
    for (const auto& [name, v] : values) {
      if (!expected.empty()) expected += ", ";
      expected += name;
    }
    error(n.source(), "bad value '" + *s + "' for '" + std::string(key) +
                          "' (expected one of: " + expected + ")");
    return std::nullopt;
  }

  static std::string type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::date:
        return "a date";
      case toml::node_type::time:
        return "a time";
      case toml::node_type::date_time:
        return "a date-time";
      case toml::node_type::none:
        break;
    }
    return "nothing";
  }

 private:
  std::string file_;
  std::vector<std::pair<source_pos, std::string>> problems_;
};

const enum_table<direction> direction_names{
    {"any", direction::any}, {"outbound", direction::outbound}, {"inbound", direction::inbound}};

const enum_table<part> content_part_names{{"text", part::text},
                                          {"attachment_name", part::attachment_name},
                                          {"attachment_content", part::attachment_content},
                                          {"url", part::url}};

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
}

bool valid_version_number(std::string_view v) {
  if (v.empty() || v.front() == '.' || v.back() == '.') return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::optional<std::string> decode_bin(std::string_view in, bool hex) {
  std::string out(in.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  int rc =
      hex ? sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                           in.size(), " \n", &len, &end)
          : sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                              in.size(), " \r\n", &len, &end, sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || end != in.data() + in.size()) return std::nullopt;
  out.resize(len);
  return out;
}

example parse_example(checker& c, const toml::node& n, const rule& r, std::string_view key) {
  example ex;
  ex.where = checker::pos(n);
  if (auto s = n.as_string()) {
    switch (r.kind) {
      case rule_kind::app:
        ex.app = s->get();
        break;
      case rule_kind::user_agent:
        ex.user_agent = s->get();
        break;
      case rule_kind::file:
        ex.attachment_name = s->get();
        break;
      default:
        ex.text = s->get();
        break;
    }
    return ex;
  }
  auto t = n.as_table();
  if (!t) {
    c.error(n.source(), "'" + std::string(key) + "' items must be strings or tables, not " +
                            checker::type_name(n));
    return ex;
  }
  c.only_keys(*t,
              {"text", "url", "attachment_name", "content", "content_hex", "content_base64", "app",
               "app_category", "transport", "user", "groups", "direction", "user_agent"},
              "an example");
  auto str = [&](std::string_view k, std::optional<std::string>& dst) {
    if (auto v = t->get(k)) dst = c.string(*v, k);
  };
  str("text", ex.text);
  str("url", ex.url);
  str("attachment_name", ex.attachment_name);
  str("content", ex.content);
  str("app", ex.app);
  str("app_category", ex.app_category);
  str("transport", ex.transport);
  str("user", ex.user);
  str("user_agent", ex.user_agent);
  for (auto [k, hex] : {std::pair{"content_hex", true}, std::pair{"content_base64", false}}) {
    if (auto v = t->get(k)) {
      if (auto s = c.string(*v, k)) {
        if (auto bin = decode_bin(*s, hex))
          ex.content = std::move(*bin);
        else
          c.error(v->source(),
                  std::string("'") + k + "' is not valid " + (hex ? "hexadecimal" : "base64"));
      }
    }
  }
  if (auto v = t->get("groups")) ex.groups = c.plain_strings(*v, "groups");
  if (auto v = t->get("direction")) ex.dir = c.one_of(*v, "direction", direction_names);
  return ex;
}

void parse_scope(checker& c, const toml::node& n, rule& r) {
  auto t = n.as_table();
  if (!t) {
    c.error(n.source(), "'scope' must be a table, not " + checker::type_name(n));
    return;
  }
  c.only_keys(*t, {"direction", "apps", "transports", "users", "groups", "parts"}, "scope");
  if (auto v = t->get("direction"))
    if (auto d = c.one_of(*v, "direction", direction_names)) r.scope.dir = *d;
  if (auto v = t->get("apps")) r.scope.apps = c.plain_strings(*v, "apps");
  if (auto v = t->get("transports")) r.scope.transports = c.plain_strings(*v, "transports");
  if (auto v = t->get("users")) r.scope.users = c.plain_strings(*v, "users");
  if (auto v = t->get("groups")) r.scope.groups = c.plain_strings(*v, "groups");
  if (auto v = t->get("parts")) {
    const bool content =
        r.kind == rule_kind::keyword || r.kind == rule_kind::regex || r.kind == rule_kind::dlp;
    if (!content) {
      c.error(v->source(), "'parts' applies to keyword, regex and dlp rules only");
    } else if (auto a = v->as_array()) {
      for (const auto& item : *a)
        if (auto p = c.one_of(item, "parts", content_part_names)) r.scope.parts.push_back(*p);
      if (a->empty()) c.error(v->source(), "'parts' is empty: the rule would never scan anything");
    } else {
      c.error(v->source(), "'parts' must be an array of strings, not " + checker::type_name(*v));
    }
  }
}

void parse_rule(checker& c, const toml::table& t, rule& r) {
  r.where = {t.source().begin.line, t.source().begin.column};
  // Kind first: which keys are allowed depends on it.
  if (auto v = t.get("kind")) {
    if (auto k = c.one_of<rule_kind>(*v, "kind",
                                     {{"keyword", rule_kind::keyword},
                                      {"regex", rule_kind::regex},
                                      {"dlp", rule_kind::dlp},
                                      {"file", rule_kind::file},
                                      {"app", rule_kind::app},
                                      {"user_agent", rule_kind::user_agent}}))
      r.kind = *k;
    else
      return;  // nothing else can be judged without the kind
  } else {
    c.error(t.source(), "rule has no 'kind'");
    return;
  }
  const std::initializer_list<std::string_view> common{
      "id",      "kind",       "scope",          "action",     "severity",
      "message", "must_match", "must_not_match", "description"};
  std::vector<std::string_view> allowed(common);
  switch (r.kind) {
    case rule_kind::keyword:
      allowed.insert(allowed.end(), {"keywords", "options", "min_count", "near"});
      break;
    case rule_kind::regex:
      allowed.insert(allowed.end(), {"patterns", "options", "min_count", "near"});
      break;
    case rule_kind::dlp:
      allowed.insert(allowed.end(), {"detector", "min_count", "near"});
      break;
    case rule_kind::file:
      allowed.insert(allowed.end(), {"true_types", "extensions", "min_size", "max_size", "sha256",
                                     "archive_member_names", "archive_member_types"});
      break;
    case rule_kind::app:
      allowed.insert(allowed.end(), {"app_ids", "categories"});
      break;
    case rule_kind::user_agent:
      allowed.insert(allowed.end(), {"product", "below"});
      break;
  }
  const std::map<std::string_view, std::string_view> hints{
      {"keywords", "keyword rules only"},
      {"patterns", "regex rules only"},
      {"options", "keyword and regex rules only"},
      {"detector", "dlp rules only"},
      {"min_count", "keyword, regex and dlp rules only"},
      {"near", "keyword, regex and dlp rules only"},
      {"true_types", "file rules only"},
      {"extensions", "file rules only"},
      {"min_size", "file rules only"},
      {"max_size", "file rules only"},
      {"sha256", "file rules only"},
      {"archive_member_names", "file rules only"},
      {"archive_member_types", "file rules only"},
      {"app_ids", "app rules only"},
      {"categories", "app rules only"},
      {"product", "user_agent rules only"},
      {"below", "user_agent rules only"},
  };
  for (auto&& [k, v] : t) {
    if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
    std::string why = "unknown key '" + std::string(k.str()) + "' in a " +
                      std::string(to_string(r.kind)) + " rule";
    if (auto h = hints.find(k.str()); h != hints.end()) why += " (" + std::string(h->second) + ")";
    c.error(k.source(), why);
  }

  if (r.kind == rule_kind::keyword) r.options.case_insensitive = true;
  if (auto v = t.get("options")) {
    if (auto o = v->as_table()) {
      c.only_keys(*o, {"case_insensitive", "whole_word", "dotall"}, "options");
      if (auto b = o->get("case_insensitive"))
        if (auto x = c.boolean(*b, "case_insensitive")) r.options.case_insensitive = *x;
      if (auto b = o->get("whole_word"))
        if (auto x = c.boolean(*b, "whole_word")) r.options.whole_word = *x;
      if (auto b = o->get("dotall"))
        if (auto x = c.boolean(*b, "dotall")) r.options.dotall = *x;
    } else {
      c.error(v->source(), "'options' must be a table, not " + checker::type_name(*v));
    }
  }

  switch (r.kind) {
    case rule_kind::keyword:
    case rule_kind::regex: {
      const char* key = r.kind == rule_kind::keyword ? "keywords" : "patterns";
      if (auto v = t.get(key)) {
        r.patterns = c.strings(*v, key, false);
        if (r.patterns.empty() && (v->is_array() && v->as_array()->empty()))
          c.error(v->source(), std::string("'") + key + "' is empty");
      } else {
        c.error(t.source(), std::string("rule '") + r.id + "' has no '" + key + "'");
      }
      break;
    }
    case rule_kind::dlp:
      if (auto v = t.get("detector")) {
        if (auto s = c.string(*v, "detector")) {
          r.detector = detector_from_string(*s);
          if (!r.detector) {
            std::string expected;
            for (const auto& [n, d] : detector_names) {
              if (!expected.empty()) expected += ", ";
              expected += n;
            }
            c.error(v->source(),
                    "unknown detector '" + *s + "' (expected one of: " + expected + ")");
          }
        }
      } else {
        c.error(t.source(), "rule '" + r.id + "' has no 'detector'");
      }
      break;
    case rule_kind::file: {
      bool any = false;
      if (auto v = t.get("true_types")) {
        r.file.true_types = c.plain_strings(*v, "true_types");
        for (auto& s : r.file.true_types) s = lower(s);
        any = true;
      }
      if (auto v = t.get("extensions")) {
        for (auto& p : c.strings(*v, "extensions", false)) {
          std::string e = lower(p.text);
          if (e.front() != '.') e.insert(e.begin(), '.');
          r.file.extensions.push_back(std::move(e));
        }
        any = true;
      }
      if (auto v = t.get("min_size")) {
        if (auto i = c.integer(*v, "min_size", 0, INT64_MAX))
          r.file.min_size = static_cast<std::uint64_t>(*i);
        any = true;
      }
      if (auto v = t.get("max_size")) {
        if (auto i = c.integer(*v, "max_size", 0, INT64_MAX))
          r.file.max_size = static_cast<std::uint64_t>(*i);
        any = true;
      }
      if (auto v = t.get("sha256")) {
        for (auto& p : c.strings(*v, "sha256", false)) {
          std::string h = lower(p.text);
          if (!is_hex64(h))
            c.error(p.where, "'" + p.text + "' is not a sha256 digest (64 hexadecimal digits)");
          else
            r.file.sha256.push_back(std::move(h));
        }
        any = true;
      }
      if (auto v = t.get("archive_member_names")) {
        r.file.archive_member_names = c.plain_strings(*v, "archive_member_names");
        any = true;
      }
      if (auto v = t.get("archive_member_types")) {
        r.file.archive_member_types = c.plain_strings(*v, "archive_member_types");
        for (auto& s : r.file.archive_member_types) s = lower(s);
        any = true;
      }
      if (!any)
        c.error(t.source(), "file rule '" + r.id +
                                "' has no condition (true_types, extensions, min_size, max_size, "
                                "sha256, archive_member_names or archive_member_types)");
      break;
    }
    case rule_kind::app:
      if (auto v = t.get("app_ids")) r.app_ids = c.plain_strings(*v, "app_ids");
      if (auto v = t.get("categories")) r.app_categories = c.plain_strings(*v, "categories");
      if (r.app_ids.empty() && r.app_categories.empty())
        c.error(t.source(), "app rule '" + r.id + "' names no 'app_ids' and no 'categories'");
      break;
    case rule_kind::user_agent:
      if (auto v = t.get("product")) {
        if (auto s = c.string(*v, "product")) {
          if (s->empty()) c.error(v->source(), "'product' is empty");
          r.ua.product = *s;
        }
      } else {
        c.error(t.source(), "user_agent rule '" + r.id + "' has no 'product'");
      }
      if (auto v = t.get("below")) {
        if (auto s = c.string(*v, "below")) {
          if (!valid_version_number(*s))
            c.error(v->source(),
                    "'below' must be a version number like \"7\" or \"52.0\", not '" + *s + "'");
          r.ua.below = *s;
        }
      } else {
        c.error(t.source(), "user_agent rule '" + r.id + "' has no 'below'");
      }
      break;
  }

  if (auto v = t.get("min_count"))
    if (auto i = c.integer(*v, "min_count", 1, 10000)) r.min_count = static_cast<std::uint32_t>(*i);
  if (auto v = t.get("near")) {
    if (auto o = v->as_table()) {
      c.only_keys(*o, {"keywords", "within"}, "near");
      near_condition nc;
      if (auto k = o->get("keywords"))
        nc.keywords = c.plain_strings(*k, "keywords");
      else
        c.error(v->source(), "'near' needs 'keywords'");
      if (auto w = o->get("within")) {
        if (auto i = c.integer(*w, "within", 1, 10000)) nc.within = static_cast<std::uint32_t>(*i);
      } else {
        c.error(v->source(), "'near' needs 'within' (bytes)");
      }
      r.near = std::move(nc);
    } else {
      c.error(v->source(), "'near' must be a table, not " + checker::type_name(*v));
    }
  }
  if (auto v = t.get("scope")) parse_scope(c, *v, r);
  if (auto v = t.get("action"))
    if (auto a = c.one_of<action>(*v, "action",
                                  {{"log", action::log},
                                   {"warn", action::warn},
                                   {"redact", action::redact},
                                   {"block", action::block},
                                   {"quarantine", action::quarantine}}))
      r.act = *a;
  if (auto v = t.get("severity"))
    if (auto s = c.one_of<severity>(*v, "severity",
                                    {{"low", severity::low},
                                     {"medium", severity::medium},
                                     {"high", severity::high},
                                     {"critical", severity::critical}}))
      r.sev = *s;
  if (auto v = t.get("message"))
    if (auto s = c.string(*v, "message")) r.message = *s;
  if (auto v = t.get("description")) c.string(*v, "description");
  if (r.act == action::redact &&
      (r.kind == rule_kind::file || r.kind == rule_kind::app || r.kind == rule_kind::user_agent))
    c.error(t.get("action")->source(),
            "action 'redact' needs a matched span: use it with keyword, regex or dlp rules");
  for (auto [key, dst] :
       {std::pair{"must_match", &r.must_match}, std::pair{"must_not_match", &r.must_not_match}}) {
    if (auto v = t.get(key)) {
      if (auto a = v->as_array()) {
        for (const auto& item : *a) dst->push_back(parse_example(c, item, r, key));
      } else {
        c.error(v->source(),
                std::string("'") + key + "' must be an array, not " + checker::type_name(*v));
      }
    }
  }
}

}  // namespace

pack parse_pack(std::string_view bytes, const std::filesystem::path& file) {
  checker c(file.string());
  pack p;
  p.file = file;
  {
    static const int sodium_ready = sodium_init();
    (void)sodium_ready;
    std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
    crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                       bytes.size());
    std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
    p.sha256 = hex.data();
  }

  toml::table doc;
  try {
    doc = toml::parse(bytes, file.string());
  } catch (const toml::parse_error& e) {
    c.error(e.source(), std::string(e.description()));
    throw pack_error(c.problems());
  }

  c.only_keys(doc, {"name", "version", "description", "author", "mode", "rule"}, "the pack",
              {{"rules", "rules are written as [[rule]] tables"}});
  const source_pos top{1, 1};
  auto required = [&](std::string_view key, std::string& dst) {
    if (auto v = doc.get(key)) {
      if (auto s = c.string(*v, key)) {
        if (s->empty()) c.error(v->source(), "'" + std::string(key) + "' is empty");
        dst = *s;
      }
    } else {
      c.error(top, "missing required key '" + std::string(key) + "'");
    }
  };
  required("name", p.name);
  required("version", p.version);
  if (auto v = doc.get("description"))
    if (auto s = c.string(*v, "description")) p.description = *s;
  if (auto v = doc.get("author"))
    if (auto s = c.string(*v, "author")) p.author = *s;
  if (auto v = doc.get("mode"))
    if (auto m = c.one_of<pack_mode>(
            *v, "mode", {{"enforce", pack_mode::enforce}, {"monitor", pack_mode::monitor}}))
      p.mode = *m;

  std::map<std::string, source_pos> ids;
  if (auto v = doc.get("rule")) {
    if (auto a = v->as_array()) {
      for (const auto& item : *a) {
        auto t = item.as_table();
        if (!t) {
          c.error(item.source(), "each rule must be a [[rule]] table");
          continue;
        }
        rule r;
        if (auto id = t->get("id")) {
          if (auto s = c.string(*id, "id")) {
            if (!valid_id(*s)) {
              c.error(id->source(), "rule id '" + *s +
                                        "' must be 1-128 characters of letters, digits, '_', '-' "
                                        "or '.'");
            } else if (auto [it, fresh] = ids.emplace(*s, checker::pos(*id)); !fresh) {
              c.error(id->source(), "duplicate rule id '" + *s + "' (first defined at line " +
                                        std::to_string(it->second.line) + ")");
            }
            r.id = *s;
          }
        } else {
          c.error(t->source(), "rule has no 'id'");
        }
        parse_rule(c, *t, r);
        p.rules.push_back(std::move(r));
      }
    } else {
      c.error(v->source(), "'rule' must be written as [[rule]] tables");
    }
  }
  if (p.rules.empty()) c.error(top, "empty pack: no [[rule]] tables");
  if (c.any()) throw pack_error(c.problems());
  return p;
}

}  // namespace imcap::signatures
