// imcap_webui_testserver: the reviewer UI over a fresh archive filled with the sample events
// (test/quarantine/sample_archive.hpp) and one account per role, for the browser test.
//
//   imcap_webui_testserver ARCHIVE_DIR PASSWORD READY_FILE
//
// Listens on 127.0.0.1, port chosen by the kernel; writes "http://127.0.0.1:PORT\n" to
// READY_FILE once serving; stops on SIGTERM or SIGINT. Accounts: admin, rev, aud.

#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "quarantine/server.hpp"
#include "test/quarantine/sample_archive.hpp"

int main(int argc, char** argv) {
  using namespace imcap;
  if (argc != 4) {
    std::cerr << "usage: imcap_webui_testserver ARCHIVE_DIR PASSWORD READY_FILE\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
  try {
    archive::settings as;
    as.path = argv[1];
    as.map_size_initial = 8u << 20;
    as.max_batch_delay = std::chrono::microseconds(0);
    std::shared_ptr<archive::store> store = archive::store::open(as);
    quarantine::test::fill_sample(*store);
    quarantine::test::add_user(*store, "admin", quarantine::role::admin, argv[2]);
    quarantine::test::add_user(*store, "rev", quarantine::role::reviewer, argv[2]);
    quarantine::test::add_user(*store, "aud", quarantine::role::auditor, argv[2]);
    quarantine::server_options o;
    o.settings.port = 0;
    o.archive = store;
    // The sample events sit at fixed dates (sample_archive.hpp); the UI's clock runs from a day
    // after them, so the dashboard's default last-seven-days range shows them whatever today is.
    const auto wall_us = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    const std::int64_t shift = wall_us() - (quarantine::test::base_us + 24 * quarantine::test::hour_us);
    o.now = [wall_us, shift] { return wall_us() - shift; };
    auto srv = quarantine::server::start(std::move(o));
    {
      std::ofstream ready(std::string(argv[3]) + ".tmp");
      ready << srv->base_url() << "\n";
    }
    std::rename((std::string(argv[3]) + ".tmp").c_str(), argv[3]);
    int sig = 0;
    sigwait(&set, &sig);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "imcap_webui_testserver: " << e.what() << "\n";
    return 1;
  }
}
