# Man pages smtp-sensor(8) and smtp-sensor.yaml(5), generated with pandoc from the
# markdown in docs/man/ (kept beside the docs they are written from), gzipped -9n and
# installed to share/man/man8 and man5. Included by cmake/Packaging.cmake.
#
# Without pandoc (Debian package `pandoc`) the build skips them with a message, so a
# developer build needs nothing more; packaging does not: the `man` target then fails
# with the same message, and cpack refuses a package without them
# (cmake/CheckPackage.cmake).

set(SMTP_SENSOR_MAN_SOURCES
    "${PROJECT_SOURCE_DIR}/docs/man/smtp-sensor.8.md"
    "${PROJECT_SOURCE_DIR}/docs/man/smtp-sensor.yaml.5.md")
set(SMTP_SENSOR_MAN_DIR "${PROJECT_BINARY_DIR}/man")

find_program(PANDOC_EXECUTABLE pandoc)
find_program(GZIP_EXECUTABLE gzip)

if(PANDOC_EXECUTABLE AND GZIP_EXECUTABLE)
  set(_man_outputs "")
  foreach(src ${SMTP_SENSOR_MAN_SOURCES})
    get_filename_component(_name "${src}" NAME)          # smtp-sensor.8.md
    string(REGEX REPLACE "\\.md$" "" _page "${_name}")   # smtp-sensor.8
    string(REGEX MATCH "[0-9]$" _section "${_page}")
    set(_gz "${SMTP_SENSOR_MAN_DIR}/${_page}.gz")
    # @VERSION@ in the footer becomes the project's version; gzip -n keeps the output
    # reproducible (no name or time stamp in the header).
    add_custom_command(
      OUTPUT "${_gz}"
      COMMAND ${CMAKE_COMMAND} -E make_directory "${SMTP_SENSOR_MAN_DIR}"
      COMMAND ${CMAKE_COMMAND} -DIN=${src} -DOUT=${SMTP_SENSOR_MAN_DIR}/${_page}.md
              -DVERSION=${PROJECT_VERSION} -P "${CMAKE_CURRENT_LIST_DIR}/ConfigureManPage.cmake"
      COMMAND "${PANDOC_EXECUTABLE}" --standalone --from markdown --to man
              -o "${SMTP_SENSOR_MAN_DIR}/${_page}" "${SMTP_SENSOR_MAN_DIR}/${_page}.md"
      COMMAND "${GZIP_EXECUTABLE}" -9nf "${SMTP_SENSOR_MAN_DIR}/${_page}"
      DEPENDS "${src}" "${CMAKE_CURRENT_LIST_DIR}/ConfigureManPage.cmake"
      COMMENT "pandoc: man page ${_page}"
      VERBATIM)
    list(APPEND _man_outputs "${_gz}")
    install(FILES "${_gz}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${_section}")
  endforeach()
  add_custom_target(man ALL DEPENDS ${_man_outputs})
else()
  set(_why "pandoc not found: the man pages smtp-sensor(8) and smtp-sensor.yaml(5) are not built (apt-get install pandoc, then re-run cmake)")
  message(STATUS "${_why}")
  add_custom_target(man
    COMMAND ${CMAKE_COMMAND} -E echo "${_why}"
    COMMAND ${CMAKE_COMMAND} -E false
    VERBATIM)
endif()
