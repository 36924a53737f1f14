// The helper threads behind collector_filesystem: statvfs with a deadline. What a user notices:
// a hung mount costs one timeout once, is never asked twice at the same time, never piles up
// threads, and comes back by itself when it answers.
#include "stat_helpers.hpp"
#include "fake_disks.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using vigil::collector_filesystem::MountStatter;
using vigil::collector_filesystem::StatOutcome;
using vigil::testing::FakeDisks;
using State = StatOutcome::State;

namespace {

// Generous: a loaded CI machine may be slow, but a statter that waited for the hung call would
// take forever (the fake never returns until released).
constexpr auto kBound = 5s;

template <class Fn>
std::chrono::steady_clock::duration timed(Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::steady_clock::now() - start;
}

template <class Pred>
bool eventually(Pred&& pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("every path answers: ok with its numbers, or failed with its errno") {
  auto disks = FakeDisks::make();
  disks->set("/a", 100, 50, 40);
  disks->fail("/b", EACCES);
  std::vector<StatOutcome> out;
  MountStatter statter(disks->function());
  statter.stat_all({"/a", "/b", "/missing"}, 2s, out);
  REQUIRE(out.size() == 3);
  CHECK(out[0].state == State::ok);
  CHECK(out[0].stats.f_blocks == 100);
  CHECK(out[0].stats.f_bavail == 40);
  CHECK(out[1].state == State::failed);
  CHECK(out[1].error == EACCES);
  CHECK(out[2].state == State::failed);
  CHECK(out[2].error == ENOENT);
  CHECK(statter.paths() == 3);
  CHECK(statter.helpers() >= 1);
}

TEST_CASE("a hung path is reported stuck within the timeout while the others answer") {
  REQUIRE(vigil::testing::no_helper_threads_left());
  auto disks = FakeDisks::make();
  disks->set("/a", 100, 50, 40);
  disks->set("/nfs", 100, 50, 40);
  disks->hang("/nfs");
  std::vector<StatOutcome> out;
  {
    MountStatter statter(disks->function());
    auto took = timed([&] { statter.stat_all({"/a", "/nfs"}, 200ms, out); });
    CHECK(took < kBound);
    CHECK(out[0].state == State::ok);
    CHECK(out[1].state == State::stuck);
    CHECK(out[1].became_stuck);

    SECTION("it is not asked again while its call is still running, and adds no thread") {
      // The helper stuck in /nfs is busy: the next call starts one more for /a, and that is all.
      statter.stat_all({"/a", "/nfs"}, 200ms, out);
      CHECK(out[0].state == State::ok);
      const auto threads = MountStatter::live_threads();
      for (int i = 0; i < 3; ++i) {
        statter.stat_all({"/a", "/nfs"}, 200ms, out);
        CHECK(out[0].state == State::ok);
        CHECK(out[1].state == State::stuck);
        CHECK_FALSE(out[1].became_stuck);  // logged once, not on every collect
      }
      CHECK(disks->calls("/nfs") == 1);
      CHECK(disks->calls("/a") == 5);
      CHECK(MountStatter::live_threads() == threads);
      CHECK(statter.helpers() == 2);
    }

    SECTION("once its call returns, it is asked again and reported recovered") {
      disks->release("/nfs");
      REQUIRE(eventually([&] { return disks->blocked() == 0; }));
      statter.stat_all({"/a", "/nfs"}, 2s, out);
      CHECK(out[1].state == State::ok);
      CHECK(out[1].recovered);
      CHECK(disks->calls("/nfs") == 2);
      statter.stat_all({"/a", "/nfs"}, 2s, out);
      CHECK_FALSE(out[1].recovered);
    }
  }
  disks->release_all();
}

TEST_CASE("destroying the statter with a hung call returns at once and leaks no waiting") {
  REQUIRE(vigil::testing::no_helper_threads_left());
  auto disks = FakeDisks::make();
  disks->hang("/nfs");
  const auto before = MountStatter::live_threads();
  auto took = timed([&] {
    MountStatter statter(disks->function());
    std::vector<StatOutcome> out;
    statter.stat_all({"/nfs", "/other"}, 100ms, out);
    CHECK(out[0].state == State::stuck);
  });
  CHECK(took < kBound);
  // The stuck helper lives on, detached, until its call returns; then it exits by itself.
  CHECK(MountStatter::live_threads() == before + 1);
  disks->release_all();
  CHECK(eventually([&] { return MountStatter::live_threads() == before; }));
}

TEST_CASE("paths that went away are forgotten, a running one when its call returns") {
  auto disks = FakeDisks::make();
  disks->set("/a", 1, 1, 1);
  disks->set("/b", 1, 1, 1);
  disks->hang("/c");
  MountStatter statter(disks->function());
  std::vector<StatOutcome> out;
  statter.stat_all({"/a", "/b", "/c"}, 200ms, out);
  CHECK(statter.paths() == 3);
  statter.retire_except({"/a"});
  CHECK(statter.paths() == 2);  // /c is still inside its call
  disks->release_all();
  CHECK(eventually([&] { return statter.paths() == 1; }));
}

TEST_CASE("several hung mounts each get a helper, and the helpers shrink back once they answer") {
  REQUIRE(vigil::testing::no_helper_threads_left());
  auto disks = FakeDisks::make();
  disks->set("/a", 1, 1, 1);
  for (const char* p : {"/x", "/y", "/z"}) {
    disks->set(p, 1, 1, 1);
    disks->hang(p);
  }
  MountStatter statter(disks->function());
  std::vector<StatOutcome> out;
  auto took = timed([&] { statter.stat_all({"/x", "/y", "/z", "/a"}, 1s, out); });
  CHECK(took < kBound);
  CHECK(out[0].state == State::stuck);
  CHECK(out[1].state == State::stuck);
  CHECK(out[2].state == State::stuck);
  CHECK(out[3].state == State::ok);  // queued behind three hung mounts, still answered
  CHECK(statter.helpers() == 4);

  disks->release_all();
  REQUIRE(eventually([&] { return disks->blocked() == 0; }));
  statter.stat_all({"/x", "/y", "/z", "/a"}, 2s, out);
  for (const auto& o : out) CHECK(o.state == State::ok);
  CHECK(out[0].recovered);
  CHECK(statter.helpers() == 1);
  CHECK(MountStatter::live_threads() == 1);
}

TEST_CASE("two mounts stacked on one path share one call") {
  auto disks = FakeDisks::make();
  disks->set("/a", 10, 5, 4);
  MountStatter statter(disks->function());
  std::vector<StatOutcome> out;
  statter.stat_all({"/a", "/a"}, 2s, out);
  CHECK(out[0].state == State::ok);
  CHECK(out[1].state == State::ok);
  CHECK(out[1].stats.f_blocks == 10);
  CHECK(disks->calls("/a") == 1);
}
