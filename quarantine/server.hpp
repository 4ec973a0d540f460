#pragma once
// The reviewer UI: an HTTP(S) server on libmicrohttpd serving server-rendered pages and a JSON
// API (same data, same access rules) over the archive (quarantine/README.md lists the routes).
//
// Threads: libmicrohttpd runs a small pool of its own threads; handlers run there, read the
// archive with their own read transactions and write through the store's synchronous calls
// (set_quarantine, add_audit), which LMDB serialises with the daemon's writer. The server holds
// a shared_ptr to the store; whoever opened the store may keep using it.
//
// Security: every response carries the same strict headers (Content-Security-Policy,
// nosniff, no-referrer, no framing, no caching); every route but /login and the stylesheet
// needs a session; state changes only by POST with the session's CSRF token; each route names
// the roles it admits (route_info, which tests walk to prove that no route is forgotten).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "archive/archive.hpp"
#include "quarantine/auth.hpp"
#include "quarantine/settings.hpp"

namespace imcap::quarantine {

class server_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct server_options {
  webui_settings settings;
  std::shared_ptr<archive::store> archive;  // required
  clock_fn now;                             // default: the system clock
  // The signature pack store ([signatures] store) the packs page lists active packs and rules
  // from (signatures::pack_store, read on each request); empty: only what the archive knows.
  std::filesystem::path pack_store;
};

// One route as the server dispatches it.
struct route_info {
  std::string method;       // GET | POST
  std::string pattern;      // "/item/{}" : {} matches one path segment
  std::string example;      // a concrete path for the pattern ("/item/1")
  std::vector<role> roles;  // who may use it; empty: anyone (login page, stylesheet)
  bool api = false;         // JSON (401 for anonymous) or page (303 to /login)
};

class server {
 public:
  // Binds and starts serving. Throws server_error (address in use, TLS files unreadable, ...).
  static std::unique_ptr<server> start(server_options opts);
  virtual ~server() = default;  // stops: waits for running handlers, closes the listener
  virtual std::uint16_t port() const noexcept = 0;
  virtual std::string base_url() const = 0;  // "http://127.0.0.1:8181"
};

// Every route the server knows, in dispatch order.
const std::vector<route_info>& routes();

}  // namespace imcap::quarantine
