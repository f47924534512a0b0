#include "testing/tcp_proxy.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "testing/server_fixture.h"

namespace cairn::testing {

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ListenLoopback(&port_);
  if (listen_fd_ < 0) throw std::runtime_error("TcpProxy: cannot listen");
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  SetDown(true);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void TcpProxy::SetDown(bool down) {
  down_ = down;
  if (!down) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

void TcpProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (down_) {
      ::close(client);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([this, client] { Pump(client); });
  }
}

void TcpProxy::Pump(int client) {
  int server = ConnectLoopback(target_port_);
  if (server < 0) {
    ::close(client);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.insert(client);
    open_.insert(server);
  }
  if (down_) ::shutdown(client, SHUT_RDWR);  // went down while we connected
  char buf[16384];
  bool open = true;
  while (open && !stop_) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      const int to = i == 0 ? server : client;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
          open = false;
          break;
        }
        off += w;
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(client);
    open_.erase(server);
  }
  ::close(client);
  ::close(server);
}

}  // namespace cairn::testing
