# Run by cpack (CPACK_PRE_BUILD_SCRIPTS) on the staged files, before the .deb is made:
# a package without its man pages is refused, with the reason, rather than shipped.
file(GLOB_RECURSE _pages "${CPACK_TEMPORARY_DIRECTORY}/*/smtp-sensor.8.gz" "${CPACK_TEMPORARY_DIRECTORY}/*/smtp-sensor.yaml.5.gz")
list(LENGTH _pages _n)
if(NOT _n EQUAL 2)
  message(FATAL_ERROR "smtp-sensor package: the man pages are missing from ${CPACK_TEMPORARY_DIRECTORY}. "
                      "Install pandoc (apt-get install pandoc), re-run cmake and build the `man` target first.")
endif()
