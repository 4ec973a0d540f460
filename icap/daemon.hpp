#pragma once
// Runs imcapd: logging, listeners, services, signals. Kept out of main() so tests and other
// front ends can run the same daemon.
//
// Signals: SIGTERM and SIGINT drain in-flight transactions and return 0; SIGHUP re-reads the
// configuration file on the blocking pool and applies it, or logs why not and keeps the old;
// then it runs the on_reload hook.
//
// Hooks let the application plug in components icap knows nothing about (imcapd wires the
// signature packs and ClamAV this way). They run on the blocking pool, never on an I/O thread,
// one at a time, and return an ISTag contribution: a short text that changes whenever what the
// component serves changes; the server folds it into the ISTag.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "icap/config.hpp"
#include "icap/service.hpp"

namespace imcap::icap {

struct daemon_options {
  config cfg;
  std::optional<std::filesystem::path> config_file;  // re-read on SIGHUP
  std::optional<std::filesystem::path> ready_file;   // gets "host:port" lines once listening
  // Lines written to the ready file after the ICAP "host:port" lines, each "<what> host:port"
  // (imcapd adds "metrics 127.0.0.1:9181" when the metrics listener runs).
  std::vector<std::string> ready_extra;

  // Before listening, with the start-up configuration. An exception stops the daemon (exit 1,
  // the message logged).
  std::function<std::string(const config&)> on_start;
  // On SIGHUP, with the re-read configuration (the running one when there is no file; not run
  // when the file is rejected). An exception is logged and the previous contribution stays:
  // the hook must then keep serving what it served before.
  std::function<std::string(const config&)> on_reload;
  // After on_start, before listening: the application's services (imcapd adds /imcap), served
  // beside /echo. An exception stops the daemon like one from on_start. The services live
  // until run_daemon returns (after the drain).
  std::function<std::vector<std::shared_ptr<service>>(const config&)> services;
};

// Returns the process exit status.
int run_daemon(daemon_options opts);

// Sets up the daemon log (spdlog default logger) from settings. Throws std::runtime_error
// naming the path when the file cannot be opened.
void setup_logging(const log_settings& s);

}  // namespace imcap::icap
