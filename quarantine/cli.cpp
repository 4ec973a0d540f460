#include "quarantine/cli.hpp"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <vector>

#include "archive/settings.hpp"
#include "quarantine/auth.hpp"
#include "quarantine/handlers.hpp"

namespace imcap::quarantine {

namespace {

constexpr std::string_view usage =
    "Usage: imcapctl user add NAME --role admin|reviewer|auditor [--config FILE]\n"
    "       imcapctl user list [--config FILE]\n"
    "       imcapctl user remove NAME [--config FILE]\n"
    "The password of `user add` is read from the terminal without echo, or from the first\n"
    "line of stdin when stdin is not a terminal.\n";

std::string unix_user() {
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_name != nullptr)
    return pw->pw_name;
  return std::to_string(getuid());
}

// One line from the terminal with echo off (restored even when reading fails).
std::optional<std::string> read_hidden(std::string_view prompt, std::ostream& err) {
  termios old{};
  if (tcgetattr(STDIN_FILENO, &old) != 0) return std::nullopt;
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  err << prompt << std::flush;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string line;
  const bool ok = static_cast<bool>(std::getline(std::cin, line));
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  err << "\n";
  if (!ok) return std::nullopt;
  return line;
}

std::optional<std::string> read_password(std::ostream& err) {
  if (isatty(STDIN_FILENO) != 0) {
    auto first = read_hidden("Password: ", err);
    if (!first) return std::nullopt;
    auto again = read_hidden("Password again: ", err);
    if (!again || *again != *first) {
      err << "imcapctl user: the passwords differ\n";
      return std::nullopt;
    }
    return first;
  }
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int user_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "help" || args[0] == "--help") {
    (args.empty() ? err : out) << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  std::vector<std::string> positional;
  std::string role_arg, config;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if ((args[i] == "--role" || args[i] == "--config") && i + 1 < args.size()) {
      (args[i] == "--role" ? role_arg : config) = args[i + 1];
      ++i;
    } else if (args[i].starts_with("--")) {
      err << "imcapctl user: unknown option " << args[i] << "\n" << usage;
      return 2;
    } else {
      positional.push_back(args[i]);
    }
  }
  const std::size_t want = sub == "list" ? 0 : 1;
  if ((sub != "add" && sub != "list" && sub != "remove") || positional.size() != want) {
    err << usage;
    return 2;
  }
  std::optional<role> r;
  if (sub == "add") {
    r = parse_role(role_arg);
    if (!r) {
      err << "imcapctl user: --role must be admin, reviewer or auditor\n";
      return 2;
    }
    if (!valid_user_name(positional[0])) {
      err << "imcapctl user: a user name has 1 to 64 characters from A-Z a-z 0-9 . _ @ -\n";
      return 2;
    }
  }
  try {
    const auto settings =
        config.empty() ? archive::settings{} : archive::load_archive_settings(config);
    const auto mode = sub == "list" ? archive::store::open_mode::read_only
                                    : archive::store::open_mode::read_write;
    auto store = archive::store::open(settings, mode);
    archive::audit_entry why;
    why.actor = "imcapctl:" + unix_user();
    if (sub == "list") {
      for (const auto& u : store->users()) {
        out << u.name << "\t" << u.role << "\t" << detail::format_time(u.created_us) << " UTC\n";
      }
      return 0;
    }
    if (sub == "remove") {
      if (const auto ec = store->remove_user(positional[0], why)) {
        err << "imcapctl user: cannot remove " << positional[0] << ": " << ec.message() << "\n";
        return 1;
      }
      out << "removed " << positional[0] << "\n";
      return 0;
    }
    const auto password = read_password(err);
    if (!password || password->empty()) {
      err << "imcapctl user: no password given\n";
      return 1;
    }
    archive::user_record u;
    u.name = positional[0];
    u.role = std::string(role_name(*r));
    u.password_hash = hash_password(*password);
    why.reason = "role " + u.role;
    if (const auto ec = store->put_user(u, why)) {
      err << "imcapctl user: cannot store " << u.name << ": " << ec.message() << "\n";
      return 1;
    }
    out << "user " << u.name << " (" << u.role << ") saved\n";
    return 0;
  } catch (const std::exception& e) {
    err << "imcapctl user: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imcap::quarantine
