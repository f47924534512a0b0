// How the native module waits: every call that may wait on the network or the
// disk runs with the GIL released, and Ctrl-C reaches Python promptly.
//
// Python runs signal handlers only on its main thread, between bytecodes;
// a thread inside a long C++ call never gets there. So Blocking() runs the
// C++ call on a worker thread (with the asynchronous signals blocked: SIGINT
// keeps going to Python's main thread, and the threads the SDK starts from
// the worker -- the uploader, the download parts -- inherit the mask), while
// the calling thread waits with the GIL released and, every 50 ms, takes the
// GIL to run PyErr_CheckSignals(). When a handler raises (KeyboardInterrupt),
// `cancel` (if given) is set -- the download engine polls it through
// TransferOptions::cancelled and stops within about a second --, the worker
// is waited for, and the Python exception propagates.
#pragma once

#include <pthread.h>
#include <pybind11/pybind11.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <thread>
#include <utility>

namespace cairn::python {

namespace py = pybind11;

// Blocks, in the calling thread, the signals a process receives from outside.
inline void BlockAsyncSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGWINCH}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Runs fn() (which must not touch Python objects) as described above and
// returns its result. Called with the GIL held. Without `cancel`, a Ctrl-C is
// raised once fn() has returned.
template <typename F>
auto Blocking(F&& fn, std::atomic<bool>* cancel = nullptr) -> decltype(fn()) {
  using Result = decltype(fn());
  std::promise<Result> promise;
  std::future<Result> future = promise.get_future();
  bool interrupted = false;
  {
    py::gil_scoped_release release;
    std::thread worker([&] {
      BlockAsyncSignals();
      try {
        promise.set_value(fn());
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    });
    while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (interrupted) continue;
      py::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) {  // a handler raised: its exception is now set
        interrupted = true;
        if (cancel != nullptr) cancel->store(true);
      }
    }
    worker.join();
  }
  if (interrupted) throw py::error_already_set();
  return future.get();
}

}  // namespace cairn::python
