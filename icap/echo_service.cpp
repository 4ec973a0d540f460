#include "icap/echo_service.hpp"

namespace imcap::icap {

namespace {
class echo_exchange final : public exchange {
 public:
  std::optional<reply> on_heads() override { return reply::unmodified("echo"); }
  // Not reached: on_heads always answers.
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    co_return reply::unmodified("echo");
  }
};
}  // namespace

echo_service::echo_service() {
  info_.name = "echo";
  info_.description = "imcap echo service (adapts nothing)";
}

std::unique_ptr<exchange> echo_service::open(const transaction&) {
  return std::make_unique<echo_exchange>();
}

}  // namespace imcap::icap
