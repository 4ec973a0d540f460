#include "icap/serializer.hpp"

#include <charconv>
#include <chrono>
#include <ctime>

#include "imcap_version.hpp"

namespace imcap::icap {

std::string_view status_reason(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "ICAP Service Not Found";
    case 405:
      return "Method Not Allowed For Service";
    case 408:
      return "Request Timeout";
    case 500:
      return "Server Error";
    case 501:
      return "Method Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Overloaded";
    case 505:
      return "ICAP Version Not Supported By Server";
    default:
      return "Unknown";
  }
}

std::string_view http_date() {
  // Formatting a date per response shows up in profiles; one per second per thread is plenty.
  thread_local std::time_t cached_at = 0;
  thread_local char text[64] = {};
  thread_local std::size_t len = 0;
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (now != cached_at || len == 0) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_at = now;
  }
  return {text, len};
}

namespace {

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

void append_status_line(std::string& out, int status) {
  out += "ICAP/1.0 ";
  append_number(out, static_cast<std::uint64_t>(status));
  out += ' ';
  out += status_reason(status);
  out += "\r\n";
}

void append_common(std::string& out, const response_meta& meta) {
  out += "ISTag: ";
  out += meta.istag;
  out += "\r\nDate: ";
  out += http_date();
  out += "\r\nServer: imcap/" IMCAP_VERSION "\r\n";
  if (meta.close) out += "Connection: close\r\n";
  for (const auto& [name, value] : meta.extra) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

}  // namespace

std::string status_response(int status, const response_meta& meta) {
  std::string out;
  out.reserve(160);
  append_status_line(out, status);
  append_common(out, meta);
  if (status != 100 && status != 204) out += "Encapsulated: null-body=0\r\n";
  out += "\r\n";
  return out;
}

std::string options_response(const options_info& info, const response_meta& meta) {
  std::string out;
  out.reserve(400);
  append_status_line(out, 200);
  append_common(out, meta);
  out += "Methods: ";
  out += info.methods;
  out += "\r\nService: ";
  out += info.service;
  out += "\r\nService-ID: ";
  out += info.service_id;
  out += "\r\nServiceId: ";  // the spelling Squid looks up
  out += info.service_id;
  out += "\r\nMax-Connections: ";
  append_number(out, info.max_connections);
  out += "\r\nOptions-TTL: ";
  append_number(out, info.options_ttl);
  out += "\r\nPreview: ";
  append_number(out, info.preview);
  out += "\r\nTransfer-Preview: *\r\nAllow: 204";
  if (info.allow_206) out += ", 206";
  out += "\r\nEncapsulated: null-body=0\r\n\r\n";
  return out;
}

std::string message_response(int status, const response_meta& meta,
                             std::optional<std::string_view> req_head,
                             std::optional<std::string_view> res_head, bool has_body) {
  std::string out;
  std::size_t heads = (req_head ? req_head->size() : 0) + (res_head ? res_head->size() : 0);
  out.reserve(200 + heads);
  append_status_line(out, status);
  append_common(out, meta);
  out += "Encapsulated: ";
  std::uint64_t offset = 0;
  if (req_head) {
    out += "req-hdr=0, ";
    offset += req_head->size();
  }
  if (res_head) {
    out += "res-hdr=";
    append_number(out, offset);
    out += ", ";
    offset += res_head->size();
  }
  if (has_body)
    out += res_head ? "res-body=" : "req-body=";
  else
    out += "null-body=";
  append_number(out, offset);
  out += "\r\n\r\n";
  if (req_head) out += *req_head;
  if (res_head) out += *res_head;
  return out;
}

void append_chunk_header(std::string& out, std::size_t size) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, size, 16);
  out.append(buf, end);
  out += "\r\n";
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  append_chunk_header(out, data.size());
  out += data;
  out += chunk_end;
}

std::string use_original_body(std::uint64_t offset) {
  std::string out = "0; use-original-body=";
  append_number(out, offset);
  out += "\r\n\r\n";
  return out;
}

}  // namespace imcap::icap
