// Chunked and gzip delivery of a rendered page, and the Accept-Encoding decision: a client that
// asks for gzip must get bytes that inflate to exactly the page, and one that leaves must stop
// the work.
#include "body_writer.hpp"

#include <zlib.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace vigil::exporter_prometheus;

namespace {

std::string sample_page(std::size_t series) {
  std::string page = "# HELP bench_metric A test metric.\n# TYPE bench_metric gauge\n";
  for (std::size_t i = 0; i < series; ++i) {
    page += "bench_metric{host=\"h1\",id=\"" + std::to_string(i) + "\"} " +
            std::to_string(i * 7 % 1000) + "\n";
  }
  return page;
}

std::string gunzip(const std::string& compressed) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);  // gzip wrapper only
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - zs.avail_out);
  }
  CHECK(rc == Z_STREAM_END);
  CHECK(zs.avail_in == 0);  // nothing after the gzip member
  inflateEnd(&zs);
  return out;
}

}  // namespace

TEST_CASE("the plain body arrives whole, in chunks of at most the chunk size") {
  std::string page = sample_page(5000);
  std::vector<std::size_t> sizes;
  std::string got;
  auto result = write_plain(page, kChunkSize, [&](std::string_view c) {
    sizes.push_back(c.size());
    got.append(c);
    return true;
  });
  CHECK(result == BodyResult::complete);
  CHECK(got == page);
  REQUIRE(sizes.size() == (page.size() + kChunkSize - 1) / kChunkSize);
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) CHECK(sizes[i] == kChunkSize);
}

TEST_CASE("gzip output inflates to exactly the page, at every level") {
  std::string page = sample_page(20000);
  for (int level : {0, 1, 6, 9}) {
    std::string compressed, error;
    std::size_t largest = 0;
    auto result = write_gzip(
        page, level, kChunkSize,
        [&](std::string_view c) {
          largest = std::max(largest, c.size());
          compressed.append(c);
          return true;
        },
        error);
    INFO("level " << level << ": " << error);
    REQUIRE(result == BodyResult::complete);
    CHECK(largest <= kChunkSize);
    REQUIRE(compressed.size() > 2);
    CHECK(static_cast<unsigned char>(compressed[0]) == 0x1f);  // gzip magic
    CHECK(static_cast<unsigned char>(compressed[1]) == 0x8b);
    if (level > 0) CHECK(compressed.size() < page.size() / 3);
    CHECK(gunzip(compressed) == page);
  }
}

TEST_CASE("an empty page is still a valid gzip stream") {
  std::string compressed, error;
  REQUIRE(write_gzip(
              "", 1, kChunkSize,
              [&](std::string_view c) {
                compressed.append(c);
                return true;
              },
              error) == BodyResult::complete);
  CHECK(gunzip(compressed).empty());
}

TEST_CASE("a sink that says the client left stops the writing at once") {
  std::string page = sample_page(50000);
  int calls = 0;
  auto stop_after_two = [&](std::string_view) { return ++calls < 2; };
  CHECK(write_plain(page, 1024, stop_after_two) == BodyResult::stopped);
  CHECK(calls == 2);

  calls = 0;
  std::string error;
  CHECK(write_gzip(page, 0, 1024, stop_after_two, error) == BodyResult::stopped);
  CHECK(calls == 2);
}

TEST_CASE("a gzip level outside 0-9 is refused with a message") {
  std::string error;
  CHECK(write_gzip(
            "x", 42, kChunkSize, [](std::string_view) { return true; }, error) ==
        BodyResult::failed);
  CHECK(error.find("expected a level from 0 to 9") != std::string::npos);
}

TEST_CASE("Accept-Encoding decides gzip as HTTP defines it") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("gzip, deflate, br"));
  CHECK(accepts_gzip("deflate, GZip;q=0.5"));
  CHECK(accepts_gzip("x-gzip"));
  CHECK(accepts_gzip("identity, gzip ;q=1.0"));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("identity"));
  CHECK_FALSE(accepts_gzip("br, deflate"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip; q=0.000"));
  CHECK_FALSE(accepts_gzip("gzipped"));
}
