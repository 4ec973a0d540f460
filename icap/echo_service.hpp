#pragma once
// /echo: adapts nothing. The reference service for interop and benchmarks: 204 where the
// client allows it, otherwise the original message back, byte for byte.

#include "icap/service.hpp"

namespace imcap::icap {

class echo_service final : public service {
 public:
  echo_service();
  const service_info& info() const noexcept override { return info_; }
  std::unique_ptr<exchange> open(const transaction& tx) override;

 private:
  service_info info_;
};

}  // namespace imcap::icap
