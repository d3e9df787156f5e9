#include "jambox/jack/supervisor.hpp"

#include "jambox/log/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace jambox::jack {
namespace {

// The helper thread's queue. Shared with the thread itself so that a thread stuck in libjack
// can be abandoned at destruction without touching freed memory.
struct WorkQueue {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> tasks;
  bool quit = false;
  bool finished = false;
};

void run_queue(const std::shared_ptr<WorkQueue>& queue) {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(queue->mutex);
      queue->wake.wait(lock, [&] { return queue->quit || !queue->tasks.empty(); });
      if (queue->tasks.empty()) break;  // quit, and nothing left to close
      task = std::move(queue->tasks.front());
      queue->tasks.pop_front();
    }
    task();
  }
  std::lock_guard lock(queue->mutex);
  queue->finished = true;
  queue->wake.notify_all();
}

// What the helper thread needs to hand results back: the loop (null once the supervisor is
// gone) and the attempt generation (bumped by stop(), so stale results are discarded).
struct Gate {
  std::mutex mutex;
  boost::asio::io_context* io = nullptr;
  std::uint64_t generation = 0;
};

struct OpenResult {
  std::shared_ptr<Client> client;
  ConnectReport ports;
  std::optional<Error> failure;
};

std::string seconds_text(std::chrono::milliseconds delay) {
  return fmt::format("{:.1f} s", static_cast<double>(delay.count()) / 1000.0);
}

}  // namespace

std::string_view state_name(State state) noexcept {
  switch (state) {
    case State::stopped:
      return "stopped";
    case State::waiting:
      return "waiting for JACK";
    case State::connected:
      return "connected";
    case State::refused:
      return "refused by JACK";
  }
  return "unknown";
}

