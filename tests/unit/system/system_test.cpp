#include "jambox/system/notify.hpp"
#include "jambox/system/process.hpp"
#include "jambox/system/thread.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

// A real sd_notify endpoint: an AF_UNIX datagram socket in a private directory, announced
// through NOTIFY_SOCKET while the object lives.
class NotifySocket {
 public:
  NotifySocket() {
    std::string pattern = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    pattern += "/jambox-notify-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, waiting at most `wait`; nullopt when none arrived.
  std::optional<std::string> receive(std::chrono::milliseconds wait = std::chrono::seconds(5)) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(wait.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((wait.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  // Datagrams already queued, without waiting.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) break;
      out.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

void clear_watchdog_env() {
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

void set_watchdog_env(const char* usec, pid_t pid) {
  ::setenv("WATCHDOG_USEC", usec, 1);
  ::setenv("WATCHDOG_PID", std::to_string(pid).c_str(), 1);
}

}  // namespace

using jambox::system::Notifier;
using jambox::system::WatchdogPetter;

TEST_CASE("Notifier is inactive without NOTIFY_SOCKET", "[system]") {
  ::unsetenv("NOTIFY_SOCKET");
  Notifier notifier;
  CHECK_FALSE(notifier.active());
  notifier.ready();  // no-ops, must not fail
  notifier.status("x");
  notifier.watchdog();
}

TEST_CASE("Notifier sends the sd_notify messages to NOTIFY_SOCKET", "[system]") {
  NotifySocket socket;
  Notifier notifier;
  REQUIRE(notifier.active());

  notifier.ready();
  CHECK(socket.receive() == std::optional<std::string>("READY=1"));

  notifier.status("3 rooms, 12 members\nsecond line");
  CHECK(socket.receive() == std::optional<std::string>("STATUS=3 rooms, 12 members second line"));

  const std::uint64_t before = jambox::system::monotonic_us();
  notifier.reloading();
  const std::uint64_t after = jambox::system::monotonic_us();
  const auto reloading = socket.receive();
  REQUIRE(reloading.has_value());
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(reloading->rfind(prefix, 0) == 0);
  const std::uint64_t stamp = std::stoull(reloading->substr(prefix.size()));
  CHECK(stamp >= before);
  CHECK(stamp <= after);

  notifier.watchdog();
  CHECK(socket.receive() == std::optional<std::string>("WATCHDOG=1"));
  notifier.stopping();
  CHECK(socket.receive() == std::optional<std::string>("STOPPING=1"));
}

TEST_CASE("watchdog_interval honours WATCHDOG_USEC only for this process", "[system]") {
  clear_watchdog_env();
  Notifier notifier;
  CHECK_FALSE(notifier.watchdog_interval().has_value());

  set_watchdog_env("20000", ::getpid());
  CHECK(notifier.watchdog_interval() ==
        std::optional<std::chrono::microseconds>(std::chrono::microseconds(20000)));

  set_watchdog_env("20000", ::getpid() + 1);  // meant for another process
  CHECK_FALSE(notifier.watchdog_interval().has_value());

  ::setenv("WATCHDOG_USEC", "20000", 1);  // no WATCHDOG_PID: applies to us
  ::unsetenv("WATCHDOG_PID");
  CHECK(notifier.watchdog_interval().has_value());

  set_watchdog_env("bogus", ::getpid());
  CHECK_FALSE(notifier.watchdog_interval().has_value());
  clear_watchdog_env();
}

TEST_CASE("WatchdogPetter pets from the event loop until stopped", "[system]") {
  NotifySocket socket;
  set_watchdog_env("20000", ::getpid());  // 20 ms -> a pet every 10 ms
  Notifier notifier;
  boost::asio::io_context loop;
  WatchdogPetter petter(loop, notifier);
  petter.start();

  // Run the loop until three pets arrived; the deadline only guards against a hang.
  int pets = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pets < 3 && std::chrono::steady_clock::now() < deadline) {
    loop.run_one_for(std::chrono::milliseconds(100));
    for (const auto& message : socket.drain()) {
      CHECK(message == "WATCHDOG=1");
      ++pets;
    }
  }
  CHECK(pets >= 3);

  petter.stop();
  loop.restart();
  loop.run_for(std::chrono::milliseconds(50));  // several periods: nothing may be sent now
  CHECK(socket.drain().empty());

  // A restarted petter pets again.
  petter.start();
  pets = 0;
  loop.restart();
  while (pets < 2 && std::chrono::steady_clock::now() < deadline) {
    loop.run_one_for(std::chrono::milliseconds(100));
    pets += static_cast<int>(socket.drain().size());
  }
  CHECK(pets >= 2);
  petter.stop();
  clear_watchdog_env();
}

TEST_CASE("WatchdogPetter does nothing without a watchdog", "[system]") {
  NotifySocket socket;
  clear_watchdog_env();
  Notifier notifier;
  boost::asio::io_context loop;
  WatchdogPetter petter(loop, notifier);
  petter.start();
  // No timer was armed, so the loop has no work and returns at once.
  CHECK(loop.run() == 0);
  CHECK(socket.drain().empty());
}

TEST_CASE("stderr_is_journal follows JOURNAL_STREAM", "[system]") {
  struct stat st {};
  REQUIRE(::fstat(STDERR_FILENO, &st) == 0);
  const std::string id = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", id.c_str(), 1);
  const bool matching = jambox::system::stderr_is_journal();
  ::setenv("JOURNAL_STREAM", "1:1", 1);
  const bool other = jambox::system::stderr_is_journal();
  ::unsetenv("JOURNAL_STREAM");
  const bool unset = jambox::system::stderr_is_journal();
  CHECK(matching);
  CHECK_FALSE(other);
  CHECK_FALSE(unset);
}

TEST_CASE("monotonic_us follows CLOCK_MONOTONIC", "[system]") {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto reference = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U +
                         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
  const std::uint64_t a = jambox::system::monotonic_us();
  const std::uint64_t b = jambox::system::monotonic_us();
  CHECK(a >= reference);
  CHECK(b >= a);
}

namespace {
std::chrono::microseconds rusage_cpu() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return std::chrono::duration_cast<std::chrono::microseconds>(us(usage.ru_utime) +
                                                               us(usage.ru_stime));
}

void burn_cpu_until(const std::function<bool()>& done) {
  volatile std::uint64_t sink = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    for (std::uint64_t i = 0; i < 1'000'000; ++i) sink = sink + i * i;
  }
}

// qemu-user answers /proc/self/stat itself, with zero CPU times: what these tests check is the
// kernel's accounting, which only a native run sees.
bool under_emulator() {
  const char* emulator = std::getenv("JAMBOX_TEST_EMULATOR");
  return emulator != nullptr && *emulator != '\0';
}
}  // namespace

TEST_CASE("process_cpu_times of this process grows with busy work", "[system]") {
  if (under_emulator()) {
    WARN("skipped under " << std::getenv("JAMBOX_TEST_EMULATOR")
                          << ": /proc/self/stat is emulated");
    return;
  }
  const auto before = jambox::system::process_cpu_times(::getpid());
  REQUIRE(before.has_value());
  std::optional<jambox::system::CpuTimes> after;
  burn_cpu_until([&] {
    after = jambox::system::process_cpu_times(::getpid());
    return after && after->total() >= before->total() + std::chrono::milliseconds(50);
  });
  REQUIRE(after.has_value());
  CHECK(after->total() > before->total());
  CHECK(after->user >= before->user);
  CHECK(after->total() == after->user + after->system);
}

TEST_CASE("process_cpu_times parses after the last ')' of the command name", "[system]") {
  if (under_emulator()) {
    WARN("skipped under " << std::getenv("JAMBOX_TEST_EMULATOR")
                          << ": /proc/self/stat is emulated");
    return;
  }
  char saved[17] = {};
  REQUIRE(::prctl(PR_GET_NAME, saved) == 0);
  // A name built to fool a parser that splits at the first ')' or on spaces.
  REQUIRE(::prctl(PR_SET_NAME, ") 7 7 (x) 9 9 9") == 0);
  burn_cpu_until([] { return rusage_cpu() >= std::chrono::milliseconds(200); });
  const auto from_proc = jambox::system::process_cpu_times(::getpid());
  const auto from_rusage = rusage_cpu();
  ::prctl(PR_SET_NAME, saved);
  REQUIRE(from_proc.has_value());
  // Both come from the same kernel accounting; /proc rounds down to clock ticks (10 ms at
  // USER_HZ=100), so they agree to well within 100 ms.
  const auto diff = from_rusage - from_proc->total();
  CHECK(diff >= std::chrono::milliseconds(-100));
  CHECK(diff <= std::chrono::milliseconds(100));
}

TEST_CASE("process_rss_kib of this process is positive and follows touched memory", "[system]") {
  const auto before = jambox::system::process_rss_kib(::getpid());
  REQUIRE(before.has_value());
  CHECK(*before > 0);
  // Touch 64 MiB: resident memory must grow by at least half of it.
  constexpr std::size_t kBytes = 64U << 20U;
  std::vector<unsigned char> block(kBytes, 1);
  const auto after = jambox::system::process_rss_kib(::getpid());
  REQUIRE(after.has_value());
  CHECK(*after >= *before + (kBytes / 2) / 1024);
  CHECK(block[kBytes - 1] == 1);
}

TEST_CASE("facts about a process that is gone are nullopt", "[system]") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);  // reaped: /proc/<child> is gone
  CHECK_FALSE(jambox::system::process_cpu_times(child).has_value());
  CHECK_FALSE(jambox::system::process_rss_kib(child).has_value());
  CHECK_FALSE(jambox::system::process_cpu_times(0).has_value());
  CHECK_FALSE(jambox::system::process_cpu_times(-1).has_value());
  CHECK_FALSE(jambox::system::process_rss_kib(-1).has_value());
}

TEST_CASE("make_thread_realtime gives the calling thread SCHED_FIFO or says why not", "[system]") {
  int policy = -1;
  int priority = -1;
  std::error_code ec;
  std::thread worker([&] {
    ec = jambox::system::make_thread_realtime(3);
    sched_param param{};
    ::pthread_getschedparam(::pthread_self(), &policy, &param);
    priority = param.sched_priority;
  });
  worker.join();
  if (ec) {
    // Not allowed here (no CAP_SYS_NICE, RLIMIT_RTPRIO 0): refused, and nothing changed.
    CHECK(ec == std::errc::operation_not_permitted);
    CHECK(policy == SCHED_OTHER);
  } else {
    CHECK(policy == SCHED_FIFO);
    CHECK(priority == 3);
  }
  // The thread that ran the test is untouched.
  sched_param mine{};
  ::pthread_getschedparam(::pthread_self(), &policy, &mine);
  CHECK(policy == SCHED_OTHER);
}
