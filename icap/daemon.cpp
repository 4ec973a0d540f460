#include "icap/daemon.hpp"

#include <fstream>
#include <future>
#include <mutex>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "icap/echo_service.hpp"
#include "icap/server.hpp"
#include "imcap_version.hpp"

namespace imcap::icap {

namespace asio = boost::asio;

void setup_logging(const log_settings& s) {
  std::shared_ptr<spdlog::logger> logger;
  if (s.file == "-") {
    logger = spdlog::stderr_color_mt("imcapd");
  } else {
    try {
      logger = spdlog::basic_logger_mt("imcapd", s.file);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("log file " + s.file + ": " + e.what());
    }
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(s.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

namespace {

void write_ready_file(const std::filesystem::path& path,
                      const std::vector<asio::ip::tcp::endpoint>& endpoints,
                      const std::vector<std::string>& extra) {
  // Written to a temporary name and renamed, so a reader never sees half a file.
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    for (const auto& ep : endpoints) {
      auto addr = ep.address();
      if (addr.is_v6())
        out << '[' << addr.to_string() << "]:" << ep.port() << '\n';
      else
        out << addr.to_string() << ':' << ep.port() << '\n';
    }
    for (const auto& line : extra) out << line << '\n';
    if (!out) throw std::runtime_error("cannot write ready file " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int run_daemon(daemon_options opts) {
  server srv(opts.cfg);
  srv.add_service(std::make_shared<echo_service>());
  if (opts.on_start) {
    std::packaged_task<std::string()> task([&] { return opts.on_start(opts.cfg); });
    auto result = task.get_future();
    asio::post(srv.blocking_executor(), [&task] { task(); });
    srv.set_istag_contribution(result.get());  // rethrows the hook's exception
  }
  if (opts.services) {
    for (auto& s : opts.services(opts.cfg)) srv.add_service(std::move(s));
  }
  auto endpoints = srv.listen();
  srv.start();
  for (const auto& ep : endpoints)
    spdlog::info("imcapd {} listening on {}:{} ({} I/O threads), ISTag {}", IMCAP_VERSION,
                 ep.address().to_string(), ep.port(), opts.cfg.threads, srv.istag());
  if (opts.ready_file) write_ready_file(*opts.ready_file, endpoints, opts.ready_extra);

  // Signals are handled on this thread's own loop, away from the I/O threads.
  asio::io_context control(1);
  asio::signal_set signals(control, SIGTERM, SIGINT, SIGHUP);
  std::mutex reload_mutex;
  std::function<void()> wait_signal;
  wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig != SIGHUP) {
        spdlog::info("signal {}: draining in-flight transactions", sig);
        control.stop();
        return;
      }
      // Reading files and running the hook touch the disk: the blocking pool does it, one
      // reload at a time; the results are applied back on this thread.
      asio::post(srv.blocking_executor(), [&, running = opts.cfg] {
        std::lock_guard one_at_a_time(reload_mutex);
        std::optional<config> next;
        if (opts.config_file) {
          try {
            next = load_config(*opts.config_file);
          } catch (const std::exception& e) {
            spdlog::error("reload rejected, keeping the running configuration: {}", e.what());
            return;
          }
        }
        std::optional<std::string> contribution;
        if (opts.on_reload) {
          try {
            contribution = opts.on_reload(next ? *next : running);
          } catch (const std::exception& e) {
            spdlog::error("reload: {}; the previous state stays active", e.what());
          }
        }
        asio::post(control, [&, next = std::move(next), contribution]() mutable {
          try {
            if (!next && !opts.on_reload) {
              spdlog::info("SIGHUP: no configuration file to re-read; new ISTag only");
              srv.reload(opts.cfg);
            } else if (next && next->text_digest != opts.cfg.text_digest) {
              spdlog::get("imcapd")->set_level(spdlog::level::from_str(next->log.level));
              srv.reload(*next);
              opts.cfg = std::move(*next);
            } else if (next) {
              spdlog::info("SIGHUP: configuration file unchanged");
            }
            if (contribution) srv.set_istag_contribution(std::move(*contribution));
            spdlog::info("SIGHUP handled; ISTag {}", srv.istag());
          } catch (const std::exception& e) {
            spdlog::error("reload rejected, keeping the running configuration: {}", e.what());
          }
        });
      });
      wait_signal();
    });
  };
  wait_signal();
  control.run();

  auto cut = srv.stop();
  if (opts.ready_file) {
    std::error_code ec;
    std::filesystem::remove(*opts.ready_file, ec);
  }
  spdlog::info("stopped ({} connection(s) cut at the drain deadline)", cut);
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace imcap::icap