struct Supervisor::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::io_context& io_context, ClientConfig cfg, AudioProcessor& proc,
       SupervisorEvents ev, SupervisorOptions opts)
      : io(io_context),
        config(std::move(cfg)),
        processor(proc),
        events(std::move(ev)),
        options(opts),
        retry_timer(io_context),
        poll_timer(io_context),
        backoff(opts.initial_backoff, opts.max_backoff),
        gate(std::make_shared<Gate>()),
        queue(std::make_shared<WorkQueue>()) {
    gate->io = &io;
    server = effective_server_name(config.server_name, std::getenv("JACK_DEFAULT_SERVER"));
    worker = std::thread([q = queue] { run_queue(q); });
  }

  void submit(std::function<void()> task) {
    std::lock_guard lock(queue->mutex);
    queue->tasks.push_back(std::move(task));
    queue->wake.notify_one();
  }

  // Hands a client to the helper thread to be closed there (jack_client_close can block too).
  void close_later(std::shared_ptr<Client> dead) {
    if (dead == nullptr) return;
    submit([c = std::move(dead)]() mutable { c.reset(); });
  }

  void start() {
    if (state != State::stopped) return;
    state = State::waiting;
    backoff.reset();
    attempt();
  }

  void stop() {
    if (state == State::stopped) return;
    state = State::stopped;
    retry_timer.cancel();
    poll_timer.cancel();
    {
      std::lock_guard lock(gate->mutex);
      ++gate->generation;
    }
    attempt_in_flight = false;
    if (client != nullptr) {
      account(*client);
      close_later(std::move(client));
      client.reset();
      log::info("JACK client closed");
    }
  }

  // Adds a finished client's counters to the totals.
  void account(const Client& c) {
    xruns_before += c.xruns();
    cycles_before += c.cycles();
  }

  void attempt() {
    if (state == State::stopped || attempt_in_flight) return;
    attempt_in_flight = true;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(gate->mutex);
      generation = gate->generation;
    }
    submit([g = gate, weak = weak_from_this(), cfg = config, proc = &processor, generation] {
      const auto current = [&] {
        std::lock_guard lock(g->mutex);
        return g->generation == generation && g->io != nullptr;
      };
      if (!current()) return;
      OpenResult result;
      try {
        result.client = std::make_shared<Client>(cfg, *proc);
        // Not activated when the supervisor stopped meanwhile: no process() call may reach a
        // processor whose owner is shutting down.
        if (!current()) return;
        result.ports = result.client->start();
      } catch (const Error& e) {
        result.client.reset();
        result.failure = e;
      } catch (const std::exception& e) {
        result.client.reset();
        result.failure = Error(ErrorKind::setup_failed, e.what());
      }
      std::lock_guard lock(g->mutex);
      if (g->io == nullptr) return;  // supervisor destroyed: the client closes right here
      boost::asio::post(*g->io, [weak, generation, r = std::move(result)]() mutable {
        if (auto self = weak.lock()) self->on_open_result(generation, std::move(r));
      });
    });
  }

  void on_open_result(std::uint64_t generation, OpenResult result) {
    bool stale = false;
    {
      std::lock_guard lock(gate->mutex);
      stale = generation != gate->generation;
    }
    if (stale || state == State::stopped) {
      close_later(std::move(result.client));
      return;
    }
    attempt_in_flight = false;
    if (result.failure) {
      on_failure(*result.failure);
      return;
    }
    client = std::move(result.client);
    state = State::connected;
    backoff.reset();
    ++connects;
    failures_in_row = 0;
    last_failure_logged.clear();
    reported_period = client->period();

    ConnectionInfo info;
    info.server = client->server();
    info.client = client->name();
    info.sample_rate = client->sample_rate();
    info.period = client->period();
    info.realtime = client->realtime();
    info.realtime_priority = client->realtime_priority();
    info.ports = std::move(result.ports);
    log::notice("connected to JACK server '{}' as '{}': {} Hz, {} frames per period ({:.2f} ms)",
                info.server, info.client, info.sample_rate, info.period,
                period_ms(info.period, info.sample_rate));
    if (info.realtime) {
      log::info("JACK runs the audio thread with real-time priority {}", info.realtime_priority);
    } else {
      log::warning(
          "JACK runs without real-time scheduling, so audio will drop out under load: start "
          "jackd with -R and allow its user real-time priority (LimitRTPRIO)");
    }
    if (events.connected) events.connected(info);
    schedule_poll();
  }

  void on_failure(const Error& error) {
    const bool refused = error.kind() == ErrorKind::unsupported_rate ||
                         error.kind() == ErrorKind::unsupported_period ||
                         error.kind() == ErrorKind::name_taken;
    state = refused ? State::refused : State::waiting;
    last_error = error.what();
    ++failed_attempts;
    ++failures_in_row;
    const auto delay = backoff.next();
    // Say it once in plain words; repeats of the same problem every few seconds would bury the
    // journal, so they go to debug until the problem changes.
    if (last_error != last_failure_logged) {
      const std::string line = fmt::format("{}; {} keeps running and tries again in {}", last_error,
                                           config.client_name, seconds_text(delay));
      if (refused) {
        log::error("{}", line);
      } else {
        log::warning("{}", line);
      }
      last_failure_logged = last_error;
    } else {
      log::debug("still {} (attempt {}): {}; next try in {}", state_name(state), failures_in_row,
                 last_error, seconds_text(delay));
    }
    schedule_retry(delay);
  }

  void schedule_retry(std::chrono::milliseconds delay) {
    retry_timer.expires_after(delay);
    retry_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->attempt();
    });
  }

  void schedule_poll() {
    poll_timer.expires_after(options.poll_interval);
    poll_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->poll();
    });
  }

  void poll() {
    if (state != State::connected || client == nullptr) return;
    if (client->server_gone()) {
      lose(fmt::format("JACK server '{}' went away (stopped or crashed); audio is off until it "
                       "is back",
                       server),
           State::waiting);
      return;
    }
    if (auto problem = check_sample_rate(client->sample_rate(), server, client->name())) {
      lose(*problem, State::refused);
      return;
    }
    const std::uint32_t period = client->period();
    if (period != reported_period) {
      if (auto problem = check_period(period, server, client->name())) {
        lose(*problem, State::refused);
        return;
      }
      log::notice("JACK period changed from {} to {} frames ({:.2f} ms)", reported_period, period,
                  period_ms(period));
      const std::uint32_t old_period = std::exchange(reported_period, period);
      if (events.period_changed) events.period_changed(old_period, period);
      if (state != State::connected) return;  // the owner stopped us from the event
    }
    schedule_poll();
  }

  void lose(const std::string& reason, State next) {
    account(*client);
    close_later(std::move(client));
    client.reset();
    state = next;
    ++disconnects;
    last_error = reason;
    last_failure_logged = reason;
    const auto delay = backoff.next();
    const std::string line = fmt::format("{}; {} keeps running and reconnects in {}", reason,
                                         config.client_name, seconds_text(delay));
    if (next == State::refused) {
      log::error("{}", line);
    } else {
      log::warning("{}", line);
    }
    if (events.disconnected) events.disconnected(reason);
    if (state == next) schedule_retry(delay);
  }

  SupervisorStatus status() const {
    SupervisorStatus s;
    s.state = state;
    s.server = server;
    s.xruns = xruns_before;
    s.cycles = cycles_before;
    if (client != nullptr) {
      s.sample_rate = client->sample_rate();
      s.period = client->period();
      s.realtime = client->realtime();
      s.realtime_priority = client->realtime_priority();
      s.xruns += client->xruns();
      s.cycles += client->cycles();
    }
    s.connects = connects;
    s.disconnects = disconnects;
    s.failed_attempts = failed_attempts;
    s.last_error = last_error;
    return s;
  }

  // Ends the helper thread: closes whatever is queued, then joins it; a thread stuck in libjack
  // beyond the timeout is abandoned (it only holds shared state, never this object).
  void shut_down_worker() {
    {
      std::lock_guard lock(gate->mutex);
      gate->io = nullptr;
      ++gate->generation;
    }
    std::unique_lock lock(queue->mutex);
    queue->quit = true;
    queue->wake.notify_all();
    const bool done =
        queue->wake.wait_for(lock, options.stop_timeout, [&] { return queue->finished; });
    lock.unlock();
    if (done) {
      worker.join();
    } else {
      log::warning("JACK server '{}' does not answer; leaving without closing the client", server);
      worker.detach();
    }
  }

  boost::asio::io_context& io;
  ClientConfig config;
  AudioProcessor& processor;
  SupervisorEvents events;
  SupervisorOptions options;
  boost::asio::steady_timer retry_timer;
  boost::asio::steady_timer poll_timer;
  Backoff backoff;
  std::shared_ptr<Gate> gate;
  std::shared_ptr<WorkQueue> queue;
  std::thread worker;

  std::string server;
  std::shared_ptr<Client> client;
  State state = State::stopped;
  bool attempt_in_flight = false;
  std::uint32_t reported_period = 0;
  std::uint64_t xruns_before = 0;
  std::uint64_t cycles_before = 0;
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t failed_attempts = 0;
  unsigned failures_in_row = 0;
  std::string last_error;
  std::string last_failure_logged;
};

Supervisor::Supervisor(boost::asio::io_context& io, ClientConfig config, AudioProcessor& processor,
                       SupervisorEvents events, SupervisorOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(config), processor, std::move(events), options)) {}

Supervisor::~Supervisor() {
  try {
    impl_->stop();
    impl_->shut_down_worker();
  } catch (...) {
    // Logging or joining failed; nothing sensible is left to do while shutting down.
    if (impl_->worker.joinable()) impl_->worker.detach();
  }
}

void Supervisor::start() {
  impl_->start();
}
void Supervisor::stop() {
  impl_->stop();
}
State Supervisor::state() const noexcept {
  return impl_->state;
}
SupervisorStatus Supervisor::status() const {
  return impl_->status();
}

}  // namespace jambox::jack
