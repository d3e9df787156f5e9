#include <jambox/test/eventually.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/musician_accounts.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/test/text.hpp>

#include <catch2/catch.hpp>

#include <utility>

namespace jambox::test {

AccountsCtl::AccountsCtl(const TempDir& dir, std::filesystem::path web_dir,
                         std::filesystem::path broker_pid_file, std::chrono::milliseconds wait)
    : dir_(dir), web_dir_(std::move(web_dir)), pid_file_(std::move(broker_pid_file)), wait_(wait) {}

Finished AccountsCtl::user(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"--web-dir", web_dir_.string(), "--broker-pid-file",
                                  pid_file_.string(), "user"};
  all.insert(all.end(), args.begin(), args.end());
  const auto process =
      spawn_built(dir_.path(), "jamboxctl", std::move(all), unique_output_name("jamboxctl"));
  return finish_within(*process, wait_);
}

std::string AccountsCtl::password_file(const std::string& password) const {
  return dir_.write_file(unique_output_name("password"), password + "\n").string();
}

MusicianAccounts::MusicianAccounts(const TempDir& dir, const MosquittoBroker& broker,
                                   std::chrono::milliseconds wait)
    : dir_(dir), broker_(broker), wait_(wait), ctl_(dir, broker.web_dir(), pid_file(), wait) {
  dir_.write_file(pid_file().filename().string(), std::to_string(broker_.pid()) + "\n");
}

std::filesystem::path MusicianAccounts::pid_file() const {
  return dir_.path() / "mosquitto.pid";
}

std::size_t MusicianAccounts::reloads() const {
  return occurrences(broker_.log(), "Reloading config.");
}

void MusicianAccounts::change(const std::vector<std::string>& args) const {
  const std::size_t before = reloads();
  const Finished done = ctl_.user(args);
  INFO("jamboxctl user " << args.at(0) << ":\n" << done.output);
  REQUIRE_FALSE(done.failed());
  const bool reloaded = eventually([&] { return reloads() > before; }, wait_);
  INFO("broker log:\n" << broker_.log());
  REQUIRE(reloaded);
}

void MusicianAccounts::add(const std::string& user, const std::string& password,
                           const std::vector<std::string>& options) const {
  std::vector<std::string> args = {"add", user};
  args.insert(args.end(), options.begin(), options.end());
  args.insert(args.end(), {"--password-file", ctl_.password_file(password)});
  change(args);
}

}  // namespace jambox::test
