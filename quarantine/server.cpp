// libmicrohttpd glue: one access handler collects the request (arguments, cookies, a bounded
// form body), finds the route, checks session, role and CSRF token, calls the handler and sends
// its response with the security headers every response carries.
//
// Ownership: libmicrohttpd owns the connection; the per-request state (request_state) is
// allocated on the first call of the access handler, kept in *req_cls and freed in the
// request-completed callback. Handlers run on libmicrohttpd's pool threads; everything they
// share (sessions, throttle, store) is thread-safe.

#include "quarantine/server.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

#include "quarantine/handlers.hpp"

namespace imcap::quarantine {

namespace {

using namespace detail;

constexpr std::size_t max_body = 64 * 1024;
constexpr std::string_view session_cookie_name = "imcap_session";
constexpr std::string_view login_cookie_name = "imcap_login";

constexpr std::string_view security_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
     "frame-ancestors 'none'; base-uri 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cache-Control", "no-store"},
};

struct route_entry {
  route_info info;
  handler fn;
};

std::vector<route_entry> make_routes() {
  const std::vector<role> all = {role::admin, role::reviewer, role::auditor};
  const std::vector<role> act = {role::admin, role::reviewer};
  const std::vector<role> audit = {role::admin, role::auditor};
  const std::vector<role> admin = {role::admin};
  const std::vector<role> anyone;
  auto r = [](std::string m, std::string p, std::string ex, std::vector<role> who, bool api,
              handler fn) {
    return route_entry{route_info{m, p, ex, who, api}, fn};
  };
  return {
      r("GET", "/login", "/login", anyone, false, page_login),
      r("POST", "/login", "/login", anyone, false, page_login_post),
      r("GET", "/static/style.css", "/static/style.css", anyone, false, page_style),
      r("POST", "/logout", "/logout", all, false, page_logout),
      r("GET", "/", "/", all, false, page_dashboard),
      r("GET", "/queue", "/queue", all, false, page_queue),
      r("POST", "/queue/bulk", "/queue/bulk", act, false, page_queue_bulk),
      r("GET", "/item/{}", "/item/1", all, false, page_item),
      r("POST", "/item/{}/release", "/item/1/release", act, false, page_item_release),
      r("POST", "/item/{}/delete", "/item/1/delete", act, false, page_item_delete),
      r("GET", "/search", "/search", all, false, page_search),
      r("GET", "/conversation", "/conversation", all, false, page_conversation),
      r("GET", "/attachment/{}/{}", "/attachment/1/0", act, false, page_attachment_confirm),
      r("POST", "/attachment/{}/{}", "/attachment/1/0", act, false, page_attachment_download),
      r("GET", "/packs", "/packs", all, false, page_packs),
      r("GET", "/audit", "/audit", audit, false, page_audit),
      r("GET", "/users", "/users", admin, false, page_users),
      r("GET", "/api/dashboard", "/api/dashboard", all, true, api_dashboard),
      r("GET", "/api/queue", "/api/queue", all, true, api_queue),
      r("GET", "/api/item/{}", "/api/item/1", all, true, api_item),
      r("POST", "/api/item/{}/release", "/api/item/1/release", act, true, api_item_release),
      r("POST", "/api/item/{}/delete", "/api/item/1/delete", act, true, api_item_delete),
      r("GET", "/api/search", "/api/search", all, true, api_search),
      r("GET", "/api/conversation", "/api/conversation", all, true, api_conversation),
      r("GET", "/api/packs", "/api/packs", all, true, api_packs),
      r("GET", "/api/audit", "/api/audit", audit, true, api_audit),
      r("GET", "/api/users", "/api/users", admin, true, api_users),
  };
}

const std::vector<route_entry>& route_table() {
  static const std::vector<route_entry> t = make_routes();
  return t;
}

// Matches "/item/{}/release" against a path; fills the {} segments (never empty, never "..").
bool match(std::string_view pattern, std::string_view path, std::vector<std::string>& captures) {
  captures.clear();
  for (;;) {
    const auto brace = pattern.find("{}");
    if (brace == std::string_view::npos) return pattern == path;
    if (path.substr(0, brace) != pattern.substr(0, brace)) return false;
    path.remove_prefix(brace);
    pattern.remove_prefix(brace + 2);
    const auto slash = path.find('/');
    const auto seg = path.substr(0, slash);
    if (seg.empty() || seg == "." || seg == "..") return false;
    captures.emplace_back(seg);
    path.remove_prefix(seg.size());
  }
}

struct request_state {
  std::string body;
  bool too_big = false;
};

