#include "jambox/jacktest/audio_file.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace jambox::jacktest {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the test tools write little-endian samples by copying memory");

bool is_wav(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".wav";
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xffU));
  out.push_back(static_cast<char>((v >> 8) & 0xffU));
}
std::uint32_t get_u32(const std::string& in, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  }
  return v;
}
std::uint16_t get_u16(const std::string& in, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(in[at]) |
                                    (static_cast<unsigned char>(in[at + 1]) << 8));
}

std::string interleave(const AudioData& audio) {
  const std::size_t channels = audio.channels.size();
  const std::size_t frames = channels == 0 ? 0 : audio.channels.front().size();
  std::string bytes(frames * channels * sizeof(float), '\0');
  for (std::size_t f = 0; f < frames; ++f) {
    for (std::size_t c = 0; c < channels; ++c) {
      std::memcpy(&bytes[(f * channels + c) * sizeof(float)], &audio.channels[c][f], sizeof(float));
    }
  }
  return bytes;
}

void deinterleave(const char* data, std::size_t bytes, std::size_t channels, AudioData& audio) {
  const std::size_t frames = bytes / (channels * sizeof(float));
  audio.channels.assign(channels, std::vector<float>(frames));
  for (std::size_t f = 0; f < frames; ++f) {
    for (std::size_t c = 0; c < channels; ++c) {
      std::memcpy(&audio.channels[c][f], data + (f * channels + c) * sizeof(float), sizeof(float));
    }
  }
}

}  // namespace

void write_audio(const std::filesystem::path& file, const AudioData& audio) {
  for (const auto& ch : audio.channels) {
    if (ch.size() != audio.channels.front().size()) {
      throw std::runtime_error(file.string() + ": channels of different lengths");
    }
  }
  const std::string samples = interleave(audio);
  std::string out;
  if (is_wav(file)) {
    const auto channels = static_cast<std::uint16_t>(audio.channels.size());
    const auto data_size = static_cast<std::uint32_t>(samples.size());
    out += "RIFF";
    put_u32(out, 36 + data_size);
    out += "WAVEfmt ";
    put_u32(out, 16);
    put_u16(out, 3);  // WAVE_FORMAT_IEEE_FLOAT
    put_u16(out, channels);
    put_u32(out, audio.rate);
    put_u32(out, audio.rate * channels * 4U);                 // bytes per second
    put_u16(out, static_cast<std::uint16_t>(channels * 4U));  // block align
    put_u16(out, 32);
    out += "data";
    put_u32(out, data_size);
  }
  out += samples;
  std::ofstream stream(file, std::ios::binary | std::ios::trunc);
  stream.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!stream) throw std::runtime_error("cannot write " + file.string());
}

AudioData read_audio(const std::filesystem::path& file, std::size_t raw_channels,
                     std::uint32_t raw_rate) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw std::runtime_error("cannot open " + file.string());
  const std::string in((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  AudioData audio;
  if (!is_wav(file)) {
    if (raw_channels == 0) throw std::runtime_error(file.string() + ": zero channels");
    audio.rate = raw_rate;
    deinterleave(in.data(), in.size(), raw_channels, audio);
    return audio;
  }
  const auto fail = [&](const std::string& why) {
    return std::runtime_error(file.string() + ": " + why);
  };
  if (in.size() < 12 || in.compare(0, 4, "RIFF") != 0 || in.compare(8, 4, "WAVE") != 0) {
    throw fail("not a RIFF/WAVE file");
  }
  std::size_t at = 12;
  std::uint16_t channels = 0;
  bool have_format = false;
  while (at + 8 <= in.size()) {
    const std::string id = in.substr(at, 4);
    const std::size_t size = get_u32(in, at + 4);
    const std::size_t body = at + 8;
    if (size > in.size() - body) throw fail("chunk '" + id + "' runs past the end");
    if (id == "fmt ") {
      if (size < 16) throw fail("short fmt chunk");
      if (get_u16(in, body) != 3 || get_u16(in, body + 14) != 32) {
        throw fail("only 32-bit float WAV files are supported");
      }
      channels = get_u16(in, body + 2);
      audio.rate = get_u32(in, body + 4);
      have_format = channels > 0;
    } else if (id == "data") {
      if (!have_format) throw fail("data before a usable fmt chunk");
      deinterleave(in.data() + body, size, channels, audio);
      return audio;
    }
    at = body + size + (size & 1U);
  }
  throw fail("no data chunk");
}

}  // namespace jambox::jacktest
