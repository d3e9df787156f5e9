// The limited JSON reader and the text helpers: every limit refuses with its own reason, a
// document nested far too deep is refused before it exists, and nothing we print can throw.
#include <jambox/message/limited_json.hpp>
#include <jambox/message/rate.hpp>
#include <jambox/message/rejections.hpp>
#include <jambox/message/text.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace jambox::message;

namespace {

JsonLimits small() {
  JsonLimits l;
  l.max_bytes = 1000;
  l.max_depth = 3;
  l.max_string = 8;
  l.max_array = 4;
  l.max_members = 3;
  l.max_values = 20;
  return l;
}

Refusal refused(const std::string& text, const JsonLimits& limits = small()) {
  ParseError error;
  const auto doc = parse_object(text, limits, error);
  REQUIRE_FALSE(doc);
  CHECK_FALSE(error.detail.empty());
  CHECK(valid_utf8(error.detail));
  return error.reason;
}

}  // namespace

TEST_CASE("limited json: a document within the limits is read", "[message]") {
  ParseError error;
  const auto doc = parse_object(R"({"a":[1,2,{"b":"c"}],"d":null})", small(), error);
  REQUIRE(doc);
  CHECK((*doc)["a"][2]["b"] == "c");
}

TEST_CASE("limited json: each limit refuses with its reason", "[message]") {
  CHECK(refused(std::string(1001, ' ')) == Refusal::too_large);
  CHECK(refused(R"({"a":[[[1]]]})") == Refusal::too_deep);
  CHECK(refused(R"({"a":"123456789"})") == Refusal::too_long);
  CHECK(refused(R"({"123456789":1})") == Refusal::too_long);
  CHECK(refused(R"({"a":[1,2,3,4,5]})") == Refusal::too_long);
  CHECK(refused(R"({"a":1,"b":2,"c":3,"d":4})") == Refusal::too_long);
  // 22 values, each container within its own limits.
  CHECK(refused(R"({"a":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]})") == Refusal::too_long);
  CHECK(refused(R"({"a":)") == Refusal::invalid_json);
  CHECK(refused("") == Refusal::invalid_json);
  CHECK(refused("[1,2]") == Refusal::not_object);
  CHECK(refused("\"text\"") == Refusal::not_object);
}

TEST_CASE("limited json: invalid UTF-8 is refused as input, in values and keys", "[message]") {
  CHECK(refused("{\"a\":\"\xC3\x28\"}") == Refusal::invalid_json);
  CHECK(refused("{\"\xFF\":1}") == Refusal::invalid_json);
  CHECK(refused("{\"a\":\"\xED\xA0\x80\"}") == Refusal::invalid_json);  // a surrogate
}

TEST_CASE("limited json: 100,000 nested arrays are refused without building them", "[message]") {
  JsonLimits l;
  l.max_bytes = 1 << 20;
  const std::string deep = "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(refused(deep, l) == Refusal::too_deep);
  const std::string deep_objects = [] {
    std::string s;
    for (int i = 0; i < 50000; ++i) s += "{\"a\":";
    s += "1";
    s += std::string(50000, '}');
    return s;
  }();
  CHECK(refused(deep_objects, l) == Refusal::too_deep);
}

TEST_CASE("text: clip keeps whole characters and valid UTF-8", "[message]") {
  const std::string euro = "\xE2\x82\xAC";
  CHECK(clip("abc", 10) == "abc");
  CHECK(clip(euro + euro, 4) == euro);  // never half a character
  CHECK(clip(euro + euro, 6) == euro + euro);
  CHECK(clip("a\xFF"
             "b",
             10) ==
        "a\xEF\xBF\xBD"
        "b");  // replaced
  CHECK(valid_utf8(clip("\xC3\x28\xF0\x28\x8C\x28", 100)));
  CHECK(clip("\xFF\xFF", 2).empty());  // a replacement that does not fit is left out
  CHECK(valid_utf8(""));
  CHECK_FALSE(valid_utf8("\xC0\xAF"));          // overlong
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST_CASE("text: dump never throws on invalid UTF-8", "[message]") {
  const nlohmann::json doc{{"error", std::string("bad \xC3 byte")}};
  CHECK_THROWS(doc.dump());  // what the library does by default
  const std::string text = dump(doc);
  CHECK(valid_utf8(text));
  CHECK(text.find("bad") != std::string::npos);
}

TEST_CASE("rejections: counted per kind and reason, logged at most every 10 s", "[message]") {
  Rejections r;
  const auto t0 = Rejections::Clock::now();
  CHECK(r.count(Kind::transport, Refusal::too_deep, t0));
  CHECK_FALSE(r.count(Kind::transport, Refusal::too_deep, t0 + std::chrono::seconds(1)));
  CHECK(r.count(Kind::presence, Refusal::rate_limited, t0 + std::chrono::seconds(1)));
  CHECK(r.count(Kind::transport, Refusal::invalid_json, t0 + std::chrono::seconds(11)));
  CHECK(r.total(Kind::transport) == 3);
  CHECK(r.total() == 4);
  const nlohmann::json j = r.to_json();
  CHECK(j["transport"]["too_deep"] == 2);
  CHECK(j["transport"]["invalid_json"] == 1);
  CHECK(j["presence"]["rate_limited"] == 1);
  CHECK_FALSE(j.contains("command"));
}

TEST_CASE("keyed rate: a burst, then the steady rate, per key; the table is bounded", "[message]") {
  KeyedRate rate(3.0, 2.0, 2);
  const auto t0 = KeyedRate::Clock::now();
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += rate.admit("a", t0) ? 1 : 0;
  CHECK(admitted == 3);
  CHECK(rate.admit("b", t0));                                   // another key has its own bucket
  CHECK_FALSE(rate.admit("c", t0));                             // the table is full
  CHECK(rate.admit("a", t0 + std::chrono::milliseconds(500)));  // one token back after 0.5 s
  CHECK_FALSE(rate.admit("a", t0 + std::chrono::milliseconds(500)));
  // Idle keys are forgotten, which makes room for new ones.
  CHECK(rate.admit("c", t0 + std::chrono::seconds(10)));
  CHECK(rate.keys() <= 2);
}
