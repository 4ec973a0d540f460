// imcapd: turns the command line into a configuration and runs the daemon.

#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>
#include <boost/program_options.hpp>

#include "icap/daemon.hpp"
#include "imcap_version.hpp"
#include "metrics/exporter.hpp"
#include "metrics/settings.hpp"
#include "pipeline/daemon.hpp"
#include "quarantine/daemon.hpp"
#include "signatures/service.hpp"

namespace {

// The [signatures] tables icap kept for us (defaults, then the file), validated by signatures/.
imcap::signatures::signatures_settings signatures_settings_of(const imcap::icap::config& cfg) {
  imcap::signatures::signatures_settings s;
  if (auto it = cfg.extensions.find("signatures"); it != cfg.extensions.end()) {
    for (const auto& t : it->second) imcap::signatures::apply_signatures_table(*t.table, t.file, s);
  }
  imcap::signatures::finish_signatures_settings(s, cfg.source);
  return s;
}

// The [metrics] tables, validated by metrics/.
imcap::metrics::metrics_settings metrics_settings_of(const imcap::icap::config& cfg) {
  imcap::metrics::metrics_settings s;
  if (auto it = cfg.extensions.find("metrics"); it != cfg.extensions.end()) {
    for (const auto& t : it->second) imcap::metrics::apply_metrics_table(*t.table, t.file, s);
  }
  return s;
}

// The raw tables of one extension section, for quarantine/ (which knows nothing of icap/).
std::vector<imcap::quarantine::config_table> tables_of(const imcap::icap::config& cfg,
                                                       std::string_view section) {
  std::vector<imcap::quarantine::config_table> out;
  if (auto it = cfg.extensions.find(section); it != cfg.extensions.end())
    for (const auto& t : it->second) out.push_back({t.file, t.table});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  po::options_description desc("Usage: imcapd [options]\n\nOptions");
  desc.add_options()("help,h", "show this help and exit")("version,V", "show the version and exit")(
      "config,c", po::value<std::string>(),
      "configuration file (TOML); without it the embedded defaults apply")(
      "check-config", "load and validate the configuration, print a summary, and exit")(
      "print-defaults", "print the embedded default configuration and exit")(
      "ready-file", po::value<std::string>(),
      "once listening, write the bound ICAP host:port lines to this file, then\n"
      "\"metrics host:port\" when [metrics] is enabled");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "imcapd: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc
              << "\nSignals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration\n"
                 "and the active signature packs (after `imcapctl sigpack install`).\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "imcapd " IMCAP_VERSION "\n";
    return 0;
  }
  if (vm.count("print-defaults")) {
    std::cout << imcap::icap::embedded_default_config();
    return 0;
  }

  imcap::icap::daemon_options opts;
  imcap::signatures::signatures_settings sig_settings;
  imcap::metrics::metrics_settings metrics_settings;
  imcap::pipeline::policy_settings policy;
  imcap::archive::settings archive_settings;
  try {
    if (vm.count("config")) {
      opts.config_file = vm["config"].as<std::string>();
      opts.cfg = imcap::icap::load_config(*opts.config_file);
    } else {
      opts.cfg = imcap::icap::default_config();
    }
    sig_settings = signatures_settings_of(opts.cfg);
    metrics_settings = metrics_settings_of(opts.cfg);
    // Validated before anything starts.
    policy = imcap::pipeline::policy_settings_of(opts.cfg);
    archive_settings = imcap::pipeline::archive_settings_of(opts.cfg);
    (void)imcap::quarantine::webui_settings_from(tables_of(opts.cfg, "webui"), opts.cfg.source);
  } catch (const std::exception& e) {  // config_error, signatures/metrics/pipeline/webui errors
    std::cerr << "imcapd: " << e.what() << "\n";
    return 1;
  }
  if (vm.count("check-config")) {
    std::cout << "imcapd: configuration OK (" << opts.cfg.source << "): " << opts.cfg.listen.size()
              << " listen address(es), " << opts.cfg.threads << " I/O threads\n"
              << "imcapd: signature packs from " << sig_settings.store_dir.string()
              << (sig_settings.require_signed
                      ? " (signed by one of " + std::to_string(sig_settings.trusted_keys.size()) +
                            " trusted key(s))"
                      : std::string(" (signatures optional)"))
              << "; ClamAV "
              << (sig_settings.clamav_enabled
                      ? "on, " + std::to_string(sig_settings.clamav.database_dirs.size()) +
                            " database location(s)"
                      : std::string("off"))
              << "\n"
              << "imcapd: /imcap policy " << (policy.monitor ? "monitor" : "enforce") << ", "
              << policy.rules.size() << " rule(s), " << policy.walls.size() << " wall(s); archive "
              << (policy.archive == imcap::pipeline::archive_scope::off
                      ? std::string("off")
                      : archive_settings.path.string() +
                            (archive_settings.mode == imcap::archive::durability::strict
                                 ? " (strict)"
                                 : " (relaxed)"))
              << "\n";
    return 0;
  }
  if (vm.count("ready-file")) opts.ready_file = vm["ready-file"].as<std::string>();

  // Signature packs and ClamAV: loaded before listening, reloaded on SIGHUP; both on the
  // daemon's blocking pool. A pack that fails to load on SIGHUP leaves the old ones active.
  std::unique_ptr<imcap::signatures::signature_service> signatures;
  std::unique_ptr<imcap::quarantine::server> webui;  // reviewer UI ([webui]); not reloaded
  opts.on_start = [&](const imcap::icap::config& cfg) {
    webui = imcap::quarantine::start_for_daemon(
        imcap::quarantine::webui_settings_from(tables_of(cfg, "webui"), cfg.source),
        imcap::quarantine::archive_settings_from(tables_of(cfg, "archive"), cfg.source),
        sig_settings.store_dir);
    signatures = std::make_unique<imcap::signatures::signature_service>(sig_settings);
    return signatures->packs()->istag_contribution;
  };
  // /imcap: decoding, scanning, policy, archive (pipeline/), served beside /echo.
  std::shared_ptr<imcap::pipeline::imcap_service> imcap;
  opts.services = [&](const imcap::icap::config& cfg) {
    imcap = imcap::pipeline::make_imcap_service(cfg, signatures.get());
    return std::vector<std::shared_ptr<imcap::icap::service>>{imcap};
  };
  opts.on_reload = [&](const imcap::icap::config& cfg) {
    auto next = imcap::pipeline::policy_settings_of(cfg);  // a bad [policy] changes nothing
    auto contribution = signatures->reload(signatures_settings_of(cfg));
    imcap->reload(std::move(next));
    return contribution;
  };

  try {
    imcap::icap::setup_logging(opts.cfg.log);
    // Prometheus metrics: listening before the ICAP port, so a ready file names both.
    // Changing [metrics] needs a restart.
    std::unique_ptr<imcap::metrics::exporter> exporter;
    if (metrics_settings.enabled) {
      exporter = std::make_unique<imcap::metrics::exporter>(
          imcap::metrics::registry::global(), metrics_settings.host, metrics_settings.port);
      spdlog::info("metrics on http://{}/metrics", exporter->address());
      opts.ready_extra.push_back("metrics " + exporter->address());
    }
    return imcap::icap::run_daemon(std::move(opts));
  } catch (const std::exception& e) {
    std::cerr << "imcapd: " << e.what() << "\n";
    return 1;
  }
}
