// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html)
// and the annotated Mutex they need: libstdc++'s std::mutex carries no
// annotations, so a member can only be CAIRN_GUARDED_BY a cairn Mutex. Under
// GCC the macros are empty. CI checks them with clang's -Wthread-safety
// (scripts/clang-tidy.sh, and every clang build). Public, like abseil's
// absl/base/thread_annotations.h: the `cairn` command (which sees only
// include/cairn) annotates its own shared state with it.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define CAIRN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CAIRN_THREAD_ANNOTATION(x)
#endif

#define CAIRN_CAPABILITY(x) CAIRN_THREAD_ANNOTATION(capability(x))
#define CAIRN_SCOPED_CAPABILITY CAIRN_THREAD_ANNOTATION(scoped_lockable)
// The member may be read or written only with `mu` held.
#define CAIRN_GUARDED_BY(mu) CAIRN_THREAD_ANNOTATION(guarded_by(mu))
// The function must be called with these held.
#define CAIRN_REQUIRES(...) CAIRN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// The function takes these itself: calling it with one held deadlocks.
#define CAIRN_EXCLUDES(...) CAIRN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define CAIRN_ACQUIRE(...) CAIRN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define CAIRN_RELEASE(...) CAIRN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define CAIRN_RETURN_CAPABILITY(x) CAIRN_THREAD_ANNOTATION(lock_returned(x))
// Shared (reader) forms, for SharedMutex: a member CAIRN_GUARDED_BY a
// SharedMutex may be read with it held shared, written only with it held
// exclusively.
#define CAIRN_REQUIRES_SHARED(...) CAIRN_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define CAIRN_ACQUIRE_SHARED(...) CAIRN_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define CAIRN_RELEASE_SHARED(...) CAIRN_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
// Releases the capability however it is held (a scoped lock's destructor).
#define CAIRN_RELEASE_GENERIC(...) CAIRN_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))

namespace cairn {

// std::mutex, annotated. Not recursive.
class CAIRN_CAPABILITY("mutex") Mutex {
 public:
  void Lock() CAIRN_ACQUIRE() { mu_.lock(); }
  void Unlock() CAIRN_RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope, like std::unique_lock: Unlock()/Lock() in the
// middle, and unique() for std::condition_variable waits (a wait releases and
// retakes the mutex inside; the analysis treats it as held throughout, which is
// what the code after the wait may assume).
class CAIRN_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) CAIRN_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() CAIRN_RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Lock() CAIRN_ACQUIRE() { lock_.lock(); }
  void Unlock() CAIRN_RELEASE() { lock_.unlock(); }
  std::unique_lock<std::mutex>& unique() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// std::shared_mutex, annotated: held exclusively (WriterMutexLock) or shared
// by several (ReaderMutexLock). Not recursive, no upgrade.
class CAIRN_CAPABILITY("mutex") SharedMutex {
 public:
  void Lock() CAIRN_ACQUIRE() { mu_.lock(); }
  void Unlock() CAIRN_RELEASE() { mu_.unlock(); }
  void LockShared() CAIRN_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() CAIRN_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a SharedMutex exclusively for its scope.
class CAIRN_SCOPED_CAPABILITY WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex& mu) CAIRN_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~WriterMutexLock() CAIRN_RELEASE() { mu_.Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds a SharedMutex shared for its scope.
class CAIRN_SCOPED_CAPABILITY ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex& mu) CAIRN_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.LockShared(); }
  ~ReaderMutexLock() CAIRN_RELEASE_GENERIC() { mu_.UnlockShared(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace cairn
