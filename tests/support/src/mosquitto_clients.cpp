#include <jambox/test/binaries.hpp>
#include <jambox/test/eventually.hpp>
#include <jambox/test/mosquitto_clients.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <utility>

namespace jambox::test {
namespace {

// `text` as one word for /bin/sh.
std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

Finished run_to_end(ProcessOptions options, std::chrono::milliseconds timeout) {
  Process process(std::move(options));
  return finish_within(process, timeout);
}

}  // namespace

Login web_login(const MosquittoBroker& broker, const std::string& user,
                const std::string& password) {
  return {"--unix", broker.web_socket().string(), "-V", "mqttv5", "-u", user, "-P", password};
}

Login anonymous_web_login(const MosquittoBroker& broker) {
  return {"--unix", broker.web_socket().string(), "-V", "mqttv5"};
}

Subscriber::Subscriber(const TempDir& dir, std::string_view name, const Login& login,
                       const std::vector<std::string>& filters, const SubscriberOptions& options)
    : wait_(options.wait) {
  ProcessOptions process;
  process.program = installed_program("stdbuf");
  process.args = {"-oL",
                  installed_program("mosquitto_sub").string(),
                  "-d",
                  "-F",
                  options.payloads ? "MSG %t %l %p" : "MSG %t %l",
                  "-W",
                  std::to_string(options.lifetime.count())};
  process.args.insert(process.args.end(), login.begin(), login.end());
  if (!options.client_id.empty())
    process.args.insert(process.args.end(), {"-i", options.client_id});
  for (const std::string& filter : filters) process.args.insert(process.args.end(), {"-t", filter});
  process.output_dir = dir.path();
  process.name = unique_output_name("sub-" + std::string(name));
  process_ = std::make_unique<Process>(std::move(process));
}

Subscriber::Subscriber(const MosquittoBroker& broker, const TempDir& dir, std::string_view identity,
                       const std::vector<std::string>& filters, const SubscriberOptions& options)
    : Subscriber(dir, identity, broker.client_args(identity), filters, options) {}

bool Subscriber::wait_subscribed() const {
  return eventually([&] { return output().find("Subscribed (mid:") != std::string::npos; }, wait_);
}

std::vector<Message> Subscriber::messages() const {
  std::vector<Message> result;
  std::istringstream lines(process_->stdout_text());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("MSG ", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    Message message;
    if (!(fields >> message.topic >> message.length)) continue;  // a line still being written
    fields.get();                                                // the space before the payload
    std::getline(fields, message.payload);
    result.push_back(std::move(message));
  }
  return result;
}

std::size_t Subscriber::count(std::string_view payload) const {
  const auto all = messages();
  return static_cast<std::size_t>(std::count_if(
      all.begin(), all.end(), [&](const Message& m) { return m.payload == payload; }));
}

std::size_t Subscriber::count_on(const std::string& topic) const {
  const auto all = messages();
  return static_cast<std::size_t>(
      std::count_if(all.begin(), all.end(), [&](const Message& m) { return m.topic == topic; }));
}

std::size_t Subscriber::count_with(const std::string& topic, std::string_view part) const {
  const auto all = messages();
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const Message& m) {
    return m.topic == topic && m.payload.find(part) != std::string::npos;
  }));
}

bool Subscriber::received(const std::string& topic, std::string_view payload) const {
  const auto all = messages();
  return std::any_of(all.begin(), all.end(),
                     [&](const Message& m) { return m.topic == topic && m.payload == payload; });
}

bool Subscriber::wait_for(const std::string& topic, std::string_view payload) const {
  return eventually([&] { return received(topic, payload); }, wait_);
}

bool Subscriber::wait_for_count(std::string_view payload, std::size_t n) const {
  return eventually([&] { return count(payload) >= n; }, wait_);
}

std::vector<nlohmann::json> Subscriber::documents(const std::string& topic) const {
  std::vector<nlohmann::json> result;
  for (const Message& message : messages()) {
    if (message.topic != topic) continue;
    nlohmann::json doc = nlohmann::json::parse(message.payload, nullptr, false);
    if (!doc.is_discarded()) result.push_back(std::move(doc));
  }
  return result;
}

nlohmann::json Subscriber::wait_for_document(
    const std::string& topic, const std::function<bool(const nlohmann::json&)>& accept) const {
  nlohmann::json found;
  eventually(
      [&] {
        for (const nlohmann::json& doc : documents(topic)) {
          if (accept(doc)) {
            found = doc;
            return true;
          }
        }
        return false;
      },
      wait_);
  return found;
}

std::string Subscriber::output() const {
  return process_->stdout_text() + process_->stderr_text();
}

void require_subscribed(const Subscriber& subscriber, const MosquittoBroker& broker) {
  const bool subscribed = subscriber.wait_subscribed();
  INFO("subscriber:\n" << subscriber.output() << "\nbroker log:\n" << broker.log());
  REQUIRE(subscribed);
}

Finished finish_within(Process& process, std::chrono::milliseconds timeout) {
  const auto status = process.wait_for(timeout);
  INFO(process.stderr_path().filename().string() << " output:\n"
                                                 << process.stdout_text() << process.stderr_text());
  REQUIRE(status);
  return {*status, process.stdout_text() + process.stderr_text()};
}

Finished run_installed(const TempDir& dir, std::string_view program, std::vector<std::string> args,
                       std::chrono::milliseconds timeout) {
  ProcessOptions options;
  options.program = installed_program(program);
  options.args = std::move(args);
  options.output_dir = dir.path();
  options.name = unique_output_name(program);
  return run_to_end(std::move(options), timeout);
}

Finished publish(const TempDir& dir, const Login& login, const std::string& topic,
                 std::string_view payload, std::chrono::milliseconds timeout) {
  std::vector<std::string> args = login;
  args.insert(args.end(), {"-q", "1", "-t", topic, "-m", std::string(payload)});
  return run_installed(dir, "mosquitto_pub", std::move(args), timeout);
}

Finished publish(const MosquittoBroker& broker, const TempDir& dir, std::string_view identity,
                 const std::string& topic, std::string_view payload,
                 std::chrono::milliseconds timeout) {
  return publish(dir, broker.client_args(identity), topic, payload, timeout);
}

Finished publish_lines(const TempDir& dir, const Login& login, const std::string& topic,
                       const std::vector<std::string>& lines, std::chrono::milliseconds timeout) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  const auto file = dir.write_file(unique_output_name("lines"), text);
  // mosquitto_pub -l reads its standard input, which a Process does not have: a shell gives it
  // the file.
  std::string command = "exec " + shell_quoted(installed_program("mosquitto_pub").string());
  for (const std::string& arg : login) command += " " + shell_quoted(arg);
  command += " -q 1 -l -t " + shell_quoted(topic) + " < " + shell_quoted(file.string());
  ProcessOptions options;
  options.program = "/bin/sh";
  options.args = {"-c", command};
  options.output_dir = dir.path();
  options.name = unique_output_name("pub-lines");
  return run_to_end(std::move(options), timeout);
}

bool not_authorized(const Finished& publisher) {
  return publisher.output.find("Not authorized") != std::string::npos;
}

}  // namespace jambox::test
