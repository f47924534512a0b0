// A loopback TCP forwarder that a test can take down and bring back, to make
// a backend (PostgreSQL, radosgw) disappear from one server's point of view
// without stopping it for the other tests that share it.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace cairn::testing {

class TcpProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:target_port.
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Down: every open connection is cut and new ones are closed at once (the
  // backend looks stopped). Up: forwarding again.
  void SetDown(bool down);

 private:
  void AcceptLoop();
  void Pump(int client);

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> down_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<int> open_;  // guarded by mu_: both ends of live connections
  std::vector<std::thread> threads_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace cairn::testing
