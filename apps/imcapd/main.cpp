// imcapd: turns the command line into a configuration and runs the daemon.

#include <iostream>
#include <memory>

#include <boost/program_options.hpp>

#include "icap/daemon.hpp"
#include "imcap_version.hpp"
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
      "write the bound host:port lines to this file once listening");
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
  try {
    if (vm.count("config")) {
      opts.config_file = vm["config"].as<std::string>();
      opts.cfg = imcap::icap::load_config(*opts.config_file);
    } else {
      opts.cfg = imcap::icap::default_config();
    }
    sig_settings = signatures_settings_of(opts.cfg);
    (void)imcap::quarantine::webui_settings_from(tables_of(opts.cfg, "webui"), opts.cfg.source);
  } catch (const std::exception& e) {  // config_error, signatures::settings_error
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
  opts.on_reload = [&](const imcap::icap::config& cfg) {
    return signatures->reload(signatures_settings_of(cfg));
  };

  try {
    imcap::icap::setup_logging(opts.cfg.log);
    return imcap::icap::run_daemon(std::move(opts));
  } catch (const std::exception& e) {
    std::cerr << "imcapd: " << e.what() << "\n";
    return 1;
  }
}
