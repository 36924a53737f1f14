// The options every plugin that POSTs to a receiver shares (notifier_webhook, notifier_slack,
// notifier_sms, notifier_events, notifier_alertmanager): timeout, connect_timeout, ca_file,
// client_cert, client_key, insecure_skip_verify, proxy. Declared by add_request_options() at the
// end of the plugin's VIGIL_PLUGIN table and read into a Request by read_request_options(), so
// every notifier accepts the same spelling with the same defaults. Header-only, because this
// library does not depend on the SDK; plugins that include it already do.
#pragma once

#include <vigil/sdk.hpp>

#include "vigil_plugin_http/client.hpp"

namespace vigil::plugin_http {

// Adds the shared options to a plugin builder (vigil::notifier<T>(...) and its options).
template <class Builder>
Builder add_request_options(Builder builder) {
  builder.option("timeout", Duration, "10s", "total time for one request")
      .option("connect_timeout", Duration, "5s", "time to connect (and TLS)")
      .option("ca_file", String, "", "PEM bundle to trust instead of the system's")
      .option("client_cert", String, "", "PEM client certificate, when the receiver asks")
      .option("client_key", String, "", "PEM private key of client_cert")
      .option("insecure_skip_verify", Bool, "false",
              "do not verify the receiver's certificate (tests only)")
      .option("proxy", String, "", "proxy URL such as http://proxy:3128");
  return builder;
}

// Reads the shared options into `request`; the rest of it (method, URL, headers) is the
// plugin's.
inline void read_request_options(const Config& config, Request& request) {
  request.timeout = config.duration("timeout");
  request.connect_timeout = config.duration("connect_timeout");
  request.ca_file = config.string("ca_file");
  request.client_cert = config.string("client_cert");
  request.client_key = config.string("client_key");
  request.insecure_skip_verify = config.boolean("insecure_skip_verify");
  request.proxy = config.string("proxy");
}

}  // namespace vigil::plugin_http
