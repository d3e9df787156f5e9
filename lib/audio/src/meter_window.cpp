#include <jambox/audio/meter_window.hpp>

#include <algorithm>

namespace jambox::audio {
namespace {

// A remote being folded into a window, with when it was last heard (for giving way when more
// than kMaxRemotes sessions came and went within one window).
struct RemoteFold {
  bool used = false;
  std::uint32_t session_id = 0;
  std::uint64_t last_heard = 0;
  MeterSum sum;
};

RemoteFold* find_fold(std::array<RemoteFold, kMaxRemotes>& folds, std::uint32_t session) {
  for (RemoteFold& f : folds) {
    if (f.used && f.session_id == session) return &f;
  }
  return nullptr;
}

void fold_remotes(std::array<RemoteFold, kMaxRemotes>& folds,
                  const std::array<RemoteSum, kMaxRemotes>& records, std::uint64_t number) {
  // Sessions already in the window first, so that every session present in this publication is
  // marked as heard now before a newcomer looks for a place.
  std::array<bool, kMaxRemotes> done{};
  for (std::size_t i = 0; i < kMaxRemotes; ++i) {
    if (!records[i].present) continue;
    if (RemoteFold* f = find_fold(folds, records[i].session_id)) {
      f->last_heard = number;
      f->sum.merge(records[i].sum);
      done[i] = true;
    }
  }
  for (std::size_t i = 0; i < kMaxRemotes; ++i) {
    if (!records[i].present || done[i]) continue;
    // A session listed twice (released and back within one publication) merges into one.
    RemoteFold* target = find_fold(folds, records[i].session_id);
    if (target == nullptr) {
      // A free place, else the one heard least recently: with at most kMaxRemotes sessions per
      // publication, that one is no longer present.
      target = &folds[0];
      for (RemoteFold& f : folds) {
        if (!f.used) {
          target = &f;
          break;
        }
        if (f.last_heard < target->last_heard) target = &f;
      }
      *target = RemoteFold{true, records[i].session_id, number, MeterSum{}};
    }
    target->last_heard = number;
    target->sum.merge(records[i].sum);
  }
}

}  // namespace

MeterHistory::MeterHistory(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      slots_(std::make_unique<Seqlock<MeterPublication>[]>(capacity_)) {}

std::size_t MeterHistory::capacity_for(std::uint32_t publish_frames) noexcept {
  const std::uint32_t frames = std::max<std::uint32_t>(publish_frames, 1);
  const std::size_t needed = (kMeterHistoryFrames + frames - 1) / frames;
  std::size_t capacity = 1;
  while (capacity < needed) capacity *= 2;
  return capacity;
}

void MeterHistory::push(const MeterPublication& publication) noexcept {
  const std::uint64_t number = pushed_.load(std::memory_order_relaxed);
  MeterPublication entry = publication;
  entry.number = number;
  slots_[number % capacity_].store(entry);
  // Release: a reader that sees the new count sees the entry too.
  pushed_.store(number + 1, std::memory_order_release);
}

MeterWindow MeterHistory::take() noexcept {
  MeterWindow window;
  std::array<MeterSum, kInputs> inputs{};
  std::array<MeterSum, kOutputs> master{};
  std::array<RemoteFold, kMaxRemotes> remotes{};

  const std::uint64_t pushed = pushed_.load(std::memory_order_acquire);
  std::uint64_t from = taken_;
  if (pushed - from > capacity_) {
    window.dropped += pushed - from - capacity_;  // already overwritten
    from = pushed - capacity_;
  }
  for (std::uint64_t n = from; n < pushed; ++n) {
    const MeterPublication entry = slots_[n % capacity_].load();
    if (entry.number != n) {
      // Overwritten by a newer entry while this loop ran: that one is read by the next take.
      ++window.dropped;
      continue;
    }
    for (std::size_t i = 0; i < kInputs; ++i) inputs[i].merge(entry.inputs[i]);
    for (std::size_t i = 0; i < kOutputs; ++i) master[i].merge(entry.master[i]);
    fold_remotes(remotes, entry.remotes, n);
    ++window.publications;
  }
  taken_ = pushed;

  for (std::size_t i = 0; i < kInputs; ++i) window.inputs[i] = inputs[i].level();
  for (std::size_t i = 0; i < kOutputs; ++i) window.master[i] = master[i].level();
  for (std::size_t i = 0; i < kMaxRemotes; ++i) {
    if (!remotes[i].used) continue;
    window.remotes[i] = RemoteLevel{true, remotes[i].session_id, remotes[i].sum.level()};
  }
  return window;
}

}  // namespace jambox::audio
