#include "modules/cli.hpp"

#include <ostream>

namespace imcap::modules {

int decode_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  (void)args;
  (void)out;
  err << "imcapctl decode: not built yet\n";
  return 2;
}

}  // namespace imcap::modules
