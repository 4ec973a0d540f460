#include "icap/access_log.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace imcap::icap {

namespace {

// Plain-format fields are space-separated; a value with spaces or control characters (URLs
// come from the network) is percent-escaped so a line always splits into the same columns.
void append_plain(std::string& out, std::string_view v) {
  if (v.empty()) {
    out += '-';
    return;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  auto needs_escape = [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '%' || c == '"';
  };
  // Clean runs are appended whole; only the rare escaped byte goes one at a time.
  while (!v.empty()) {
    auto bad = std::find_if(v.begin(), v.end(), needs_escape);
    out.append(v.begin(), bad);
    if (bad == v.end()) break;
    auto u = static_cast<unsigned char>(*bad);
    out += '%';
    out += hex[u >> 4];
    out += hex[u & 15];
    v.remove_prefix(static_cast<std::size_t>(bad - v.begin()) + 1);
  }
}

// A decimal number without a temporary string.
void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  auto res = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, res.ptr);
}

void append_json(std::string& out, std::string_view key, std::string_view v) {
  out += ",\"";
  out += key;
  out += "\":";
  out += boost::json::serialize(boost::json::string(v));
}

void append_json(std::string& out, std::string_view key, std::uint64_t v) {
  out += ",\"";
  out += key;
  out += "\":";
  append_number(out, v);
}

std::atomic<int> logger_count{0};

}  // namespace

std::string format_access_record(const access_record& r, icap::access_format format) {
  std::string out;
  append_access_record(out, r, format);
  return out;
}

void append_access_record(std::string& out, const access_record& r, icap::access_format format) {
  if (format == access_format::plain) {
    auto field = [&](std::string_view v) {
      out += ' ';
      append_plain(out, v);
    };
    append_number(out, r.id);
    field(r.peer);
    field(r.client_ip);
    field(r.user);
    field(r.icap_method);
    field(r.service);
    out += ' ';
    append_number(out, static_cast<std::uint64_t>(r.status));
    field(r.http_method);
    field(r.http_url);
    out += ' ';
    append_number(out, r.bytes_in);
    out += ' ';
    append_number(out, r.bytes_out);
    out += ' ';
    append_number(out, r.duration_us);
    field(r.verdict);
    field(r.app);
    field(r.rules);
    return;
  }
  out += "\"id\":";
  append_number(out, r.id);
  append_json(out, "peer", r.peer);
  append_json(out, "client_ip", r.client_ip);
  append_json(out, "user", r.user);
  append_json(out, "icap_method", r.icap_method);
  append_json(out, "service", r.service);
  append_json(out, "status", static_cast<std::uint64_t>(r.status));
  append_json(out, "http_method", r.http_method);
  append_json(out, "http_url", r.http_url);
  append_json(out, "bytes_in", r.bytes_in);
  append_json(out, "bytes_out", r.bytes_out);
  append_json(out, "duration_us", r.duration_us);
  append_json(out, "verdict", r.verdict);
  append_json(out, "app", r.app);
  append_json(out, "rules", r.rules);
}

namespace {
// "2026-11-23T11:04:30.123Z": the seconds part is formatted once per second per thread.
void append_timestamp(std::string& out) {
  thread_local std::time_t cached_at = -1;
  thread_local char text[32];
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  if (secs != cached_at) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_at = secs;
  }
  auto ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  // Three digits by hand: snprintf cost more than the rest of the line.
  const char frac[] = {'.', static_cast<char>('0' + ms / 100),
                       static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10),
                       'Z'};
  out += text;
  out.append(frac, sizeof frac);
}
}  // namespace

void access_log::append_line(std::string& out, const access_record& r) const {
  if (format_ == access_format::plain) {
    append_timestamp(out);
    out += ' ';
    append_access_record(out, r, format_);
  } else {
    out += "{\"time\":\"";
    append_timestamp(out);
    out += "\",";
    append_access_record(out, r, format_);
    out += '}';
  }
  out += '\n';
}

access_log::access_log(const log_settings& s) : settings_(s), format_(s.access_format) {
  if (s.access_log.empty()) return;
  spdlog::sink_ptr sink;
  if (s.access_log == "-") {
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else {
    std::filesystem::path p(s.access_log);
    std::error_code ec;
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.access_log);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("access log " + s.access_log + ": " + e.what());
    }
  }
  pool_ = std::make_shared<spdlog::details::thread_pool>(65536, 1);
  // Block (rather than drop) when the queue is full: an access line is a record of what
  // passed, and a 65536-line queue only fills when the disk has stalled.
  logger_ = std::make_shared<spdlog::async_logger>("access" + std::to_string(logger_count++),
                                                   std::move(sink), pool_,
                                                   spdlog::async_overflow_policy::block);
  // Lines arrive complete (timestamp included) and in batches: the sink adds only the final
  // line end.
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
  // Flushing every line costs a write(2) per transaction; once a second bounds what a crash
  // can take, and close() flushes everything on a clean exit.
  spdlog::register_logger(logger_);
  spdlog::flush_every(std::chrono::seconds(1));
}

access_log::~access_log() {
  close();
}

void access_log::close() {
  if (!logger_) return;
  logger_->flush();
  spdlog::drop(logger_->name());
  logger_.reset();
  pool_.reset();  // joins the writer after it has written everything queued
}

void access_log::write(const access_record& r) {
  if (!logger_) return;
  std::string line;
  append_line(line, r);
  write_batch(line);
}

void access_log::write_batch(std::string& lines) {
  if (!logger_ || lines.empty()) {
    lines.clear();
    return;
  }
  if (lines.back() == '\n') lines.pop_back();  // the sink ends each message with a newline
  logger_->info(std::string_view(lines));
  lines.clear();
}

}  // namespace imcap::icap
