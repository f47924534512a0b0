// A tiny TCP proxy for the fault tests: listens on 127.0.0.1 (a free port),
// forwards every connection to 127.0.0.1:TARGET, and misbehaves first:
//
//   fault_proxy TARGET refuse N STATUS  the first N requests get "STATUS" (503, 429)
//                                       with Retry-After: 0 and the connection closed
//   fault_proxy TARGET reset N BYTES    the first N connections whose answer grows past
//                                       BYTES bytes are reset (RST) right there
//
// Prints "proxy listening on PORT", then one line per fault it injected
// ("refused", "reset"), to stdout. Runs until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::atomic<int> faults_left{0};
int target_port = 0;
std::string mode;
long mode_arg = 0;

void Say(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

bool SendAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads a request's header block, answers STATUS and closes gracefully.
void Refuse(int client) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) return;
    head.append(buf, static_cast<std::size_t>(n));
  }
  const std::string body = R"({"error":{"code":"unavailable","message":"injected by fault_proxy"}})";
  const std::string reason = mode_arg == 429 ? "Too Many Requests" : "Service Unavailable";
  const std::string answer = "HTTP/1.1 " + std::to_string(mode_arg) + " " + reason +
                             "\r\nContent-Type: application/json\r\nRetry-After: 0\r\nConnection: close\r\n"
                             "Content-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
  SendAll(client, answer.data(), answer.size());
  ::shutdown(client, SHUT_WR);
  pollfd p{client, POLLIN, 0};
  while (::poll(&p, 1, 1000) > 0 && ::recv(client, buf, sizeof buf, 0) > 0) {
  }
}

void Forward(int client) {
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(server);
    return;
  }
  long answered = 0;
  bool may_reset = mode == "reset";
  char buf[64 * 1024];
  pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) <= 0) break;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0 || !SendAll(server, buf, static_cast<std::size_t>(n))) break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(server, buf, sizeof buf, 0);
      if (n <= 0) break;
      std::size_t pass = static_cast<std::size_t>(n);
      if (may_reset && answered + n > mode_arg) {
        if (faults_left.fetch_sub(1) > 0) {
          pass = static_cast<std::size_t>(mode_arg - answered);
          SendAll(client, buf, pass);
          linger l{1, 0};  // close with RST
          ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
          Say("reset");
          break;
        }
        may_reset = false;
      }
      answered += n;
      if (!SendAll(client, buf, pass)) break;
    }
  }
  ::close(server);
}

void Serve(int client) {
  if (mode == "refuse" && faults_left.fetch_sub(1) > 0) {
    Refuse(client);
    Say("refused");
  } else {
    Forward(client);
  }
  ::close(client);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 || (std::strcmp(argv[2], "refuse") != 0 && std::strcmp(argv[2], "reset") != 0)) {
    std::fprintf(stderr, "usage: fault_proxy TARGET_PORT refuse N STATUS | reset N BYTES\n");
    return 2;
  }
  target_port = std::atoi(argv[1]);
  mode = argv[2];
  faults_left = std::atoi(argv[3]);
  mode_arg = std::atol(argv[4]);
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 64) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("fault_proxy: listen");
    return 1;
  }
  std::printf("proxy listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  for (;;) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::thread(Serve, client).detach();
  }
}
