#pragma once
// The real plugins the tests use, from Debian packages, and what the tests know about them.

namespace jambox::test {

inline constexpr const char* kAmp = "http://lv2plug.in/plugins/eg-amp";  // lv2-examples: gain dB
inline constexpr const char* kMetro = "http://lv2plug.in/plugins/eg-metro";  // no audio input
// lsp-plugins-lv2: mode 2 delays by `time` ms.
inline constexpr const char* kCompDelay = "http://lsp-plug.in/plugins/lv2/comp_delay_mono";
inline constexpr const char* kNoDelay = "http://gareus.org/oss/lv2/nodelay";  // x42: `delay` frames
inline constexpr const char* kZamComp = "urn:zamaudio:ZamComp";               // DPF: needs options
inline constexpr const char* kZamTube = "urn:zamaudio:ZamTube";               // an amp simulation
// guitarix-lv2's amp and cabinet need worker:schedule.
inline constexpr const char* kGxAmp = "http://guitarix.sourceforge.net/plugins/gx_amp#GUITARIX";
inline constexpr const char* kGxCabinet =
    "http://guitarix.sourceforge.net/plugins/gx_cabinet#CABINET";
// lv2-examples' sampler needs state:loadDefaultState, which this host does not give.
inline constexpr const char* kSampler = "http://lv2plug.in/plugins/eg-sampler";

}  // namespace jambox::test
