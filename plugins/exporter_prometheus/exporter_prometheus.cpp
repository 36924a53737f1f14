// exporter_prometheus: serves the store as a Prometheus scrape page on the host's HTTP server.
//
// configure() mounts GET <path>; each request visits the store, renders the text exposition
// format 0.0.4 into a chain of ~64 KiB blocks (exposition.hpp), lets go of the store, then hands
// the blocks to the host one by one, gzip-compressed when the client accepts it (body_writer.hpp)
// with a deflate state reused across requests. Requests run on the host's HTTP workers, possibly
// several at once: the handler touches only state fixed in configure() and the encoder pool. It
// must never hold the store while talking to the client, and never keep working for a client that
// went away.
#include <vigil/sdk.hpp>

#include <string>

#include "body_writer.hpp"
#include "exposition.hpp"

namespace vigil::exporter_prometheus {
namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";
// How many series are rendered between two looks at whether the client is still there.
constexpr std::size_t kCancelCheckEvery = 4096;

// Feeds a store visit into the renderer, stopping when the client leaves.
// Thread-safety: one per request, used on that request's thread.
class PageVisitor final : public StoreVisitor {
 public:
  PageVisitor(Renderer& renderer, const HttpRequest& request)
      : renderer_(renderer), request_(request) {}

  bool family(const vigil_family_view& family) override {
    renderer_.family(family);
    return true;
  }
  bool series(const vigil_family_view& family, const vigil_series_view& series) override {
    renderer_.series(family, series);
    if (++since_check_ == kCancelCheckEvery) {
      since_check_ = 0;
      if (request_.cancelled()) {
        cancelled_ = true;
        return false;
      }
    }
    return true;
  }
  bool cancelled() const { return cancelled_; }

 private:
  Renderer& renderer_;
  const HttpRequest& request_;
  std::size_t since_check_ = 0;
  bool cancelled_ = false;
};

}  // namespace

// One instance per configured "exporter_prometheus" entry.
// Thread-safety: serve() runs on several HTTP workers at once; it reads options fixed in
// configure() and borrows encoders from the (thread-safe) pool.
class PrometheusExporter final : public Exporter {
 public:
  Status configure(const Config& config) override {
    path_ = config.string("path");
    if (path_.empty() || path_.front() != '/') {
      return Status::invalid_argument("option \"path\" is \"" + path_ +
                                      "\"; expected an absolute URL path such as \"/metrics\"");
    }
    if (path_.find('?') != std::string::npos || path_.find('#') != std::string::npos) {
      return Status::invalid_argument("option \"path\" is \"" + path_ +
                                      "\"; expected a plain path without '?' or '#'");
    }
    options_.force_timestamps = config.boolean("timestamps");
    gzip_ = config.boolean("gzip");
    int64_t level = config.integer("gzip_level");
    if (level < 0 || level > 9) {
      return Status::invalid_argument("option \"gzip_level\" is " + std::to_string(level) +
                                      "; expected 0 (store only) to 9 (smallest output)");
    }
    gzip_level_ = static_cast<int>(level);
    host().mount("GET", path_, [this](const HttpRequest& request, HttpResponse& response) {
      return serve(request, response);
    });
    return Status::ok();
  }

 private:
  Status serve(const HttpRequest& request, HttpResponse& response) {
    // Blocks of one HTTP write each: rendering never copies what it wrote, and each block is
    // freed as soon as it was handed over, so the page is never held twice.
    OutputBuffer page(kChunkSize);
    Renderer renderer(page, options_);
    PageVisitor visitor(renderer, request);
    Status visited = host().visit(visitor);
    if (!visited.is_ok()) return visited;
    if (visitor.cancelled()) {
      return Status::cancelled("the client went away while the page was rendered (" +
                               std::to_string(renderer.series_rendered()) + " series done)");
    }

    bool gzip = false;
    if (gzip_) {
      auto accept = request.header("Accept-Encoding");
      gzip = accept && accepts_gzip(*accept);
    }
    response.status(200);
    response.header("Content-Type", kContentType);
    response.header("Vary", "Accept-Encoding");
    if (gzip) response.header("Content-Encoding", "gzip");

    std::size_t sent = 0;
    auto sink = [&](std::string_view chunk) {
      if (request.cancelled() || !response.write(chunk)) return false;
      sent += chunk.size();
      return true;
    };
    std::string error;
    BodyResult result = BodyResult::complete;
    if (gzip) {
      GzipPool::Lease encoder = gzip_pool_.take();
      if (!encoder->begin(gzip_level_, kChunkSize, error)) return Status::internal(error);
      page.consume([&](std::string_view block, bool last) {
        result = encoder->write(block, last, sink, error);
        return result == BodyResult::complete;
      });
    } else {
      page.consume([&](std::string_view block, bool) {
        result = write_plain(block, kChunkSize, sink);
        return result == BodyResult::complete;
      });
    }
    switch (result) {
      case BodyResult::complete:
        return Status::ok();
      case BodyResult::stopped:
        return Status::cancelled("the client went away after " + std::to_string(sent) +
                                 " bytes of the page");
      case BodyResult::failed:
        break;
    }
    return Status::internal(error);
  }

  std::string path_;
  RenderOptions options_;
  bool gzip_ = true;
  int gzip_level_ = 1;
  GzipPool gzip_pool_;
};

}  // namespace vigil::exporter_prometheus

VIGIL_PLUGIN("exporter_prometheus", "1.0.0",
             vigil::exporter<vigil::exporter_prometheus::PrometheusExporter>(
                 "Serves every series in the store as a Prometheus scrape page (text format "
                 "0.0.4) on the host's HTTP server")
                 .option("path", vigil::String, "/metrics", "URL path of the scrape page")
                 .option("timestamps", vigil::Bool, "false",
                         "write every sample's timestamp, not only those a plugin set "
                         "explicitly")
                 .option("gzip", vigil::Bool, "true",
                         "compress the page when the client sends Accept-Encoding: gzip")
                 .option("gzip_level", vigil::Int, "1",
                         "zlib compression level, 0 (store only) to 9 (smallest, slowest)"));
