// Moved to the public include/cairn/thread_annotations.h (docs/adr/0024-cli-layers.md);
// internal code keeps including this path and naming internal::Mutex.
#pragma once

#include "cairn/thread_annotations.h"

namespace cairn::internal {
using ::cairn::Mutex;
using ::cairn::MutexLock;
using ::cairn::ReaderMutexLock;
using ::cairn::SharedMutex;
using ::cairn::WriterMutexLock;
}  // namespace cairn::internal