MHD_Result collect(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* out = static_cast<pairs*>(cls);
  if (key != nullptr && out->size() < 200) out->emplace_back(key, value != nullptr ? value : "");
  return MHD_YES;
}

std::string header(MHD_Connection* c, MHD_ValueKind kind, const char* name) {
  const char* v = MHD_lookup_connection_value(c, kind, name);
  return v != nullptr ? v : "";
}

std::string client_address(MHD_Connection* c) {
  const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "?";
  char buf[INET6_ADDRSTRLEN] = {};
  const sockaddr* sa = info->client_addr;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

pairs parse_form(std::string_view body, bool& ok) {
  pairs out;
  ok = true;
  if (body.empty()) return out;
  auto parsed = boost::urls::parse_query(body);
  if (!parsed) {
    ok = false;
    return out;
  }
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  for (const auto& p : boost::urls::params_view(*parsed, opt)) {
    if (out.size() >= 1000) break;
    out.emplace_back(p.key, p.value);
  }
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw server_error("webui: cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class mhd_server final : public server {
 public:
  explicit mhd_server(server_options o)
      : opts_(std::move(o)),
        sessions_(opts_.settings.session_idle, opts_.settings.session_absolute, opts_.now),
        throttle_(opts_.settings.login_max_failures, opts_.settings.login_lockout, opts_.now) {}

  ~mhd_server() override {
    if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  }

  void start();
  std::uint16_t port() const noexcept override { return port_; }
  std::string base_url() const override {
    const bool v6 = opts_.settings.host.find(':') != std::string::npos;
    return std::string(tls_ ? "https://" : "http://") + (v6 ? "[" : "") + opts_.settings.host +
           (v6 ? "]" : "") + ":" + std::to_string(port_);
  }

 private:
  static MHD_Result on_access(void* cls, MHD_Connection* c, const char* url, const char* method,
                              const char* version, const char* upload, size_t* upload_size,
                              void** req_cls);
  static void on_completed(void* cls, MHD_Connection*, void** req_cls, MHD_RequestTerminationCode);
  response dispatch(request& rq);
  MHD_Result send(MHD_Connection* c, const response& r) const;

  server_options opts_;
  session_table sessions_;
  login_throttle throttle_;
  std::string cert_, key_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
  bool tls_ = false;
};

void mhd_server::start() {
  const auto& s = opts_.settings;
  sockaddr_storage addr{};
  const bool v6 = s.host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(s.port);
    if (inet_pton(AF_INET6, s.host.c_str(), &a->sin6_addr) != 1)
      throw server_error("webui: bad listen address " + s.host);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(s.port);
    if (inet_pton(AF_INET, s.host.c_str(), &a->sin_addr) != 1)
      throw server_error("webui: bad listen address " + s.host);
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  std::vector<MHD_OptionItem> o = {
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_THREAD_POOL_SIZE, 4, nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, 256, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, 30, nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&mhd_server::on_completed), nullptr},
  };
  if (!s.tls_cert.empty()) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      throw server_error("webui: this libmicrohttpd has no TLS support");
    cert_ = read_file(s.tls_cert);
    key_ = read_file(s.tls_key);
    flags |= MHD_USE_TLS;
    tls_ = true;
    o.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, cert_.data()});
    o.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, key_.data()});
  }
  o.push_back({MHD_OPTION_END, 0, nullptr});
  daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &mhd_server::on_access, this,
                             MHD_OPTION_ARRAY, o.data(), MHD_OPTION_END);
  if (daemon_ == nullptr) {
    throw server_error("webui: cannot listen on " + s.host + ":" + std::to_string(s.port) +
                       " (address in use, or a bad TLS certificate/key)");
  }
  const auto* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : s.port;
}

