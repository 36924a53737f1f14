// An SMS gateway on loopback for notifier_sms's tests, in the manner of Twilio's Messages API:
// it records every request and answers each recipient as the test told it (201 with a message
// resource by default; any status, with a Retry-After, for one recipient), so a test can make
// one recipient fail while another succeeds behind the one URL the plugin posts to.
//
// A test fixture: it must never listen beyond 127.0.0.1, and never outlive the test that made it
// (the destructor stops its threads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vigil::testing {

// One request as the gateway saw it.
struct GatewayRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string recipient;                       // the to_field's value (form or JSON)
};

// "a=1&b=x+y" as (name, value) pairs in order, '+' and %XX decoded.
std::vector<std::pair<std::string, std::string>> parse_form(const std::string& body);

// Thread-safety: the public functions may be called from any thread.
class SmsGateway {
 public:
  // `to_field`: the field naming the recipient in request bodies.
  explicit SmsGateway(std::string to_field = "To");
  ~SmsGateway();
  SmsGateway(const SmsGateway&) = delete;
  SmsGateway& operator=(const SmsGateway&) = delete;

  // http://127.0.0.1:<port><path>
  std::string url(const std::string& path = "/2010-04-01/Accounts/AC0001/Messages.json") const;
  // From now on, requests for `recipient` get `status` (with Retry-After when `retry_after` is
  // not empty) and the body {"code": <status>, "message": "refused by the test"}; a 2xx status
  // goes back to the default answer.
  void answer(const std::string& recipient, int status, const std::string& retry_after = "");
  // Every request so far, oldest first.
  std::vector<GatewayRequest> requests() const;
  // The recipients of those requests, in order.
  std::vector<std::string> recipients() const;
  void clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::testing
