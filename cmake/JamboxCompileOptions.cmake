# Compiler settings shared by every jambox target: warnings, sanitizers, hardening.
# Targets opt in with jambox_target_defaults(<target>).

add_library(jambox_compile_options INTERFACE)
add_library(jambox::compile_options ALIAS jambox_compile_options)

target_compile_options(jambox_compile_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  # No -Wnull-dereference: GCC 12 reports false positives at -O2 inside Asio and libstdc++.
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(JAMBOX_WERROR)
  target_compile_options(jambox_compile_options INTERFACE -Werror)
endif()
target_compile_definitions(jambox_compile_options INTERFACE
  $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>
  # Asio: no deprecated interfaces, and no io_context-wide locking for single-threaded loops.
  BOOST_ASIO_NO_DEPRECATED)
target_compile_options(jambox_compile_options INTERFACE -fstack-protector-strong)

if(JAMBOX_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_compile_options(jambox_compile_options INTERFACE ${_san})
  target_link_options(jambox_compile_options INTERFACE ${_san})
endif()

if(JAMBOX_FUZZ)
  # Every library linked into a fuzz target is instrumented for coverage and ASan.
  target_compile_options(jambox_compile_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_options(jambox_compile_options INTERFACE -fsanitize=address,undefined)
endif()

function(jambox_target_defaults target)
  target_link_libraries(${target} PRIVATE jambox::compile_options)
endfunction()

# jambox_library(<name> SOURCES ... DEPS ... [PRIVATE_DEPS ...])
# One static library per subsystem, public headers under lib/<name>/include/jambox/<name>/.
function(jambox_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(jambox_${name} STATIC ${ARG_SOURCES})
  add_library(jambox::${name} ALIAS jambox_${name})
  target_include_directories(jambox_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/generated>)
  target_link_libraries(jambox_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  jambox_target_defaults(jambox_${name})
endfunction()
