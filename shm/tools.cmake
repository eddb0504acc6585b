# shm/tools.cmake — programs of the multiprocessing module that are neither
# library code nor tests (included from the top-level CMakeLists.txt).
#
# shm_counter: cross-process counter benchmark (docs/PERFORMANCE.md,
# "Multiprocessing"). Not a test: never run by ctest.
#   build/bin/shm_counter [iterations-per-process] [processes]
add_executable(shm_counter ${CMAKE_CURRENT_LIST_DIR}/../tests/shm_counter.c)
target_link_libraries(shm_counter PRIVATE tangle_internal)
set_target_properties(shm_counter PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
