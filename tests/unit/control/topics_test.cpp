#include <jambox/control/topics.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using jambox::control::Topics;
using jambox::control::valid_topic_level;

TEST_CASE("topics of a box", "[control]") {
  const Topics t("jambox", "5f0c2a5e-0000-4000-8000-000000000001");
  CHECK(t.command() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/command");
  CHECK(t.command_ack() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/command/ack");
  CHECK(t.request("r1") == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/request/r1");
  CHECK(t.responses() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/response/+");
  CHECK(t.status() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/status");
  CHECK(t.room_presence("band") ==
        "jambox/room/band/presence/5f0c2a5e-0000-4000-8000-000000000001");
}

TEST_CASE("prefixes and keys must be single topic levels", "[control]") {
  CHECK(valid_topic_level("jambox"));
  CHECK_FALSE(valid_topic_level(""));
  CHECK_FALSE(valid_topic_level("a/b"));
  CHECK_FALSE(valid_topic_level("+"));
  CHECK_FALSE(valid_topic_level("#"));
  CHECK_FALSE(valid_topic_level(std::string("a\nb")));
  CHECK_THROWS_AS(Topics("jam/box", "key"), std::invalid_argument);
  CHECK_THROWS_AS(Topics("jambox", "k+"), std::invalid_argument);
}
