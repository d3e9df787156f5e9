#include <jambox/jacktest/audio_file.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace jt = jambox::jacktest;

namespace {

struct TempFile {
  explicit TempFile(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("jbx-audio-" + std::to_string(::getpid()) + "-" + name)) {}
  ~TempFile() { std::filesystem::remove(path); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::filesystem::path path;
};

jt::AudioData sample_audio() {
  jt::AudioData audio;
  audio.rate = 48000;
  audio.channels = {{0.0f, 0.5f, -1.0f, 0.25f}, {1.0f, -0.5f, 0.125f, 0.0f}};
  return audio;
}

}  // namespace

TEST_CASE("float WAV files round-trip and have the standard header", "[jack-tools]") {
  TempFile file("a.WAV");
  jt::write_audio(file.path, sample_audio());
  CHECK(std::filesystem::file_size(file.path) == 44 + 4 * 2 * 4);
  const auto back = jt::read_audio(file.path);
  CHECK(back.rate == 48000);
  CHECK(back.channels == sample_audio().channels);

  std::ifstream in(file.path, std::ios::binary);
  std::string header(44, '\0');
  in.read(header.data(), 44);
  CHECK(header.substr(0, 4) == "RIFF");
  CHECK(header.substr(8, 8) == "WAVEfmt ");
  CHECK(header[20] == 3);  // IEEE float
  CHECK(header[22] == 2);  // channels
  CHECK(header.substr(36, 4) == "data");
}

TEST_CASE("raw files are interleaved float32", "[jack-tools]") {
  TempFile file("a.f32");
  jt::write_audio(file.path, sample_audio());
  CHECK(std::filesystem::file_size(file.path) == 4 * 2 * 4);
  CHECK(jt::read_audio(file.path, 2).channels == sample_audio().channels);
  const auto mono = jt::read_audio(file.path, 1);
  REQUIRE(mono.channels.size() == 1);
  CHECK(mono.channels[0].size() == 8);
  CHECK(mono.channels[0][1] == 1.0f);  // the second interleaved sample
}

TEST_CASE("bad files are refused with the file name", "[jack-tools]") {
  TempFile file("bad.wav");
  {
    // A PCM header cut short after the format tag.
    const char bytes[] = "RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00";
    std::ofstream out(file.path, std::ios::binary);
    out.write(bytes, sizeof bytes - 1);
  }
  CHECK_THROWS_WITH(jt::read_audio(file.path), Catch::Contains(file.path.filename().string()));
  CHECK_THROWS(jt::read_audio(std::filesystem::path("/nonexistent/x.wav")));

  jt::AudioData uneven;
  uneven.channels = {{1.0f}, {1.0f, 2.0f}};
  TempFile out("uneven.wav");
  CHECK_THROWS(jt::write_audio(out.path, uneven));
}
