// imcapd: turns the command line into a configuration and runs the daemon.

#include <iostream>

#include <boost/program_options.hpp>

#include "icap/daemon.hpp"
#include "imcap_version.hpp"

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
              << "\nSignals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.\n";
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
  try {
    if (vm.count("config")) {
      opts.config_file = vm["config"].as<std::string>();
      opts.cfg = imcap::icap::load_config(*opts.config_file);
    } else {
      opts.cfg = imcap::icap::default_config();
    }
  } catch (const imcap::icap::config_error& e) {
    std::cerr << "imcapd: " << e.what() << "\n";
    return 1;
  }
  if (vm.count("check-config")) {
    std::cout << "imcapd: configuration OK (" << opts.cfg.source << "): " << opts.cfg.listen.size()
              << " listen address(es), " << opts.cfg.threads << " I/O threads\n";
    return 0;
  }
  if (vm.count("ready-file")) opts.ready_file = vm["ready-file"].as<std::string>();

  try {
    imcap::icap::setup_logging(opts.cfg.log);
    return imcap::icap::run_daemon(std::move(opts));
  } catch (const std::exception& e) {
    std::cerr << "imcapd: " << e.what() << "\n";
    return 1;
  }
}
