# Per-target helpers: warnings and sanitizers are applied to our own targets only, never to
# third-party code compiled in the tree.

function(imcap_target_defaults target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports Asio's coroutine frame allocator as a new/delete mismatch (a known
    # false positive for C++20 coroutines); it is not our code and not a real mismatch.
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(IMCAP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  imcap_target_sanitizers(${target})
endfunction()

function(imcap_target_sanitizers target)
  if(IMCAP_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                              -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
