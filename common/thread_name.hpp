#pragma once
// Names the calling thread (shown by top -H, ps -L, perf and gdb), so an operator can tell the
// I/O threads from the archive writer and applier. Linux keeps 15 characters; longer names
// are cut. Failure is harmless and ignored.
#include <pthread.h>

#include <string>

namespace imcap {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace imcap
