// Seed generator for the MQTT fuzz targets: valid messages of every kind, and the hostile
// shapes that once broke the box (tens of thousands of nested arrays, messages just under and
// over their size limit, invalid UTF-8 in values and keys, wrong types).
// Usage: jambox-mqtt-seeds DIR  (writes DIR/command, DIR/room, DIR/request, DIR/address,
// DIR/json, DIR/chat, DIR/board)

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string nested(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

std::string command(const std::string& type, const std::string& payload) {
  return R"({"command_id":"c-)" + type + R"(","command_type":")" + type + R"(","payload":)" +
         payload + "}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const std::string bad_utf8 = "\xC3\x28\xFF\xED\xA0\x80";

  const fs::path c = root / "command";
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"ping", "{}"},
      {"get_status", "{}"},
      {"set_master", R"({"gain_db":-6})"},
      {"set_gain", R"({"remote":1,"gain_db":3})"},
      {"set_pan", R"({"remote":1,"pan":0.5})"},
      {"set_mute", R"({"remote":1,"muted":true})"},
      {"set_monitor", R"({"on":true,"gain_db":-3})"},
      {"set_mute_to_room", R"({"input":2,"muted":true})"},
      {"set_metronome", R"({"on":true,"bpm":90})"},
      {"set_jitter", R"({"floor_ms":2,"ceiling_ms":30,"adaptive":false})"},
      {"set_jitter", R"({"auto":"yes"})"},
      {"set_meter_interval", R"({"interval_ms":150})"},
      {"join_room", R"({"room":"band"})"},
      {"join_room", R"({"room":"band","server":"127.0.0.1:7930","secret":"0123456789abcdef"})"},
      {"join_room", R"({"room":"band","server":"nonsense","secret":"0123456789abcdef"})"},
      {"leave_room", "{}"},
      {"set_transport", R"({"tempo_bpm":100,"metronome":true,"queue":["one","two"]})"},
      {"restart_audio", "{}"},
      {"set_tuner", R"({"channel":1,"on":true})"},
      {"set_tuner", R"({"channel":3,"on":"yes"})"},
      {"list_pedals", R"({"offset":10,"limit":5})"},
      {"list_pedals", R"({"uri":"http://guitarix.sourceforge.net/plugins/gxbooster#booster"})"},
      {"insert_pedal",
       R"({"channel":1,"uri":"http://guitarix.sourceforge.net/plugins/gxbooster#booster"})"},
      {"insert_pedal",
       R"({"channel":2,"position":1,"uri":"http://drobilla.net/plugins/mda/Ambience"})"},
      {"insert_pedal", R"({"channel":1,"uri":"http://lv2plug.in/plugins/eg-amp"})"},
      {"set_pedal_param", R"({"channel":1,"position":1,"symbol":"Level","value":0.5})"},
      {"bypass_pedal", R"({"channel":1,"position":1,"bypassed":true})"},
      {"move_pedal", R"({"channel":1,"from":1,"to":2})"},
      {"remove_pedal", R"({"channel":2,"position":1})"},
      {"get_board", R"({"channel":1})"},
      {"save_board", R"({"channel":1,"name":"crunch"})"},
      {"load_board", R"({"channel":2,"name":"crunch"})"},
      {"save_board", R"({"channel":1,"name":"../../etc/passwd"})"},
      {"list_boards", "{}"},
      {"clear_board", R"({"channel":1})"},
  };
  int n = 0;
  for (const auto& [type, payload] : commands) {
    write(c, "valid-" + std::to_string(++n), command(type, payload));
  }
  write(c, "deep-payload", command("set_master", nested(60000)));
  write(c, "deep-envelope", nested(60000));
  write(c, "unknown-type-utf8", command("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC", "{}"));
  write(c, "invalid-utf8", command("ping" + bad_utf8, "{}"));
  write(c, "long-queue", command("set_transport", R"({"queue":[)" + std::string(200, '1') + "]}"));
  write(c, "too-large", command("ping", "{\"x\":\"" + std::string(140000, 'a') + "\"}"));

  const fs::path bf = root / "board";  // pedalboard files (board.json, presets)
  const std::string pedal =
      R"({"uri":"http://drobilla.net/plugins/mda/Ambience","bypassed":false,"params":[["size",0.7]]})";
  write(bf, "preset", R"({"version":1,"pedals":[)" + pedal + "," + pedal + "]}");
  write(bf, "board", R"({"version":1,"channels":[{"pedals":[)" + pedal + R"(]},{"pedals":[]}]})");
  std::string nine = R"({"pedals":[)";
  for (int i = 0; i < 9; ++i) nine += (i ? "," : "") + pedal;
  write(bf, "nine-pedals", nine + "]}");
  write(bf, "bad-params", R"({"pedals":[{"uri":"x","params":[["a"],["b","c"],[1,2],{"k":1}]}]})");
  write(bf, "deep", R"({"pedals":)" + nested(60000) + "}");
  write(bf, "utf8", R"({"pedals":[{"uri":")" + bad_utf8 + R"("}]})");

  const fs::path r = root / "room";  // first byte: topic (low 2 bits) and member
  const auto room = [&](std::uint8_t pick, const std::string& name, const std::string& body) {
    write(r, name, std::string(1, static_cast<char>(pick)) + body);
  };
  room(0x00, "presence-join", R"({"player_key":"box-a","event":"join","timestamp":1})");
  room(0x10, "presence-leave", R"({"player_key":"box-b","event":"leave"})");
  room(
      0x01, "transport",
      R"({"event":"update","host":"box-a","tempo_bpm":120,"metronome":true,"playing":false,"queue":["a"]})");
  room(0x01, "transport-deep",
       R"({"event":"update","host":"box-a","tempo_bpm":120,"metronome":false,"x":)" +
           nested(60000) + "}");
  room(0x01, "transport-long",
       R"({"event":"update","host":"box-a","tempo_bpm":120,"metronome":false,"x":")" +
           std::string(260000, 'x') + "\"}");
  room(0x00, "presence-utf8", "{\"event\":\"join\",\"" + bad_utf8 + "\":1}");
  room(0x02, "view-ack", R"({"event_id":"00000000-0000-4000-8000-000000000000"})");
  room(
      0x03, "admission-ok",
      R"({"request_id":"x","success":true,"room":"band","server":"127.0.0.1:7930","ticket":{"nonce":"00000000000000000000000000000000","expires":99999999999},"ticket_secret":"00000000000000000000000000000000000000000000000000000000000000000","audio_key":"0000000000000000000000000000000000000000000000000000000000000000"})");
  room(0x03, "admission-refused",
       R"({"request_id":"x","success":false,"error_code":"room_full","error":")" +
           std::string(5000, 'e') + "\"}");

  const fs::path q = root / "request";
  write(q, "valid",
        R"({"request_id":"r1","request_type":"join_room","player_key":"box-fuzz","room":"band"})");
  write(q, "deep", nested(60000));
  write(q, "long-type", R"({"request_id":"r1","request_type":")" + std::string(10000, 't') + "\"}");
  write(q, "utf8", R"({"request_id":")" + bad_utf8 + R"(","request_type":"join_room"})");
  write(q, "create", R"({"request_id":"r2","request_type":"create_room","player_key":"box-fuzz"})");
  write(
      q, "create-code",
      R"({"request_id":"r3","request_type":"create_room","player_key":"box-fuzz","room":"k7m2qx"})");
  write(q, "create-declared", R"({"request_id":"r4","request_type":"create_room","room":"band"})");
  write(q, "create-bad-code",
        R"({"request_id":"r5","request_type":"create_room","room":["K7M2QX"]})");
  write(q, "join-code", R"({"request_id":"r6","request_type":"join_room","room":"K7M2QX"})");
  write(q, "create-utf8",
        R"({"request_id":"r7","request_type":"create_room","room":"K7M2)" + bad_utf8 + R"("})");

  const fs::path a = root / "address";
  for (const char* text :
       {"jam.example.org:7930", "192.0.2.1:7930", "[2001:db8::1]:7930", "[fe80::1%eth0]:1",
        "localhost", "nonsense", "host:", ":7930", "256.1.1.1:99999", "010.1.1.1:80", "a..b:1"}) {
    write(a, "address-" + std::to_string(++n), text);
  }

  // Chat (fuzz_room_chat): first byte = topic (bits 6-7: musician, admin, presence, transport),
  // box (bits 2-3), user (bits 4-5), time step (bits 0-1; both set on presence or transport:
  // retained).
  const fs::path ch = root / "chat";
  const auto chat = [&](std::uint8_t pick, const std::string& name, const std::string& body) {
    write(ch, name, std::string(1, static_cast<char>(pick)) + body);
  };
  chat(0x00, "text", R"({"text":"hello room","client_id":"m-1"})");
  chat(0x10, "script", R"({"text":"<script>alert(1)</script>"})");
  chat(0x00, "history", R"({"history":true})");
  chat(0x01, "long", "{\"text\":\"" + std::string(501, 'a') + "\"}");
  std::string euros;
  for (int i = 0; i < 500; ++i) euros += "\xE2\x82\xAC";
  chat(0x00, "longest", "{\"text\":\"" + euros + "\"}");
  chat(0x00, "control", R"({"text":"a\u0000b\nc\u0085"})");
  chat(0x00, "utf8", "{\"text\":\"" + bad_utf8 + "\"}");
  chat(0x00, "deep", "{\"text\":" + nested(60000) + "}");
  chat(0x08, "not-in-room", R"({"text":"anyone?"})");
  chat(0x20, "admin-name", R"({"text":"I am the admin"})");
  chat(0x40, "admin", R"({"text":"soundcheck"})");
  chat(0x80, "presence",
       R"({"player_key":"box-a","event":"join","session_id":7,"rtt_ms":12,"room":"band"})");
  chat(0x80, "presence-leave", R"({"event":"leave","room":"other"})");
  chat(0x83, "presence-retained", R"({"event":"join"})");
  chat(0xC0, "transport",
       R"({"event":"update","host":"box-a","tempo_bpm":96,"metronome":true,"queue":["a"]})");
  chat(0xC4, "transport-impostor",
       R"({"event":"update","host":"box-a","tempo_bpm":96,"metronome":true})");

  const fs::path j = root / "json";
  write(j, "flat", std::string("\x04\x20", 2) + R"({"a":1,"b":[1,2,3],"c":{"d":"e"}})");
  write(j, "deep", std::string("\x02\x10", 2) + nested(5000));
  write(j, "utf8", std::string("\x03\x10", 2) + "{\"a\":\"" + bad_utf8 + "\"}");
  return 0;
}
