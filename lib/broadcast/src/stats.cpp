#include <jambox/broadcast/stats.hpp>
#include <jambox/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace jambox::broadcast {

std::uint64_t Counters::rejected_total() const noexcept {
  std::uint64_t total = 0;
  for (const std::uint64_t n : rejected) total += n;
  return total;
}

Counters& Counters::operator+=(const Counters& o) noexcept {
  packets_in += o.packets_in;
  bytes_in += o.bytes_in;
  packets_out += o.packets_out;
  bytes_out += o.bytes_out;
  forwarded += o.forwarded;
  echoes += o.echoes;
  notices += o.notices;
  send_dropped += o.send_dropped;
  joins += o.joins;
  welcomes += o.welcomes;
  admitted += o.admitted;
  leaves += o.leaves;
  expired += o.expired;
  evicted += o.evicted;
  rebinds += o.rebinds;
  closed += o.closed;
  for (std::size_t i = 0; i < rejected.size(); ++i) rejected[i] += o.rejected[i];
  return *this;
}

Snapshot aggregate(const std::vector<ShardStats>& shards) {
  Snapshot out;
  for (const ShardStats& shard : shards) {
    out.totals += shard.counters;
    out.members += shard.members;
    out.pending += shard.pending;
    Snapshot::Shard summary;
    summary.index = shard.index;
    summary.rooms = static_cast<std::uint32_t>(shard.rooms.size());
    summary.members = shard.members;
    summary.packets_in = shard.counters.packets_in;
    summary.packets_out = shard.counters.packets_out;
    out.shards.push_back(summary);
    out.rooms.insert(out.rooms.end(), shard.rooms.begin(), shard.rooms.end());
  }
  std::sort(out.rooms.begin(), out.rooms.end(),
            [](const RoomStats& a, const RoomStats& b) { return a.name < b.name; });
  out.workers = static_cast<std::uint32_t>(shards.size());
  return out;
}

std::uint32_t rtt_p50_us(const Snapshot& snapshot) {
  std::vector<std::uint32_t> rtts;
  for (const RoomStats& room : snapshot.rooms) {
    for (const MemberStats& m : room.members) {
      if (m.rtt_us != 0) rtts.push_back(m.rtt_us);
    }
  }
  if (rtts.empty()) return 0;
  const auto middle = rtts.begin() + static_cast<std::ptrdiff_t>(rtts.size() / 2);
  std::nth_element(rtts.begin(), middle, rtts.end());
  return *middle;
}

std::string to_json(const Snapshot& s) {
  using json = nlohmann::ordered_json;
  const Counters& t = s.totals;
  json totals = {{"packets_in", t.packets_in},
                 {"bytes_in", t.bytes_in},
                 {"packets_out", t.packets_out},
                 {"bytes_out", t.bytes_out},
                 {"forwarded", t.forwarded},
                 {"echoes", t.echoes},
                 {"notices", t.notices},
                 {"send_dropped", t.send_dropped},
                 {"joins", t.joins},
                 {"welcomes", t.welcomes},
                 {"admitted", t.admitted},
                 {"leaves", t.leaves},
                 {"expired", t.expired},
                 {"evicted", t.evicted},
                 {"rebinds", t.rebinds},
                 {"closed", t.closed},
                 {"members", s.members},
                 {"pending", s.pending},
                 {"rooms", s.rooms_configured},
                 {"rooms_on_demand", s.rooms_on_demand},
                 {"rejected", t.rejected_total()}};
  json rejected = json::object();
  for (std::size_t i = 1; i < wire::kRejectCount; ++i) {
    rejected[std::string(wire::reject_name(static_cast<wire::Reject>(i)))] = t.rejected[i];
  }
  json rooms = json::array();
  for (const RoomStats& r : s.rooms) {
    json members = json::array();
    for (const MemberStats& m : r.members) {
      members.push_back({{"session_id", m.session_id},
                         {"address", m.address},
                         {"packets_in", m.packets_in},
                         {"packets_out", m.packets_out},
                         {"lost", m.lost},
                         {"reordered", m.reordered},
                         {"duplicates", m.duplicates},
                         {"jitter_us", m.jitter_us},
                         {"rtt_us", m.rtt_us},
                         {"idle_ms", m.idle_ms},
                         {"age_s", m.age_s}});
    }
    rooms.push_back({{"name", r.name},
                     {"on_demand", r.on_demand},
                     {"shard", r.shard},
                     {"member_count", r.member_count},
                     {"max_members", r.max_members},
                     {"pending", r.pending},
                     {"packets_in", r.packets_in},
                     {"forwarded", r.forwarded},
                     {"echoes", r.echoes},
                     {"joins", r.joins},
                     {"admitted", r.admitted},
                     {"refused_full", r.refused_full},
                     {"members", std::move(members)}});
  }
  json shards = json::array();
  for (const Snapshot::Shard& shard : s.shards) {
    shards.push_back({{"index", shard.index},
                      {"rooms", shard.rooms},
                      {"members", shard.members},
                      {"packets_in", shard.packets_in},
                      {"packets_out", shard.packets_out},
                      {"heartbeat_age_ms", shard.heartbeat_age_ms}});
  }
  const json document = {{"program", "jambox-broadcast"},
                         {"version", kVersion},
                         {"pid", s.pid},
                         {"listen", s.listen},
                         {"port", s.port},
                         {"workers", s.workers},
                         {"uptime_s", s.uptime_s},
                         {"totals", std::move(totals)},
                         {"rejected", std::move(rejected)},
                         {"rooms", std::move(rooms)},
                         {"shards", std::move(shards)}};
  return document.dump();
}

std::string status_line(const Snapshot& current, const Snapshot& previous) {
  const double seconds = current.uptime_s - previous.uptime_s;
  const auto rate = [seconds](std::uint64_t now, std::uint64_t before) -> std::uint64_t {
    if (seconds <= 0.0 || now < before) return 0;
    return static_cast<std::uint64_t>(static_cast<double>(now - before) / seconds + 0.5);
  };
  const Counters& c = current.totals;
  const Counters& p = previous.totals;
  return fmt::format(
      "rooms {}, members {}, in {} pkt/s, out {} pkt/s, rejected {}/s, rtt p50 {:.1f} ms",
      current.rooms_configured, current.members, rate(c.packets_in, p.packets_in),
      rate(c.packets_out, p.packets_out), rate(c.rejected_total(), p.rejected_total()),
      static_cast<double>(rtt_p50_us(current)) / 1000.0);
}

}  // namespace jambox::broadcast
