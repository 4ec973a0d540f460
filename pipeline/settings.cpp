#include "pipeline/settings.hpp"

#include <set>

#include "common/toml_fields.hpp"

namespace imcap::pipeline {

std::string_view to_string(action a) noexcept {
  switch (a) {
    case action::allow:
      return "allow";
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
  return "allow";
}

std::string_view verdict_word(action a) noexcept {
  switch (a) {
    case action::allow:
    case action::log:
      return "allow";
    case action::warn:
      return "warn";
    case action::redact:
      return "modify";
    case action::block:
      return "block";
    case action::quarantine:
      return "quarantine";
  }
  return "allow";
}

std::string_view to_string(fail_mode m) noexcept {
  return m == fail_mode::open ? "fail_open" : "fail_closed";
}

namespace {

const toml_fields::section<settings_error> field{"policy"};

std::string nonempty(const std::string& file, const toml::node& n, std::string_view key) {
  auto v = field.string(file, n, key);
  if (v.empty()) field.fail(file, n, key, "may not be empty");
  return v;
}

std::vector<std::string> strings(const std::string& file, const toml::node& n,
                                 std::string_view key) {
  const auto* arr = n.as_array();
  if (arr == nullptr) field.fail(file, n, key, "expected an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *arr) out.push_back(nonempty(file, item, key));
  return out;
}

action action_of(const std::string& file, const toml::node& n, std::string_view key) {
  auto v = field.string(file, n, key);
  for (auto a : {action::allow, action::log, action::warn, action::redact, action::block,
                 action::quarantine}) {
    if (v == to_string(a)) return a;
  }
  field.fail(file, n, key, "expected allow, log, warn, redact, block or quarantine");
}

fail_mode fail_mode_of(const std::string& file, const toml::node& n, std::string_view key) {
  auto v = field.string(file, n, key);
  if (v == "fail_open") return fail_mode::open;
  if (v == "fail_closed") return fail_mode::closed;
  field.fail(file, n, key, "expected \"fail_open\" or \"fail_closed\"");
}

rule_direction direction_of(const std::string& file, const toml::node& n, std::string_view key) {
  auto v = field.string(file, n, key);
  if (v == "any") return rule_direction::any;
  if (v == "outbound") return rule_direction::outbound;
  if (v == "inbound") return rule_direction::inbound;
  field.fail(file, n, key, "expected \"any\", \"outbound\" or \"inbound\"");
}

const toml::table& table_item(const std::string& file, const toml::node& n, std::string_view key) {
  const auto* t = n.as_table();
  if (t == nullptr)
    field.fail(file, n, key, "expected a table ([[policy." + std::string(key) + "]])");
  return *t;
}

const toml::array& table_array(const std::string& file, const toml::node& n, std::string_view key) {
  const auto* arr = n.as_array();
  if (arr == nullptr || !arr->is_array_of_tables())
    field.fail(file, n, key, "expected an array of tables ([[policy." + std::string(key) + "]])");
  return *arr;
}

std::vector<policy_rule> rules_of(const std::string& file, const toml::node& n) {
  std::vector<policy_rule> out;
  std::set<std::string, std::less<>> ids;
  for (const auto& item : table_array(file, n, "rules")) {
    const auto& t = table_item(file, item, "rules");
    policy_rule r;
    bool have_action = false;
    for (const auto& [k, v] : t) {
      std::string key = "rules." + std::string(k.str());
      const std::string_view name = k.str();
      if (name == "id") {
        r.id = nonempty(file, v, key);
        if (!ids.insert(r.id).second)
          field.fail(file, v, key, "duplicate rule id \"" + r.id + "\"");
      } else if (name == "action") {
        r.act = action_of(file, v, key);
        have_action = true;
      } else if (name == "match") {
        r.match = strings(file, v, key);
      } else if (name == "apps") {
        r.apps = strings(file, v, key);
      } else if (name == "users") {
        r.users = strings(file, v, key);
      } else if (name == "groups") {
        r.groups = strings(file, v, key);
      } else if (name == "conversations") {
        r.conversations = strings(file, v, key);
      } else if (name == "direction") {
        r.dir = direction_of(file, v, key);
      } else if (name == "message") {
        r.message = field.string(file, v, key);
      } else {
        field.fail(file, v, key, "unknown key");
      }
    }
    if (r.id.empty()) field.fail(file, item, "rules", "a rule needs an id");
    if (!have_action) field.fail(file, item, "rules", "rule \"" + r.id + "\" needs an action");
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<wall> walls_of(const std::string& file, const toml::node& n) {
  std::vector<wall> out;
  for (const auto& item : table_array(file, n, "walls")) {
    const auto& t = table_item(file, item, "walls");
    wall w;
    for (const auto& [k, v] : t) {
      std::string key = "walls." + std::string(k.str());
      const std::string_view name = k.str();
      if (name == "id") {
        w.id = nonempty(file, v, key);
      } else if (name == "from") {
        w.from = strings(file, v, key);
      } else if (name == "to") {
        w.to = strings(file, v, key);
      } else if (name == "both_ways") {
        w.both_ways = field.boolean(file, v, key);
      } else if (name == "action") {
        w.act = action_of(file, v, key);
      } else if (name == "message") {
        w.message = field.string(file, v, key);
      } else {
        field.fail(file, v, key, "unknown key");
      }
    }
    if (w.id.empty()) field.fail(file, item, "walls", "a wall needs an id");
    if (w.from.empty() || w.to.empty())
      field.fail(file, item, "walls", "wall \"" + w.id + "\" needs groups in both from and to");
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

void apply_policy_table(const toml::table& section, const std::string& file, policy_settings& s) {
  for (const auto& [k, n] : section) {
    const std::string_view key = k.str();
    if (key == "mode") {
      auto v = field.string(file, n, key);
      if (v != "enforce" && v != "monitor")
        field.fail(file, n, key, "expected \"enforce\" or \"monitor\"");
      s.monitor = v == "monitor";
    } else if (key == "archive") {
      auto v = field.string(file, n, key);
      if (v == "all")
        s.archive = archive_scope::all;
      else if (v == "hits")
        s.archive = archive_scope::hits;
      else if (v == "off")
        s.archive = archive_scope::off;
      else
        field.fail(file, n, key, "expected \"all\", \"hits\" or \"off\"");
    } else if (key == "groups_header") {
      s.groups_header = field.string(file, n, key);
    } else if (key == "groups_separator") {
      s.groups_separator = nonempty(file, n, key);
    } else if (key == "transaction_header") {
      s.transaction_header = field.string(file, n, key);
    } else if (key == "redact_mask") {
      s.redact_mask = field.string(file, n, key);
    } else if (key == "redact_per_character") {
      s.redact_per_character = field.boolean(file, n, key);
    } else if (key == "block_message") {
      s.block_message = nonempty(file, n, key);
    } else if (key == "warn_message") {
      s.warn_message = nonempty(file, n, key);
    } else if (key == "redact_message") {
      s.redact_message = nonempty(file, n, key);
    } else if (key == "quarantine_message") {
      s.quarantine_message = nonempty(file, n, key);
    } else if (key == "disclaimer_message") {
      s.disclaimer_message = nonempty(file, n, key);
    } else if (key == "disclaimer_period") {
      s.disclaimer_period = std::chrono::seconds(field.integer(file, n, key, 0, 366LL * 86400));
    } else if (key == "virus_action") {
      s.virus_action = action_of(file, n, key);
      if (s.virus_action < action::block) field.fail(file, n, key, "expected block or quarantine");
    } else if (key == "release_pass_hours") {
      s.release_pass = std::chrono::hours(field.integer(file, n, key, 0, 366LL * 24));
    } else if (key == "on_decode_error") {
      s.on_decode_error = fail_mode_of(file, n, key);
    } else if (key == "on_scan_error") {
      s.on_scan_error = fail_mode_of(file, n, key);
    } else if (key == "on_archive_error") {
      s.on_archive_error = fail_mode_of(file, n, key);
    } else if (key == "notice_ttl") {
      s.notice_ttl = std::chrono::seconds(field.integer(file, n, key, 1, 86400));
    } else if (key == "max_notices_per_session") {
      s.max_notices_per_session = static_cast<std::size_t>(field.integer(file, n, key, 1, 1000));
    } else if (key == "max_sessions") {
      s.max_sessions = static_cast<std::size_t>(field.integer(file, n, key, 16, 100'000'000));
    } else if (key == "max_decoded_bytes") {
      s.max_decoded_bytes =
          static_cast<std::size_t>(field.integer(file, n, key, 1024, std::int64_t{1} << 32));
    } else if (key == "inline_scan_bytes") {
      s.inline_scan_bytes =
          static_cast<std::size_t>(field.integer(file, n, key, 0, std::int64_t{1} << 32));
    } else if (key == "rules") {
      s.rules = rules_of(file, n);
    } else if (key == "walls") {
      s.walls = walls_of(file, n);
    } else if (key == "directory") {
      const auto* t = n.as_table();
      if (t == nullptr) field.fail(file, n, key, "expected a table ([policy.directory])");
      s.directory.clear();
      for (const auto& [user, groups] : *t) {
        s.directory[std::string(user.str())] =
            strings(file, groups, "directory." + std::string(user.str()));
      }
    } else {
      field.fail(file, n, key, "unknown key");
    }
  }
}

policy_settings policy_settings_of(const icap::config& cfg) {
  policy_settings s;
  if (auto it = cfg.extensions.find("policy"); it != cfg.extensions.end()) {
    for (const auto& t : it->second) apply_policy_table(*t.table, t.file, s);
  }
  return s;
}

}  // namespace imcap::pipeline
