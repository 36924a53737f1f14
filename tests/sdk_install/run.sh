#!/usr/bin/env bash
# Installs the SDK from a Vigil build tree into a temporary prefix and builds the out-of-tree
# example against it, as a plugin author would. Usage:
#   run.sh <vigil-build-dir> <example-source-dir> <sdk-include-dir-in-tree> [<vigil binary>]
# Exits non-zero, saying which step failed, when any step does. Never writes outside its temp dir.
set -euo pipefail

build_dir=$1
example_dir=$2
tree_include=$3
vigil_bin=${4:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-sdk-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

echo "== installing the sdk component into $prefix"
cmake --install "$build_dir" --component sdk --prefix "$prefix" ||
  fail "cmake --install $build_dir --component sdk failed"
for f in include/vigil/plugin.h include/vigil/sdk.hpp include/vigil/testing/fake_host.hpp \
  lib/cmake/VigilSDK/VigilSDKConfig.cmake lib/cmake/VigilSDK/VigilSDKConfigVersion.cmake \
  lib/cmake/VigilSDK/VigilSDKTargets.cmake lib/cmake/VigilSDK/VigilPlugin.cmake; do
  [[ -f $prefix/$f ]] || fail "the install is missing $f (found: $(cd "$prefix" && find . -type f | tr '\n' ' '))"
done

echo "== building $example_dir against the installed SDK only"
cmake -S "$example_dir" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON ||
  fail "configuring the example against $prefix failed"
cmake --build "$tmp/build" -j 2 || fail "building the example failed"

# The build must not have reached into the source tree for headers.
if grep -q -- "$tree_include" "$tmp/build/compile_commands.json"; then
  fail "the example was compiled with the source tree's $tree_include instead of the installed headers"
fi

so=$tmp/build/custom_collector.so
[[ -f $so ]] || fail "expected $so (no 'lib' prefix); the build produced: $(ls "$tmp/build")"
nm -D --defined-only "$so" | grep -qw vigil_plugin_entry ||
  fail "$so does not export vigil_plugin_entry (nm -D shows: $(nm -D --defined-only "$so" | head -20))"
# Hidden visibility: no C++ symbol of the plugin or the SDK leaks into the dynamic table.
leaked=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -E '^_Z.*(vigil|Directory)' || true)
[[ -z $leaked ]] || fail "$so exports C++ symbols; expected only vigil_plugin_entry: $leaked"
echo "ok: $so exports vigil_plugin_entry"

if [[ -x $tmp/build/custom_collector_test ]]; then
  echo "== running the example's own unit test"
  (cd "$tmp/build" && ctest --output-on-failure) || fail "the example's unit test failed"
fi

if [[ -n $vigil_bin ]]; then
  [[ -x $vigil_bin ]] || fail "the vigil binary $vigil_bin is not built; build target 'vigil' first"
  echo "== listing it with $vigil_bin plugins"
  mkdir -p "$tmp/plugins"
  cp "$so" "$tmp/plugins/"
  out=$("$vigil_bin" plugins --plugin-dir "$tmp/plugins" 2>&1) ||
    fail "'vigil plugins --plugin-dir $tmp/plugins' exited non-zero: $out"
  grep -q custom_collector <<<"$out" ||
    fail "'vigil plugins' did not list custom_collector; it printed: $out"
  echo "ok: vigil plugins lists custom_collector"
fi
echo "PASS"
