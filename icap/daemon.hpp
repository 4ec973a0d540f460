#pragma once
// Runs imcapd: logging, listeners, services, signals. Kept out of main() so tests and other
// front ends can run the same daemon.
//
// Signals: SIGTERM and SIGINT drain in-flight transactions and return 0; SIGHUP re-reads the
// configuration file on the blocking pool and applies it, or logs why not and keeps the old.

#include <filesystem>
#include <optional>

#include "icap/config.hpp"

namespace imcap::icap {

struct daemon_options {
  config cfg;
  std::optional<std::filesystem::path> config_file;  // re-read on SIGHUP
  std::optional<std::filesystem::path> ready_file;   // gets "host:port" lines once listening
};

// Returns the process exit status.
int run_daemon(daemon_options opts);

// Sets up the daemon log (spdlog default logger) from settings. Throws std::runtime_error
// naming the path when the file cannot be opened.
void setup_logging(const log_settings& s);

}  // namespace imcap::icap
