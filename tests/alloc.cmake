# tests/alloc.cmake — extra ctest registrations of the allocator (alloc/):
# the planted use-after-free must be caught by ASan (asan builds) and by
# valgrind memcheck (when valgrind and its headers are installed).
set(_uaf_src ${PROJECT_SOURCE_DIR}/alloc/tests/alloc_uaf.c)

if(TANGLE_SANITIZE STREQUAL "address")
  add_executable(alloc_uaf_asan ${_uaf_src})
  target_link_libraries(alloc_uaf_asan PRIVATE tangle_internal)
  set_target_properties(alloc_uaf_asan PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME alloc_uaf_asan COMMAND alloc_uaf_asan)
  set_tests_properties(alloc_uaf_asan PROPERTIES
    PASS_REGULAR_EXPRESSION "AddressSanitizer: use-after-poison"
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
endif()

find_program(TANGLE_VALGRIND_EXE valgrind)
include(CheckIncludeFile)
check_include_file(valgrind/memcheck.h TANGLE_HAVE_VALGRIND_H)
if(TANGLE_VALGRIND_EXE AND TANGLE_HAVE_VALGRIND_H AND NOT TANGLE_SANITIZE)
  # The allocator compiled on its own with the client requests on, so the
  # test does not depend on how libtangle itself was configured.
  add_executable(alloc_uaf_valgrind ${_uaf_src} ${PROJECT_SOURCE_DIR}/alloc/alloc.c)
  target_include_directories(alloc_uaf_valgrind PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR})
  target_compile_definitions(alloc_uaf_valgrind PRIVATE TG_BUILDING_LIBRARY=1 TG_ALLOC_VALGRIND=1 _GNU_SOURCE)
  target_link_libraries(alloc_uaf_valgrind PRIVATE Threads::Threads)
  set_target_properties(alloc_uaf_valgrind PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME alloc_uaf_valgrind
           COMMAND ${TANGLE_VALGRIND_EXE} --tool=memcheck --error-exitcode=0 $<TARGET_FILE:alloc_uaf_valgrind>)
  set_tests_properties(alloc_uaf_valgrind PROPERTIES
    PASS_REGULAR_EXPRESSION "Invalid write of size 1.*inside a block of size 64 free'd")
endif()

# The stress scenario under memcheck with the client requests on: the
# allocator's own accesses to free blocks must never trip memcheck.
if(TANGLE_VALGRIND_EXE AND TANGLE_HAVE_VALGRIND_H AND NOT TANGLE_SANITIZE)
  add_executable(alloc_stress_valgrind ${PROJECT_SOURCE_DIR}/stress/alloc_stress.c ${PROJECT_SOURCE_DIR}/alloc/alloc.c)
  target_include_directories(alloc_stress_valgrind PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR})
  target_compile_definitions(alloc_stress_valgrind PRIVATE
    TG_BUILDING_LIBRARY=1 TG_INTERNAL_CLIENT=1 TG_ALLOC_VALGRIND=1 _GNU_SOURCE)
  target_link_libraries(alloc_stress_valgrind PRIVATE Threads::Threads)
  set_target_properties(alloc_stress_valgrind PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME alloc_stress_valgrind
           COMMAND ${TANGLE_VALGRIND_EXE} --tool=memcheck --error-exitcode=9
                   $<TARGET_FILE:alloc_stress_valgrind> --threads 3 --seconds 1 --seed 1)
  set_tests_properties(alloc_stress_valgrind PROPERTIES LABELS stress TIMEOUT 120)
endif()

# The reserved range, made tiny, fills up: small requests must fall back to the
# system allocator and come back.
add_executable(alloc_exhaust ${PROJECT_SOURCE_DIR}/alloc/tests/alloc_exhaust.c ${PROJECT_SOURCE_DIR}/alloc/alloc.c)
target_include_directories(alloc_exhaust PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR})
target_compile_definitions(alloc_exhaust PRIVATE
  TG_BUILDING_LIBRARY=1 TG_INTERNAL_CLIENT=1 "TG_ALLOC_RESERVE=((size_t)64 << 20)" _GNU_SOURCE)
target_link_libraries(alloc_exhaust PRIVATE Threads::Threads)
set_target_properties(alloc_exhaust PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME alloc_exhaust COMMAND alloc_exhaust)
set_tests_properties(alloc_exhaust PROPERTIES TIMEOUT 60)
