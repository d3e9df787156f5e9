#include "broker_tools.hpp"
#include <jambox/accounts/accounts.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace jambox::accounts {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxStoreBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxUsers = 10000;
constexpr std::size_t kMaxBoxesPerUser = 1024;

[[noreturn]] void malformed(const std::filesystem::path& file, const std::string& what) {
  throw AccountError(kExitConfig, file.string() + ": " + what +
                                      " (the file is written by jamboxctl user; restore it from a "
                                      "backup or fix it by hand)");
}

std::vector<Musician> parse_store(const std::filesystem::path& file, const std::string& text) {
  if (text.empty()) return {};
  if (text.size() > kMaxStoreBytes) malformed(file, "larger than 4 MiB");
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) malformed(file, "not a JSON object");
  const auto users = doc.find("users");
  if (users == doc.end() || !users->is_array()) malformed(file, "no \"users\" array");
  if (users->size() > kMaxUsers) malformed(file, "more than 10000 users");
  std::vector<Musician> out;
  for (const json& u : *users) {
    Musician m;
    if (!u.is_object() || !u.contains("name") || !u["name"].is_string()) {
      malformed(file, "a user without a \"name\" string");
    }
    m.name = u["name"].get<std::string>();
    if (!valid_user_name(m.name)) malformed(file, "invalid user name '" + m.name + "'");
    if (u.contains("admin")) {
      if (!u["admin"].is_boolean()) malformed(file, m.name + ": \"admin\" must be true or false");
      m.admin = u["admin"].get<bool>();
    }
    if (u.contains("boxes")) {
      const json& boxes = u["boxes"];
      if (!boxes.is_array() || boxes.size() > kMaxBoxesPerUser) {
        malformed(file, m.name + ": \"boxes\" must be an array of at most 1024 player keys");
      }
      for (const json& b : boxes) {
        if (!b.is_string() || !valid_box_key(b.get<std::string>())) {
          malformed(file, m.name + ": invalid player key in \"boxes\"");
        }
        m.boxes.insert(b.get<std::string>());
      }
    }
    if (std::any_of(out.begin(), out.end(), [&](const Musician& o) { return o.name == m.name; })) {
      malformed(file, "user '" + m.name + "' appears twice");
    }
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(),
            [](const Musician& a, const Musician& b) { return a.name < b.name; });
  return out;
}

std::string store_text(const std::vector<Musician>& musicians) {
  json users = json::array();
  for (const Musician& m : musicians) {
    users.push_back({{"name", m.name}, {"admin", m.admin}, {"boxes", m.boxes}});
  }
  return json{{"version", 1}, {"users", users}}.dump(2) + "\n";
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(file)) return {};
    throw AccountError(kExitConfig, "cannot read " + file.string() + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The broker reads the ACL and the password file after it dropped root for its own user: they
// belong to that user, 0600 (not to its group, which jambox-web's server is in to reach the
// broker's socket and must not read the password hashes).
void give_to_broker(const std::filesystem::path& file) {
  if (::geteuid() == 0) {
    if (const passwd* user = ::getpwnam("mosquitto"); user != nullptr) {
      if (::chown(file.c_str(), user->pw_uid, user->pw_gid) != 0) {
        throw AccountError(kExitCantWrite, "cannot give " + file.string() +
                                               " to mosquitto: " + std::strerror(errno));
      }
    }
  }
  ::chmod(file.c_str(), 0600);
}

// Written next to the target and renamed over it: a reader sees the old or the new file.
// Every byte on the disk before the rename, and the rename before we return: an appliance loses
// power, and an account list cut in half would lock every musician out.
void write_atomically(const std::filesystem::path& file, const std::string& text, bool broker) {
  const std::filesystem::path temp = file.string() + ".new";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw AccountError(kExitCantWrite,
                       "cannot write " + temp.string() + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool written = done == text.size() && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!written) {
    throw AccountError(kExitCantWrite,
                       "cannot write " + temp.string() + ": " + std::strerror(saved));
  }
  if (broker) {
    give_to_broker(temp);
  } else {
    ::chmod(temp.c_str(), 0640);
  }
  std::error_code ec;
  std::filesystem::rename(temp, file, ec);
  if (ec) {
    throw AccountError(kExitCantWrite, "cannot replace " + file.string() + ": " + ec.message());
  }
  if (const int dir = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(),
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

Musician& find(std::vector<Musician>& musicians, std::string_view name) {
  for (Musician& m : musicians) {
    if (m.name == name) return m;
  }
  throw AccountError(kExitConflict, "no user '" + std::string(name) + "'");
}

void require_name(std::string_view name) {
  if (!valid_user_name(name)) {
    throw AccountError(kExitUsage, "invalid user name '" + std::string(name) +
                                       "': 1..32 characters of a-z 0-9 _ -, starting with a "
                                       "letter, not admin");
  }
}

void require_box(std::string_view box) {
  if (!valid_box_key(box)) {
    throw AccountError(kExitUsage, "invalid player key '" + std::string(box) +
                                       "': 1..128 characters, none of / + # space");
  }
}

void require_password(const std::string& password) {
  if (const std::string why = password_problem(password); !why.empty()) {
    throw AccountError(kExitUsage, why);
  }
}

// An exclusive lock on <dir>/web-users.lock for the whole change: two admins adding users at
// once must not lose one of them.
class Lock {
 public:
  explicit Lock(const std::filesystem::path& file)
      : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ < 0) {
      throw AccountError(kExitCantWrite,
                         "cannot open " + file.string() + ": " + std::strerror(errno));
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        throw AccountError(kExitCantWrite, "cannot lock " + file.string());
      }
    }
  }
  ~Lock() { ::close(fd_); }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  int fd_;
};

}  // namespace

