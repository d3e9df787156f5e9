# Every third-party dependency is found here, once, as a Debian bookworm package
# (the list of packages is packaging/deps.txt).

find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(fmt 9 REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(JACK REQUIRED IMPORTED_TARGET jack)
pkg_check_modules(LILV REQUIRED IMPORTED_TARGET lilv-0)  # LV2 plugin host (lib/pedals)
find_package(tomlplusplus 3 REQUIRED)   # built as a shared library by Debian
find_package(PahoMqttCpp 1.2 REQUIRED)  # MQTT 5 client (and the Paho C library it wraps)

if(JAMBOX_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED)
endif()
