// vigil_plugin_pattern: the POSIX extended expressions checks match answers with, including
// bodies with NUL bytes and bodies too large for a recursive matcher.
#include "vigil_plugin_pattern/pattern.hpp"

#include <catch2/catch.hpp>

#include <string>

using vigil::plugin_pattern::Pattern;

TEST_CASE("a pattern matches anywhere in the text, in extended syntax") {
  std::string error;
  auto p = Pattern::compile("\"status\": *\"(up|ok)\"", error);
  REQUIRE(p);
  CHECK(p->search("{\"status\": \"ok\", \"db\": true}"));
  CHECK(p->search("{\"status\":\"up\"}"));
  CHECK_FALSE(p->search("{\"status\": \"down\"}"));
  CHECK(p->expression() == "\"status\": *\"(up|ok)\"");
}

TEST_CASE("a syntax error is reported with the matcher's reason") {
  std::string error;
  CHECK_FALSE(Pattern::compile("(unclosed", error));
  CHECK(error.find("(") != std::string::npos);
  CHECK_FALSE(Pattern::compile("a{2,1}", error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("text after a NUL byte is searched") {
  std::string error;
  auto p = Pattern::compile("SSH-2\\.0", error);
  REQUIRE(p);
  std::string text("\0\0binary\0SSH-2.0-OpenSSH", 24);
  CHECK(p->search(text));
  CHECK_FALSE(p->search(std::string("\0\0\0", 3)));
  CHECK_FALSE(p->search(""));
}

TEST_CASE("a multi-megabyte body is searched without crashing") {
  std::string error;
  auto p = Pattern::compile("(a|b)*c", error);
  REQUIRE(p);
  std::string body(8u << 20, 'a');
  CHECK_FALSE(p->search(body));
  body.back() = 'c';
  CHECK(p->search(body));
}
