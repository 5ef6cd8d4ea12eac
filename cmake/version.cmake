# Writes the build's version file (lib/core/version.hpp's definitions) from the current git revision. Run
# at every build; configure_file rewrites the file only when its text changes, so a new commit recompiles
# one small file instead of every file of the library.
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE BNLAB_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT BNLAB_GIT_REVISION)
  set(BNLAB_GIT_REVISION "unknown")
endif()
configure_file(${SOURCE_DIR}/cmake/version.cpp.in ${OUTPUT} @ONLY)
