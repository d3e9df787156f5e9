#include "jambox/jacktest/jack_server.hpp"

#include "jambox/jacktest/server_registry.hpp"
#include <jambox/test/temp_dir.hpp>

#include <jack/jack.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace jambox::jacktest {
namespace {

std::filesystem::path find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::filesystem::path candidate = std::filesystem::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

void quiet_jack_error(const char* /*message*/) {}

jack_client_t* open_probe(const std::string& server, const std::string& name) {
  jack_status_t status{};
  return jack_client_open(name.c_str(),
                          static_cast<jack_options_t>(JackNoStartServer | JackServerName), &status,
                          server.c_str());
}

// A killed jackd leaves its socket and semaphore files in /dev/shm; they carry the server's
// (unique) name, so removing them cannot touch anyone else's server.
void remove_leftovers(const std::string& server) {
  std::error_code error;
  const std::string marker = "_" + server + "_";
  for (auto it = std::filesystem::directory_iterator("/dev/shm", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string file = it->path().filename().string();
    if (file.rfind("jack", 0) == 0 && file.find(marker) != std::string::npos) {
      std::filesystem::remove(it->path(), error);
    }
  }
}

}  // namespace

std::vector<std::string> reclaim_stale_servers(const jambox::test::TempDir& dir) {
  std::vector<std::string> reclaimed;
  const auto servers = read_server_registry();
  if (!servers) return reclaimed;
  for (const RegisteredServer& server : *servers) {
    if (server.uid != ::getuid() || !is_stale(server)) continue;
    try {
      JackServerOptions options;
      options.name = server.name;
      options.ready_timeout = std::chrono::seconds(5);
      JackServer once(dir, options);  // registers (taking the dead server's slot) ...
      once.stop();                    // ... and unregisters on SIGTERM
      reclaimed.push_back(server.name);
    } catch (const std::exception&) {
      // Someone else started that name meanwhile, or jackd cannot run: leave the slot alone.
    }
  }
  return reclaimed;
}

void prepare_jack_environment() {
  ::setenv("JACK_NO_AUDIO_RESERVATION", "1", 1);
  ::setenv("JACK_NO_START_SERVER", "1", 1);
  // libjack prints every failed connection attempt; the tests poll servers that are not up yet.
  jack_set_error_function(quiet_jack_error);
  jack_set_info_function(quiet_jack_error);
}

std::string unique_server_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  std::random_device device;
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1)) + "-" + std::to_string(device() % 100000);
}

JackServer::JackServer(const jambox::test::TempDir& dir, JackServerOptions options)
    : dir_(dir.path()), options_(std::move(options)) {
  if (options_.name.empty()) options_.name = unique_server_name();
  prepare_jack_environment();
  start();
}

JackServer::~JackServer() {
  try {
    if (process_ != nullptr && process_->running()) {
      resume();
      stop();
    }
    // A jackd that died without unregistering keeps one of the 8 server slots of JACK's shared
    // registry (/dev/shm/jack-shm-registry) until a server of the same name starts again: after
    // a few killed test servers no jackd at all could start on this machine. So bring the name
    // up once more and stop it properly.
    if (!clean_exit_) {
      options_.ready_timeout = std::chrono::seconds(5);
      start();
      stop();
    }
  } catch (...) {
    // best effort: the Process destructor still kills what runs
  }
  process_.reset();
  remove_leftovers(options_.name);
}

bool JackServer::running() {
  return process_ != nullptr && process_->running();
}

void JackServer::kill() {
  if (process_ == nullptr) return;
  process_->kill();
  clean_exit_ = false;
}

void JackServer::stop() {
  if (process_ == nullptr) return;
  if (!process_->running()) {
    clean_exit_ = clean_exit_ && process_->status() && process_->status()->exited();
    return;
  }
  process_->signal(SIGTERM);
  const auto status = process_->wait_for(std::chrono::seconds(5));
  if (!status) {
    process_->kill();
    clean_exit_ = false;
    return;
  }
  clean_exit_ = status->exited();
}

void JackServer::pause() {
  if (process_ != nullptr) process_->signal(SIGSTOP);
}

void JackServer::resume() {
  if (process_ != nullptr) process_->signal(SIGCONT);
}

