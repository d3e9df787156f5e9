# Cross build for the Raspberry Pi (aarch64) on a Debian amd64 machine with multiarch:
#   dpkg --add-architecture arm64; apt-get install crossbuild-essential-arm64 qemu-user-static
#   and the arm64 -dev packages (apt-get build-dep -a arm64 .).
# Libraries come from /usr/lib/aarch64-linux-gnu; the tests run under qemu-aarch64-static against
# that multiarch libc (its binfmt-independent form: no -L, where threaded programs hang).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(PKG_CONFIG_EXECUTABLE aarch64-linux-gnu-pkg-config CACHE FILEPATH "pkg-config for arm64")

find_program(JAMBOX_QEMU_AARCH64 qemu-aarch64-static)
if(JAMBOX_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${JAMBOX_QEMU_AARCH64})
endif()

# Programs (compilers, code generators) from the build machine; libraries and headers for arm64
# are found through the multiarch directories above, next to the build machine's own.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
