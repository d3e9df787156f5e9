// The start-up check of the box's TLS identity, against certificates made by the project's own
// PKI script (packaging/make-pki.sh): each way a box can be misconfigured gets its own message.
#include <jambox/control/identity.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using jambox::control::check_identity;
using jambox::control::IdentityError;
using jambox::control::TlsFiles;

namespace {

// One PKI for the whole test program (making keys is the slow part), removed at exit.
struct Pki {
  fs::path root;
  fs::path dir;
  Pki() {
    char pattern[] = "/tmp/jambox-identity-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    root = made;
    dir = root / "pki";
    const char* source = std::getenv("JAMBOX_SOURCE_DIR");
    REQUIRE(source != nullptr);
    const std::string command = std::string(source) + "/packaging/make-pki.sh " + dir.string() +
                                " --player box-1 --player box-2 --test-extras >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
  }
  ~Pki() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;
};

const fs::path& pki() {
  static const Pki made;
  return made.dir;
}

TlsFiles files(const std::string& cert, const std::string& key) {
  return {pki() / "ca.crt", pki() / (cert + ".crt"), pki() / (key + ".key")};
}

std::string refusal(const TlsFiles& f, const std::string& cn,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
  try {
    static_cast<void>(check_identity(f, cn, now));
  } catch (const IdentityError& e) {
    return e.what();
  }
  return {};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a good identity passes and tells its expiry", "[control][identity]") {
  const auto now = std::chrono::system_clock::now();
  const auto id = check_identity(files("box-1", "box-1"), "box-1", now);
  CHECK(id.common_name == "box-1");
  CHECK(id.clock_plausible);
  CHECK(id.days_left(now) >= 363);
  CHECK(id.days_left(now) <= 366);
}

TEST_CASE("each misconfiguration is refused with a message that says what to fix",
          "[control][identity]") {
  SECTION("CN is not the player key") {
    const std::string why = refusal(files("box-1", "box-1"), "box-2");
    CHECK(has(why, "CN 'box-1'"));
    CHECK(has(why, "'box-2'"));
  }
  SECTION("key of another certificate") {
    CHECK(has(refusal(files("box-1", "box-2"), "box-1"), "does not belong to certificate"));
  }
  SECTION("expired") {
    const std::string why = refusal(files("expired", "expired"), "expired-player");
    CHECK(has(why, "expired on"));
    CHECK(has(why, "expired.crt"));
  }
  SECTION("signed by another CA") {
    CHECK(has(refusal(files("rogue", "rogue"), "rogue-player"), "is not signed by the CA"));
  }
  SECTION("key readable by others") {
    const std::string why = refusal(files("loose", "loose"), "loose-player");
    CHECK(has(why, "mode 0644"));
    CHECK(has(why, "chmod 600"));
  }
  SECTION("missing file") {
    TlsFiles f = files("box-1", "box-1");
    f.cert = pki() / "nope.crt";
    CHECK(has(refusal(f, "box-1"), "cannot read"));
  }
  SECTION("not a certificate") {
    TlsFiles f = files("box-1", "box-1");
    f.cert = f.key;
    CHECK(has(refusal(f, "box-1"), "not a PEM certificate"));
  }
}

TEST_CASE("before the clock is set, expiry is not judged but reported as unknown",
          "[control][identity]") {
  // A Pi without a real-time clock boots in 1970 until NTP has synchronised.
  const auto boot = std::chrono::system_clock::from_time_t(86400);
  const auto id = check_identity(files("expired", "expired"), "expired-player", boot);
  CHECK_FALSE(id.clock_plausible);
  // Everything that does not depend on the time is still checked.
  CHECK_FALSE(refusal(files("rogue", "rogue"), "rogue-player", boot).empty());
}