void JackServer::start() {
  if (running()) return;
  const std::filesystem::path jackd = find_in_path("jackd");
  if (jackd.empty()) throw std::runtime_error("jackd is not installed (Debian package jackd2)");

  std::vector<std::string> jackd_args{"-n", options_.name};
  const char* no_rt = std::getenv("JAMBOX_JACK_NO_REALTIME");
  if (no_rt != nullptr && std::string(no_rt) == "1") jackd_args.emplace_back("--no-realtime");
  // Synchronous mode, as jambox-jackd runs the appliance's server: each period waits for every
  // client, so a client that is late on a loaded machine delays the period (an xrun) instead of
  // having it skipped or repeated.
  jackd_args.emplace_back("-S");
  for (const std::string& a :
       {std::string("-d"), std::string("dummy"), std::string("-r"), std::to_string(options_.rate),
        std::string("-p"), std::to_string(options_.period), std::string("-C"), std::string("2"),
        std::string("-P"), std::string("2")}) {
    jackd_args.push_back(a);
  }

  jambox::test::ProcessOptions spawn;
  // setpriv --pdeathsig: the kernel stops jackd when the test process dies, whatever the cause.
  const std::filesystem::path setpriv = find_in_path("setpriv");
  if (!setpriv.empty()) {
    spawn.program = setpriv;
    // TERM rather than KILL: jackd then unregisters from JACK's server registry on the way out.
    spawn.args = {"--pdeathsig", "TERM", jackd.string()};
    spawn.args.insert(spawn.args.end(), jackd_args.begin(), jackd_args.end());
  } else {
    spawn.program = jackd;
    spawn.args = jackd_args;
  }
  spawn.env = {{"JACK_NO_AUDIO_RESERVATION", "1"}, {"JACK_NO_START_SERVER", "1"}};
  spawn.unset_env = {"JACK_DEFAULT_SERVER"};
  spawn.output_dir = dir_;
  spawn.name = "jackd-" + options_.name + "-" + std::to_string(++runs_);
  process_ = std::make_unique<jambox::test::Process>(spawn);
  logs_.push_back(process_->stderr_path());
  clean_exit_ = true;

  const auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  for (;;) {
    if (jack_client_t* probe = open_probe(options_.name, "jbx-ready")) {
      jack_client_close(probe);
      return;
    }
    if (!process_->running()) {
      std::string hint;
      if (log().find("Too many servers already active") != std::string::npos) {
        // Killed servers of earlier runs hold the slots: give them back and try once more
        // (once: the retry and the reclaiming servers themselves do not reclaim again).
        static thread_local bool reclaiming = false;
        if (!reclaiming) {
          reclaiming = true;
          struct Reset {
            ~Reset() { reclaiming = false; }
          } reset;
          const jambox::test::TempDir scratch("jack-reclaim");
          if (!reclaim_stale_servers(scratch).empty()) {
            process_.reset();
            start();
            return;
          }
        }
        hint =
            "\n(all 8 server slots of /dev/shm/jack-shm-registry are taken, often by jackd "
            "processes that were killed: start jackd once under each stale name listed by "
            "'strings /dev/shm/jack-shm-registry' and stop it with SIGTERM)";
      }
      throw std::runtime_error("jackd for '" + options_.name + "' exited (" +
                               process_->status().value_or(jambox::test::ExitStatus{}).describe() +
                               "):\n" + log() + hint);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      process_->kill();
      throw std::runtime_error("jackd for '" + options_.name + "' did not accept clients:\n" +
                               log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string JackServer::log() const {
  std::string text;
  for (const auto& file : logs_) text += jambox::test::read_text_file(file);
  return text;
}

JackProbe::JackProbe(const std::string& server, const std::string& client_name) {
  jack_client_t* c = open_probe(server, client_name);
  if (c == nullptr) throw std::runtime_error("cannot reach JACK server '" + server + "'");
  client_ = c;
}

JackProbe::~JackProbe() {
  if (client_ != nullptr) jack_client_close(static_cast<jack_client_t*>(client_));
}

std::vector<std::string> JackProbe::ports(const std::string& pattern) const {
  std::vector<std::string> result;
  const char** names = jack_get_ports(static_cast<jack_client_t*>(client_),
                                      pattern.empty() ? nullptr : pattern.c_str(), nullptr, 0);
  if (names == nullptr) return result;
  for (const char** p = names; *p != nullptr; ++p) result.emplace_back(*p);
  jack_free(static_cast<void*>(names));
  return result;
}

std::vector<std::string> JackProbe::connections(const std::string& port) const {
  std::vector<std::string> result;
  auto* c = static_cast<jack_client_t*>(client_);
  jack_port_t* p = jack_port_by_name(c, port.c_str());
  if (p == nullptr) return result;
  const char** names = jack_port_get_all_connections(c, p);
  if (names == nullptr) return result;
  for (const char** n = names; *n != nullptr; ++n) result.emplace_back(*n);
  jack_free(static_cast<void*>(names));
  return result;
}

bool JackProbe::connect(const std::string& from, const std::string& to) {
  return jack_connect(static_cast<jack_client_t*>(client_), from.c_str(), to.c_str()) == 0;
}

bool JackProbe::set_period(std::uint32_t frames) {
  return jack_set_buffer_size(static_cast<jack_client_t*>(client_), frames) == 0;
}

std::uint32_t JackProbe::period() const {
  return jack_get_buffer_size(static_cast<jack_client_t*>(client_));
}

std::uint32_t JackProbe::sample_rate() const {
  return jack_get_sample_rate(static_cast<jack_client_t*>(client_));
}

bool JackProbe::realtime() const {
  return jack_is_realtime(static_cast<jack_client_t*>(client_)) != 0;
}

}  // namespace jambox::jacktest