MHD_Result mhd_server::on_access(void* cls, MHD_Connection* c, const char* url, const char* method,
                                 const char*, const char* upload, size_t* upload_size,
                                 void** req_cls) {
  auto* self = static_cast<mhd_server*>(cls);
  auto* st = static_cast<request_state*>(*req_cls);
  if (st == nullptr) {
    *req_cls = new request_state;
    return MHD_YES;
  }
  if (*upload_size != 0) {
    if (st->body.size() + *upload_size > max_body) {
      st->too_big = true;
    } else {
      st->body.append(upload, *upload_size);
    }
    *upload_size = 0;
    return MHD_YES;
  }
  request rq;
  rq.method = method != nullptr ? method : "";
  rq.path = url != nullptr ? url : "/";
  rq.address = client_address(c);
  rq.tls = self->tls_;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &collect, &rq.query);
  rq.session_cookie = header(c, MHD_COOKIE_KIND, session_cookie_name.data());
  rq.login_cookie = header(c, MHD_COOKIE_KIND, login_cookie_name.data());
  rq.csrf_header = header(c, MHD_HEADER_KIND, "X-CSRF-Token");
  response r;
  if (st->too_big) {
    r.status = 413;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "request body too large\n";
  } else {
    bool ok = true;
    const std::string type = header(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (rq.method == "POST" && type.starts_with("application/x-www-form-urlencoded"))
      rq.form = parse_form(st->body, ok);
    if (!ok) {
      r.status = 400;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "malformed form body\n";
    } else {
      try {
        r = self->dispatch(rq);
      } catch (const std::exception& e) {
        spdlog::error("webui: {} {}: {}", rq.method, rq.path, e.what());
        r = response{};
        r.status = 500;
        r.content_type = "text/plain; charset=utf-8";
        r.body = "internal error\n";
      }
    }
  }
  return self->send(c, r);
}

void mhd_server::on_completed(void*, MHD_Connection*, void** req_cls, MHD_RequestTerminationCode) {
  delete static_cast<request_state*>(*req_cls);
  *req_cls = nullptr;
}

MHD_Result mhd_server::send(MHD_Connection* c, const response& r) const {
  MHD_Response* resp = MHD_create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (resp == nullptr) return MHD_NO;
  for (const auto& h : security_headers) MHD_add_response_header(resp, h[0].data(), h[1].data());
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  for (const auto& [k, v] : r.headers) {
    // A value with CR or LF never reaches the wire (libmicrohttpd refuses it too).
    if (v.find_first_of("\r\n") != std::string::npos) continue;
    MHD_add_response_header(resp, k.c_str(), v.c_str());
  }
  const MHD_Result rc = MHD_queue_response(c, r.status, resp);
  MHD_destroy_response(resp);
  return rc;
}

response mhd_server::dispatch(request& rq) {
  const route_entry* found = nullptr;
  bool path_known = false;
  for (const auto& e : route_table()) {
    if (!match(e.info.pattern, rq.path, rq.captures)) continue;
    path_known = true;
    if (e.info.method == rq.method) {
      found = &e;
      break;
    }
  }
  const std::int64_t now = opts_.now();
  context anon{rq, nullptr, *opts_.archive, now, sessions_, throttle_, opts_.pack_store};
  if (found == nullptr) {
    if (path_known) {
      auto r = page_error(anon, 405, "method not allowed");
      r.headers.emplace_back("Allow", rq.method == "GET" ? "POST" : "GET");
      return r;
    }
    return page_error(anon, 404, "not found");
  }
  match(found->info.pattern, rq.path, rq.captures);
  const auto& info = found->info;
  if (info.roles.empty()) return found->fn(anon);

  std::optional<session> s;
  if (!rq.session_cookie.empty()) s = sessions_.touch(rq.session_cookie);
  if (s) {
    // The account may have been removed or its role changed since login (imcapctl user).
    const auto u = opts_.archive->user(s->user);
    const auto current = u ? parse_role(u->role) : std::nullopt;
    if (!current) {
      sessions_.end(s->id);
      s.reset();
    } else {
      s->role = *current;
    }
  }
  if (!s) {
    if (info.api) return json_response(401, R"({"error":"login required"})");
    return redirect("/login");
  }
  context ctx{rq, &*s, *opts_.archive, now, sessions_, throttle_, opts_.pack_store};
  if (std::find(info.roles.begin(), info.roles.end(), s->role) == info.roles.end()) {
    if (info.api) return json_response(403, R"({"error":"your role may not use this"})");
    return page_error(ctx, 403, "Your role may not use this page.");
  }
  if (rq.method == "POST") {
    const std::string token = info.api ? rq.csrf_header : rq.field("csrf");
    if (!tokens_equal(token, s->csrf)) {
      if (info.api) return json_response(403, R"({"error":"CSRF token missing or wrong"})");
      return page_error(ctx, 403,
                        "The form's security token is missing or stale; reload the page.");
    }
  }
  return found->fn(ctx);
}

}  // namespace

const std::vector<route_info>& routes() {
  static const std::vector<route_info> out = [] {
    std::vector<route_info> v;
    for (const auto& e : route_table()) v.push_back(e.info);
    return v;
  }();
  return out;
}

std::unique_ptr<server> server::start(server_options opts) {
  if (!opts.archive) throw server_error("webui: no archive");
  if (!opts.now) opts.now = system_now_us;
  auto s = std::make_unique<mhd_server>(std::move(opts));
  s->start();
  return s;
}

}  // namespace imcap::quarantine
