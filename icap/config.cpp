#include "icap/config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <toml++/toml.h>
#include <boost/asio/ip/address.hpp>

#include "imcap_default_config.hpp"

namespace imcap::icap {

std::string_view embedded_default_config() noexcept {
  return imcap_default_config_text;
}

namespace {

// Reads typed values out of one TOML document, turning every mistake into a config_error that
// points at the offending key.
class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::node& n, std::string_view key, std::string_view why) const {
    const auto& where = n.source().begin;
    throw config_error(file_ + ":" + std::to_string(where.line) + ":" +
                       std::to_string(where.column) + ": " + std::string(key) + ": " +
                       std::string(why));
  }

  std::int64_t integer(const toml::node& n, std::string_view key, std::int64_t min,
                       std::int64_t max) const {
    auto v = n.value_exact<std::int64_t>();
    if (!v || *v < min || *v > max)
      fail(n, key,
           "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return *v;
  }
  std::string string(const toml::node& n, std::string_view key) const {
    auto v = n.value_exact<std::string>();
    if (!v) fail(n, key, "expected a string");
    return *v;
  }
  bool boolean(const toml::node& n, std::string_view key) const {
    auto v = n.value_exact<bool>();
    if (!v) fail(n, key, "expected true or false");
    return *v;
  }
  std::vector<std::string> strings(const toml::node& n, std::string_view key) const {
    const auto* arr = n.as_array();
    if (!arr) fail(n, key, "expected an array of strings");
    std::vector<std::string> out;
    for (const auto& item : *arr) out.push_back(string(item, key));
    return out;
  }
  const toml::table& table(const toml::node& n, std::string_view key) const {
    const auto* t = n.as_table();
    if (!t) fail(n, key, "expected a table ([" + std::string(key) + "])");
    return *t;
  }

 private:
  std::string file_;
};

listen_address parse_listen(const reader& r, const toml::node& n, std::string_view key,
                            const std::string& text) {
  // "host:port" or "[v6]:port"; the host must be a numeric address (no DNS at start-up).
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos)
      r.fail(n, key, "expected \"[v6-address]:port\", got \"" + text + "\"");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      r.fail(n, key, "expected \"address:port\", got \"" + text + "\"");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) r.fail(n, key, "\"" + host + "\" is not a numeric IP address");
  unsigned long p = 0;
  try {
    std::size_t used = 0;
    p = std::stoul(port, &used);
    if (used != port.size() || p > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    r.fail(n, key, "\"" + port + "\" is not a port number (0-65535)");
  }
  return {host, static_cast<std::uint16_t>(p)};
}

constexpr std::string_view defaults_name = "<embedded defaults>";

