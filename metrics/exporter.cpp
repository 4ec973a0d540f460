#include "metrics/exporter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string_view>

#include <microhttpd.h>

namespace imcap::metrics {

struct exporter_access {
  static registry& reg(exporter& e) { return e.registry_; }
};

namespace {

MHD_Result send_text(MHD_Connection* c, unsigned status, const std::string& body,
                     const char* content_type) {
  // MHD copies the body (MHD_RESPMEM_MUST_COPY), so `body` may go when this returns. For
  // HEAD, MHD sends the headers (with the body's Content-Length) and omits the body itself.
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET, HEAD");
  const MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char* /*version*/, const char* /*upload_data*/,
                      size_t* /*upload_data_size*/, void** /*req_cls*/) {
  auto& e = *static_cast<exporter*>(cls);
  const std::string_view path(url);
  const std::string_view m(method);
  constexpr const char* plain = "text/plain; charset=utf-8";
  if (path != "/metrics") return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n", plain);
  if (m != "GET" && m != "HEAD") {
    // Answered on the first call, before any request body is read; MHD then closes the
    // connection rather than reading a body nobody wants.
    return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served here\n", plain);
  }
  return send_text(c, MHD_HTTP_OK, exporter_access::reg(e).expose(),
                   "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace

exporter::exporter(registry& r, const std::string& host, std::uint16_t port)
    : registry_(r), host_(host) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  const std::string where =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
      inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
             inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    flags |= MHD_USE_IPv6;
  } else {
    throw exporter_error("metrics listener " + where + ": not a numeric IP address");
  }
  (void)len;
  // Scrapes are rare and small: a few connections, each with a short timeout, so a stuck
  // client cannot hold the listener.
  daemon_ = MHD_start_daemon(flags, port, nullptr, nullptr, &on_request, this, MHD_OPTION_SOCK_ADDR,
                             reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_CONNECTION_LIMIT, 16u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (daemon_ == nullptr)
    throw exporter_error("metrics listener " + where + ": cannot listen (" + std::strerror(errno) +
                         ")");
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : port;
}

exporter::~exporter() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

std::string exporter::address() const {
  const std::string h = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return h + ":" + std::to_string(port_);
}

}  // namespace imcap::metrics
