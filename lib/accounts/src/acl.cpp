#include <jambox/accounts/accounts.hpp>

#include <sstream>

namespace jambox::accounts {

bool valid_user_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  // The room server signs the admin tool's chat messages "admin", and boxes name the admin
  // tool's commands "jamboxctl": no musician may look like either, or like the room server.
  if (name == "admin" || name == "jamboxctl" || name == "jambox-broadcast") return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_box_key(std::string_view key) noexcept {
  if (key.empty() || key.size() > 128) return false;
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || c == '+' || c == '#' || byte < 0x20 || byte == 0x7f || c == ' ') return false;
  }
  return true;
}

std::string password_problem(std::string_view password) {
  if (password.size() < 8) return "a password needs at least 8 characters";
  if (password.size() > 256) return "a password has at most 256 characters";
  for (const char c : password) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return "a password cannot contain control characters";
  }
  return {};
}

namespace {

// What a musician may do with one box (`box` is a key, or "+" for an admin's every box). The
// sender's name is part of the command and chat topics, so the box knows who sent a command
// from the topic the broker checked, not from anything the page claims.
void box_rules(std::ostringstream& out, std::string_view prefix, std::string_view box,
               std::string_view user) {
  const std::string base = std::string(prefix) + "/player/" + std::string(box) + "/";
  for (const char* topic : {"status", "meters", "state", "capabilities", "command/ack", "room/#"}) {
    out << "topic read " << base << topic << "\n";
  }
  out << "topic write " << base << "command/from/" << user << "\n";
  out << "topic write " << base << "chat/from/" << user << "\n";
}

}  // namespace

std::string acl_text(const std::vector<Musician>& musicians, std::string_view prefix) {
  std::ostringstream out;
  out << "# Written by `jamboxctl user` from web-users.json: do not edit by hand, the next change\n"
         "# overwrites it. Access of the musicians' web listener (docs/web.md): each user reads\n"
         "# the boxes it is granted and writes their command and chat topics under its own name.\n";
  for (const Musician& m : musicians) {
    out << "\nuser " << m.name << "\n";
    if (m.admin) {
      box_rules(out, prefix, "+", m.name);
      continue;
    }
    for (const std::string& box : m.boxes) box_rules(out, prefix, box, m.name);
  }
  return out.str();
}

}  // namespace jambox::accounts
