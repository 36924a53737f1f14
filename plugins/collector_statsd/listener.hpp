// The sockets StatsD clients send to: one UDP socket and, optionally, one TCP listening socket
// with its connections, each served by its own thread that hands what arrives to a Sink.
//
// Sockets are bound in open_*() (so a bad address or a port in use fails configure() with the
// reason), threads run from start() until stop() or the destructor. It must never block stop()
// for longer than one poll wake-up, never hold more than max_line bytes of an unfinished TCP line
// per connection, and never parse or aggregate itself: that is the Sink's job.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace vigil::collector_statsd {

// Who sent something: formatted only when a message needs it.
struct Peer {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text() const;  // "127.0.0.1:51234", "[::1]:51234"
};

// Receives what the listener reads, on the listener's threads: UDP calls come from one thread
// and TCP calls from another, so an implementation must be thread-safe across the two.
class Sink {
 public:
  virtual ~Sink() = default;
  // One whole UDP datagram (possibly several '\n'-separated lines).
  virtual void datagram(std::string_view payload, const Peer& peer) = 0;
  // One line of a TCP stream, without its '\n'.
  virtual void tcp_line(std::string_view line, const Peer& peer) = 0;
  // A TCP connection was accepted, or refused because max_connections are open.
  virtual void tcp_connection(bool accepted, const Peer& peer) = 0;
  // A TCP line grew beyond max_line bytes: it is skipped up to its '\n'.
  virtual void tcp_line_too_long(const Peer& peer) = 0;
  // The kernel dropped `count` more datagrams because the UDP receive buffer was full. Learnt
  // from the next datagram that does arrive (SO_RXQ_OVFL), and called before it is handed over.
  virtual void udp_overflow(std::uint64_t count) = 0;
};

// "host:port" split; "[v6]:port" for IPv6; an empty host means every IPv4 interface.
bool split_address(std::string_view text, std::string& host, std::string& port, std::string& error);

// Thread-safety: open_*(), start() and stop() from one thread (the plugin's configure() and
// destructor); the accessors from any thread once open.
class Listener {
 public:
  static constexpr std::size_t kMaxDatagram = 65535;

  explicit Listener(Sink& sink) : sink_(sink) {}
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds the UDP socket to `address` ("127.0.0.1:8125"; port 0 picks a free one), with a
  // receive buffer of `read_buffer` bytes (0: the kernel's default). On failure returns false
  // and says why in `error`.
  bool open_udp(const std::string& address, std::size_t read_buffer, std::string& error);
  // Binds and listens on TCP `address`; at most `max_connections` at once, lines of at most
  // `max_line` bytes.
  bool open_tcp(const std::string& address, std::size_t max_connections, std::size_t max_line,
                std::string& error);
  // The bound port (the real one when 0 was asked for), or 0 when that transport is off.
  int udp_port() const { return udp_port_; }
  int tcp_port() const { return tcp_port_; }
  // "127.0.0.1:40123" as bound, or "" when off.
  const std::string& udp_bound() const { return udp_bound_; }
  const std::string& tcp_bound() const { return tcp_bound_; }

  // Starts the threads of the open sockets. False with `error` when a thread cannot start.
  bool start(std::string& error);
  // Wakes and joins the threads, closes every socket. Idempotent.
  void stop();

 private:
  void run_udp();
  void run_tcp();

  Sink& sink_;
  int udp_fd_ = -1, tcp_fd_ = -1, wake_fd_ = -1;
  int udp_port_ = 0, tcp_port_ = 0;
  std::string udp_bound_, tcp_bound_;
  std::size_t max_connections_ = 0, max_line_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread udp_thread_, tcp_thread_;
};

}  // namespace vigil::collector_statsd