Accounts::Accounts(Paths paths) : paths_(std::move(paths)) {}

std::vector<Musician> Accounts::list() const {
  return parse_store(paths_.store(), read_file(paths_.store()));
}

template <typename Change>
void Accounts::change(Change&& apply) {
  std::error_code ec;
  std::filesystem::create_directories(paths_.dir, ec);
  const Lock lock(paths_.dir / "web-users.lock");
  std::vector<Musician> musicians = list();
  if (!std::filesystem::exists(paths_.passwd())) write_atomically(paths_.passwd(), "", true);
  apply(musicians);
  std::sort(musicians.begin(), musicians.end(),
            [](const Musician& a, const Musician& b) { return a.name < b.name; });
  write_atomically(paths_.acl(), acl_text(musicians, paths_.prefix), true);
  write_atomically(paths_.store(), store_text(musicians), false);
  give_to_broker(paths_.passwd());
  reload_problem_ = detail::reload_broker(paths_.broker_pid_file);
}

void Accounts::add(const Musician& musician, const std::string& password) {
  require_name(musician.name);
  for (const std::string& box : musician.boxes) require_box(box);
  require_password(password);
  change([&](std::vector<Musician>& musicians) {
    for (const Musician& m : musicians) {
      if (m.name == musician.name) {
        throw AccountError(kExitConflict, "user '" + musician.name + "' exists already");
      }
    }
    detail::run_passwd_tool(paths_.passwd_tool, paths_.passwd(), musician.name, password);
    musicians.push_back(musician);
  });
}

void Accounts::grant(std::string_view name, std::string_view box) {
  require_name(name);
  require_box(box);
  change([&](std::vector<Musician>& musicians) { find(musicians, name).boxes.emplace(box); });
}

void Accounts::revoke(std::string_view name, std::string_view box) {
  require_name(name);
  require_box(box);
  change([&](std::vector<Musician>& musicians) {
    Musician& m = find(musicians, name);
    if (m.boxes.erase(std::string(box)) == 0) {
      throw AccountError(kExitConflict,
                         "user '" + std::string(name) + "' has no grant for " + std::string(box));
    }
  });
}

void Accounts::remove(std::string_view name) {
  require_name(name);
  change([&](std::vector<Musician>& musicians) {
    static_cast<void>(find(musicians, name));
    detail::run_passwd_tool(paths_.passwd_tool, paths_.passwd(), name, {});
    std::erase_if(musicians, [&](const Musician& m) { return m.name == name; });
  });
}

void Accounts::set_password(std::string_view name, const std::string& password) {
  require_name(name);
  require_password(password);
  change([&](std::vector<Musician>& musicians) {
    static_cast<void>(find(musicians, name));
    detail::run_passwd_tool(paths_.passwd_tool, paths_.passwd(), name, password);
  });
}

}  // namespace jambox::accounts