void apply(const std::shared_ptr<const toml::table>& shared_doc, const std::string& file,
           config& c) {
  const toml::table& doc = *shared_doc;
  reader r(file);
  static constexpr std::string_view own_sections[] = {"server", "limits", "identity", "log"};
  for (const auto& [section_key, section_node] : doc) {
    const std::string_view section = section_key.str();
    if (std::find(std::begin(own_sections), std::end(own_sections), section) !=
        std::end(own_sections))
      continue;
    // Another component's section: the defaults declare it, a file may only use declared ones.
    const auto& table = r.table(section_node, section);
    auto it = c.extensions.find(section);
    if (it == c.extensions.end()) {
      if (file != defaults_name) r.fail(section_node, section, "unknown section");
      it = c.extensions.emplace(std::string(section), std::vector<extension_table>{}).first;
    }
    it->second.push_back({file, shared_doc, &table});
  }
  constexpr std::int64_t max_u32 = 0xffffffffLL;
  constexpr std::int64_t day = 86400;
  for (const auto& [section_key, section_node] : doc) {
    std::string section(section_key.str());
    if (c.extensions.count(section) != 0) continue;  // handed over above
    const auto& table = r.table(section_node, section);
    for (const auto& [k, n] : table) {
      std::string key = section + "." + std::string(k.str());
      if (section == "server") {
        if (k == "listen") {
          c.listen.clear();
          for (const auto& item : r.strings(n, key))
            c.listen.push_back(parse_listen(r, n, key, item));
          if (c.listen.empty()) r.fail(n, key, "needs at least one address");
        } else if (k == "threads")
          c.threads = static_cast<unsigned>(r.integer(n, key, 0, 256));
        else if (k == "blocking_threads")
          c.blocking_threads = static_cast<unsigned>(r.integer(n, key, 1, 256));
        else if (k == "max_connections")
          c.max_connections = static_cast<std::uint32_t>(r.integer(n, key, 1, 1000000));
        else if (k == "idle_timeout")
          c.idle_timeout = std::chrono::seconds(r.integer(n, key, 1, day));
        else if (k == "read_timeout")
          c.read_timeout = std::chrono::seconds(r.integer(n, key, 1, day));
        else if (k == "write_timeout")
          c.write_timeout = std::chrono::seconds(r.integer(n, key, 1, day));
        else if (k == "drain_timeout")
          c.drain_timeout = std::chrono::seconds(r.integer(n, key, 0, day));
        else if (k == "options_ttl")
          c.options_ttl = static_cast<std::uint32_t>(r.integer(n, key, 1, max_u32));
        else if (k == "preview_size")
          c.preview_size = static_cast<std::uint32_t>(r.integer(n, key, 0, 1 << 20));
        else if (k == "allow_206")
          c.allow_206 = r.boolean(n, key);
        else
          r.fail(n, key, "unknown key");
      } else if (section == "limits") {
        const toml::node& node = n;  // a lambda may not capture a structured binding (clang)
        auto bytes = [&](std::int64_t min, std::int64_t max) {
          return static_cast<std::size_t>(r.integer(node, key, min, max));
        };
        if (k == "max_icap_header_bytes")
          c.limits.max_icap_header_bytes = bytes(256, 16 << 20);
        else if (k == "max_http_header_bytes")
          c.limits.max_http_header_bytes = bytes(256, 16 << 20);
        else if (k == "max_buffered_body")
          c.max_buffered_body = bytes(0, std::int64_t{1} << 40);
        else if (k == "max_chunk_line_bytes")
          c.limits.max_chunk_line_bytes = bytes(16, 1 << 20);
        else
          r.fail(n, key, "unknown key");
      } else if (section == "identity") {
        if (k == "username_headers")
          c.identity.username_headers = r.strings(n, key);
        else if (k == "client_ip_header")
          c.identity.client_ip_header = r.string(n, key);
        else if (k == "username_encoding") {
          auto v = r.string(n, key);
          if (v == "auto")
            c.identity.encoding = username_encoding::auto_detect;
          else if (v == "raw")
            c.identity.encoding = username_encoding::raw;
          else if (v == "base64")
            c.identity.encoding = username_encoding::base64;
          else
            r.fail(n, key, "expected \"auto\", \"raw\" or \"base64\", got \"" + v + "\"");
        } else
          r.fail(n, key, "unknown key");
      } else if (section == "log") {
        if (k == "file")
          c.log.file = r.string(n, key);
        else if (k == "access_log")
          c.log.access_log = r.string(n, key);
        else if (k == "level") {
          c.log.level = r.string(n, key);
          static constexpr std::string_view levels[] = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};
          if (std::find(std::begin(levels), std::end(levels), c.log.level) == std::end(levels))
            r.fail(n, key, "expected one of trace, debug, info, warn, error, critical, off");
        } else if (k == "access_format") {
          auto v = r.string(n, key);
          if (v == "plain")
            c.log.access_format = access_format::plain;
          else if (v == "json")
            c.log.access_format = access_format::json;
          else
            r.fail(n, key, "expected \"plain\" or \"json\", got \"" + v + "\"");
        } else
          r.fail(n, key, "unknown key");
      }
    }
  }
}

std::shared_ptr<const toml::table> parse_text(std::string_view text, const std::string& file) {
  try {
    return std::make_shared<const toml::table>(toml::parse(text, file));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw config_error(file + ":" + std::to_string(where.line) + ":" +
                       std::to_string(where.column) + ": " + std::string(e.description()));
  }
}

void finish(config& c) {
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
}

std::uint64_t digest(std::string_view text) {
  return static_cast<std::uint64_t>(std::hash<std::string_view>{}(text));
}

}  // namespace

config default_config() {
  config c;
  const std::string name(defaults_name);
  apply(parse_text(embedded_default_config(), name), name, c);
  c.text_digest = digest(embedded_default_config());
  finish(c);
  return c;
}

config load_config(const std::filesystem::path& file) {
  config c;
  const std::string defaults(defaults_name);
  apply(parse_text(embedded_default_config(), defaults), defaults, c);
  std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw config_error(name + ": cannot open: " + std::strerror(errno));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw config_error(name + ": not a regular file");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(name + ": cannot read: " + std::strerror(errno));
  const std::string content = text.str();
  apply(parse_text(content, name), name, c);
  c.source = name;
  c.text_digest = digest(embedded_default_config()) ^ (digest(content) * 31u);
  finish(c);
  return c;
}

}  // namespace imcap::icap
