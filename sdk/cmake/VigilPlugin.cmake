# vigil_add_plugin(<name> SOURCES <file>... [LIBRARIES <lib>...])
#
# Builds one Vigil plugin: a MODULE library named exactly <name>.so (no "lib" prefix), C++17,
# hidden visibility so vigil_plugin_entry is the only exported symbol, and linked with
# --no-undefined so a missing symbol fails the build instead of the host's dlopen().
# Works both inside the Vigil tree (linking vigil_sdk and vigil_warnings) and against an installed
# SDK (find_package(VigilSDK) provides Vigil::sdk). When VIGIL_PLUGIN_OUTPUT_DIR is set the .so
# lands there, so the host can be pointed at one directory of plugins.
#
# This file must never add a dependency beyond the SDK headers: a plugin's build is its author's.
include_guard(GLOBAL)

function(vigil_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;LIBRARIES")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "vigil_add_plugin(${name}): unexpected arguments '${ARG_UNPARSED_ARGUMENTS}'; "
                        "expected SOURCES <files...> [LIBRARIES <libs...>]")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "vigil_add_plugin(${name}): no SOURCES given; list the plugin's .cpp files "
                        "after SOURCES")
  endif()
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "vigil_add_plugin(${name}): plugin names must match [a-z][a-z0-9_]* "
                        "(the name the host loads it by)")
  endif()

  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # Belt and braces: the presets do not reach flags set by hand on some generators.
  target_compile_options(${name} PRIVATE -fvisibility=hidden)
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  # Hidden visibility leaves template instances from the standard headers exported; a version
  # script makes the entry point the library's only dynamic symbol, so no two plugins (nor a
  # plugin and the host) can ever bind to each other's code.
  set(map "${CMAKE_BINARY_DIR}/vigil_plugin_exports.map")
  if(NOT EXISTS "${map}")
    file(WRITE "${map}" "{\n  global: vigil_plugin_entry;\n  local: *;\n};\n")
  endif()
  target_link_options(${name} PRIVATE "-Wl,--version-script=${map}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${map}")

  if(TARGET vigil_sdk)
    target_link_libraries(${name} PRIVATE vigil_sdk)
  elseif(TARGET Vigil::sdk)
    target_link_libraries(${name} PRIVATE Vigil::sdk)
  else()
    message(FATAL_ERROR "vigil_add_plugin(${name}): the Vigil SDK is not available; call "
                        "find_package(VigilSDK 1.1 REQUIRED) before vigil_add_plugin()")
  endif()
  if(TARGET vigil_warnings)
    target_link_libraries(${name} PRIVATE vigil_warnings)
  endif()
  if(ARG_LIBRARIES)
    target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES})
  endif()

  if(DEFINED VIGIL_PLUGIN_OUTPUT_DIR AND NOT VIGIL_PLUGIN_OUTPUT_DIR STREQUAL "")
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${VIGIL_PLUGIN_OUTPUT_DIR}")
  endif()
endfunction()
