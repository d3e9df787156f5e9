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
  // A box's room topics are its own: the room server relays between members.
  CHECK(t.room_out_presence() ==
        "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/room/out/presence");
  CHECK(t.room_out_transport() ==
        "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/room/out/transport");
  CHECK(t.room_in_all() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/room/in/+/+");
  CHECK(t.room_chat() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/room/chat");
  CHECK(t.room_chat_refused() ==
        "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/room/chat/refused");
  CHECK(t.chat_from_prefix() == "jambox/player/5f0c2a5e-0000-4000-8000-000000000001/chat/from/");
}

TEST_CASE("the room server's filters over every box", "[control]") {
  CHECK(jambox::control::room_out_filter("jambox") == "jambox/player/+/room/out/+");
  CHECK(jambox::control::chat_from_filter("jambox") == "jambox/player/+/chat/from/+");
  CHECK(jambox::control::admin_chat_filter("jambox") == "jambox/room/+/chat");
  CHECK(jambox::control::admin_chat("jambox", "band") == "jambox/room/band/chat");
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
