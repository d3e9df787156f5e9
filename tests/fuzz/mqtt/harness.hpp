#pragma once
// Shared by the MQTT fuzz targets: an Outbox that checks everything the box would publish
// (valid UTF-8, within the status limit) and aborts otherwise, so libFuzzer reports it.

#include "check.hpp"
#include "outbox.hpp"
#include <jambox/message/text.hpp>

#include <string>
#include <string_view>

namespace jambox::fuzz {

class CheckingOutbox final : public box::Outbox {
 public:
  using Outbox::publish;
  [[nodiscard]] bool ready() const override { return true; }
  bool publish(const std::string& topic, std::string_view payload,
               const control::PublishOptions& /*options*/) override {
    require(payload.size() <= kMaxPublish, "a publication exceeds 256 KiB");
    require(message::valid_utf8(payload), "a publication is not valid UTF-8");
    require(message::valid_utf8(topic), "a topic is not valid UTF-8");
    ++published;
    return true;
  }
  void subscribe(const std::string& /*filter*/) override {}
  void unsubscribe(const std::string& /*filter*/) override {}
  std::size_t published = 0;
};

}  // namespace jambox::fuzz
