#pragma once
// Recordings on disk: 32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT) for listening, or raw
// interleaved little-endian float32 for scripts (numpy.fromfile(..., "<f4")).

#include <cstdint>
#include <filesystem>
#include <vector>

namespace jambox::jacktest {

struct AudioData {
  std::uint32_t rate = 48000;
  std::vector<std::vector<float>> channels;  // equal lengths
};

// ".wav" (any case) selects WAV, anything else raw. Throws std::runtime_error naming the file.
void write_audio(const std::filesystem::path& file, const AudioData& audio);
// Reads a float WAV as written above, or a raw file of `raw_channels` interleaved channels at
// `raw_rate`. Throws std::runtime_error naming the file and the problem.
[[nodiscard]] AudioData read_audio(const std::filesystem::path& file, std::size_t raw_channels = 2,
                                   std::uint32_t raw_rate = 48000);

}  // namespace jambox::jacktest
