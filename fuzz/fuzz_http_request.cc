// Raw bytes in, through Beast's parser and the router, against a real SQLite +
// local-disk store: never crash, never answer outside 2xx-5xx.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>

#include "fuzz_target_common.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& router = cairn::fuzz::Router::Get();
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(2 * 1024 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!parser.is_header_done()) return 0;
  const auto& hdr = parser.get();
  cairn::internal::HttpRequest req;
  req.method = std::string(hdr.method_string());
  req.target = std::string(hdr.target());
  auto header = [&](auto field) {
    auto it = hdr.find(field);
    return it == hdr.end() ? std::string() : std::string(it->value());
  };
  req.authorization = header(http::field::authorization);
  req.range = header(http::field::range);
  req.if_range = header(http::field::if_range);
  req.sha256 = header("X-Cairn-Sha256");
  if (parser.content_length()) req.content_length = *parser.content_length();
  req.chunked = parser.chunked();
  std::string body = parser.is_done() ? hdr.body() : std::string();
  cairn::internal::HttpResponse res = router.Handle(req, body);
  if (res.status < 200 || res.status > 599) std::abort();
  if (res.stream) {
    char buf[4096];
    std::uint64_t left = res.stream_length;
    while (left > 0) {
      auto n = res.stream->Read(buf, sizeof buf);
      if (!n.ok() || *n == 0) break;
      left -= *n;
    }
  }
  return 0;
}
