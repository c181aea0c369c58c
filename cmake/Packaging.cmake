# Install rules and the Debian package (CPack DEB) for smtp-sensor.
# Included at the end of the top-level CMakeLists.txt.
#
#   cmake --install build --prefix /usr            # system install (config in /etc)
#   cmake --install build --prefix /tmp/stage      # everything below /tmp/stage
#   (cd build && cpack -G DEB)                     # smtp-sensor_<ver>_<arch>.deb
#
# The binary itself is installed by daemon/CMakeLists.txt (install(TARGETS ... bin)).
#
# Paths are decided at install time, from the prefix actually used: with prefix /usr
# (the package, or `--prefix /usr`) the config goes to /etc/smtp-sensor; with any
# other prefix it goes to <prefix>/etc/smtp-sensor. The systemd unit is rewritten to
# point at the installed binary and config. systemd also reads units, sysusers.d and
# tmpfiles.d below /usr/local/lib, so a /usr/local install works as a service too.

include(GNUInstallDirs)
include("${CMAKE_CURRENT_LIST_DIR}/ManPages.cmake")

# The package's Maintainer, also in its changelog and copyright. A packager sets it:
#   cmake -DSMTP_SENSOR_MAINTAINER="Jane Admin <jane@example.net>" ...
set(SMTP_SENSOR_MAINTAINER "smtp-sensor maintainers <maintainers@smtp-sensor.org>"
    CACHE STRING "Debian Maintainer: name <address>")
# The Debian revision: the package is smtp-sensor_<version>-<revision>, not native.
set(SMTP_SENSOR_DEB_REVISION "1" CACHE STRING "Debian revision of the package version")

set(SMTP_SENSOR_SYSTEMD_DIR "${CMAKE_CURRENT_LIST_DIR}/../systemd")
get_filename_component(SMTP_SENSOR_SYSTEMD_DIR "${SMTP_SENSOR_SYSTEMD_DIR}" ABSOLUTE)
set(SMTP_SENSOR_CONFIG_SRC "${PROJECT_SOURCE_DIR}/config/smtp-sensor.yaml")

# --- systemd integration: unit, sysusers.d, tmpfiles.d ------------------------------
install(FILES "${SMTP_SENSOR_SYSTEMD_DIR}/smtp-sensor.sysusers.conf"
        DESTINATION lib/sysusers.d RENAME smtp-sensor.conf)
install(FILES "${SMTP_SENSOR_SYSTEMD_DIR}/smtp-sensor.tmpfiles.conf"
        DESTINATION lib/tmpfiles.d RENAME smtp-sensor.conf)

# The unit carries /usr/bin and /etc paths; rewrite them for the install prefix.
install(CODE "
  set(_prefix \"\${CMAKE_INSTALL_PREFIX}\")
  string(REGEX REPLACE \"/+$\" \"\" _prefix \"\${_prefix}\")
  if(_prefix STREQUAL \"/usr\" OR _prefix STREQUAL \"\")
    set(_etc \"/etc\")
  else()
    set(_etc \"\${_prefix}/etc\")
  endif()
  file(READ \"${SMTP_SENSOR_SYSTEMD_DIR}/smtp-sensor.service\" _unit)
  string(REPLACE \"/usr/bin/smtp-sensor\" \"\${_prefix}/${CMAKE_INSTALL_BINDIR}/smtp-sensor\" _unit \"\${_unit}\")
  string(REPLACE \"/etc/smtp-sensor/\" \"\${_etc}/smtp-sensor/\" _unit \"\${_unit}\")
  string(REPLACE \"/usr/share/doc/smtp-sensor/\" \"\${_prefix}/${CMAKE_INSTALL_DOCDIR}/\" _unit \"\${_unit}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/packaging/smtp-sensor.service\" \"\${_unit}\")
  file(INSTALL DESTINATION \"\${_prefix}/lib/systemd/system\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${PROJECT_BINARY_DIR}/packaging/smtp-sensor.service\")

  # fail2ban: the filter where fail2ban looks, and the jail, disabled (enabled = false),
  # beside it; both are conffiles in the .deb. Never overwritten here either.
  foreach(_f2b filter.d jail.d)
    if(NOT EXISTS \"\$ENV{DESTDIR}\${_etc}/fail2ban/\${_f2b}/smtp-sensor.conf\")
      file(INSTALL DESTINATION \"\${_etc}/fail2ban/\${_f2b}\" TYPE FILE
           PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
           FILES \"${PROJECT_SOURCE_DIR}/config/fail2ban/\${_f2b}/smtp-sensor.conf\")
    endif()
  endforeach()

  # The config is never overwritten: installed only when absent. (In the .deb it is
  # a conffile, so dpkg keeps local edits on upgrade.)
  if(EXISTS \"\$ENV{DESTDIR}\${_etc}/smtp-sensor/smtp-sensor.yaml\")
    message(STATUS \"Keeping existing: \$ENV{DESTDIR}\${_etc}/smtp-sensor/smtp-sensor.yaml\")
  else()
    file(INSTALL DESTINATION \"\${_etc}/smtp-sensor\" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES \"${SMTP_SENSOR_CONFIG_SRC}\")
  endif()
")

# --- documentation and examples -----------------------------------------------------
file(GLOB SMTP_SENSOR_DOCS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES "${PROJECT_SOURCE_DIR}/README.md" ${SMTP_SENSOR_DOCS}
        DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES "${SMTP_SENSOR_CONFIG_SRC}" "${SMTP_SENSOR_SYSTEMD_DIR}/transparent.conf"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")

# --- integrations: Grafana, Prometheus, fail2ban (pristine copies) ------------------
set(SMTP_SENSOR_SHARE_DIR "${CMAKE_INSTALL_DATADIR}/smtp-sensor")
install(FILES "${PROJECT_SOURCE_DIR}/config/grafana/smtp-sensor-dashboard.json"
        DESTINATION "${SMTP_SENSOR_SHARE_DIR}/grafana")
install(FILES "${PROJECT_SOURCE_DIR}/config/prometheus/smtp-sensor-rules.yml"
              "${PROJECT_SOURCE_DIR}/config/prometheus/prometheus-scrape-example.yml"
        DESTINATION "${SMTP_SENSOR_SHARE_DIR}/prometheus")
install(FILES "${PROJECT_SOURCE_DIR}/config/fail2ban/filter.d/smtp-sensor.conf"
        DESTINATION "${SMTP_SENSOR_SHARE_DIR}/fail2ban/filter.d")
install(FILES "${PROJECT_SOURCE_DIR}/config/fail2ban/jail.d/smtp-sensor.conf"
        DESTINATION "${SMTP_SENSOR_SHARE_DIR}/fail2ban/jail.d")

# --- Debian copyright and changelog -------------------------------------------------
set(SMTP_SENSOR_DEB_VERSION "${PROJECT_VERSION}-${SMTP_SENSOR_DEB_REVISION}")
set(_pkgdoc "${PROJECT_BINARY_DIR}/packaging/doc")
file(MAKE_DIRECTORY "${_pkgdoc}")
foreach(_f copyright changelog)
  file(READ "${SMTP_SENSOR_SYSTEMD_DIR}/debian/${_f}" _text)
  string(REPLACE "@MAINTAINER@" "${SMTP_SENSOR_MAINTAINER}" _text "${_text}")
  string(REPLACE "@DEB_VERSION@" "${SMTP_SENSOR_DEB_VERSION}" _text "${_text}")
  file(WRITE "${_pkgdoc}/${_f}" "${_text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${SMTP_SENSOR_SYSTEMD_DIR}/debian/${_f}")
endforeach()
# gzip -9n: no name or time stamp, so the package is reproducible.
execute_process(COMMAND gzip -9nc "${_pkgdoc}/changelog"
                OUTPUT_FILE "${_pkgdoc}/changelog.Debian.gz" RESULT_VARIABLE _gz)
if(NOT _gz EQUAL 0)
  message(FATAL_ERROR "gzip failed on ${_pkgdoc}/changelog")
endif()
install(FILES "${_pkgdoc}/copyright" "${_pkgdoc}/changelog.Debian.gz" DESTINATION "${CMAKE_INSTALL_DOCDIR}")

# --- CPack: Debian package ----------------------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "smtp-sensor")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VENDOR "smtp-sensor")
set(CPACK_PACKAGE_CONTACT "${SMTP_SENSOR_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SMTP_SENSOR_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_RELEASE "${SMTP_SENSOR_DEB_REVISION}")
# A package without its man pages is refused (pandoc missing at configure time).
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/CheckPackage.cmake")
set(CPACK_STRIP_FILES ON)
# The package installs into /usr, with the config in /etc (see the install(CODE) above).
# DESTDIR staging keeps CMAKE_INSTALL_PREFIX=/usr during packaging, so the prefix test
# in install(CODE) sees /usr.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "mail")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Inline SMTP proxy that relays every byte between clients and the mail server\n\
unchanged while decoding both directions. It counts connections, commands,\n\
bad commands, terminations and bytes, flags AUTH probing and other abuse, and\n\
exports Prometheus metrics, per-session transcripts, a JSON alert log and a\n\
SQLite session store for reports.")
# Runtime library dependencies are computed by dpkg-shlibdeps (package dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The maintainer scripts call these when present; they are never hard requirements.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
# default-mta first, as Debian asks of anything naming mail-transport-agent (lintian).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "default-mta | mail-transport-agent")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(SMTP_SENSOR_DEBIAN_DIR "${PROJECT_BINARY_DIR}/packaging/debian")
file(MAKE_DIRECTORY "${SMTP_SENSOR_DEBIAN_DIR}")
file(WRITE "${SMTP_SENSOR_DEBIAN_DIR}/conffiles" "/etc/smtp-sensor/smtp-sensor.yaml
/etc/fail2ban/filter.d/smtp-sensor.conf
/etc/fail2ban/jail.d/smtp-sensor.conf
")
foreach(script postinst prerm postrm)
  configure_file("${SMTP_SENSOR_SYSTEMD_DIR}/debian/${script}"
                 "${SMTP_SENSOR_DEBIAN_DIR}/${script}" COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${SMTP_SENSOR_DEBIAN_DIR}/conffiles;${SMTP_SENSOR_DEBIAN_DIR}/postinst;${SMTP_SENSOR_DEBIAN_DIR}/prerm;${SMTP_SENSOR_DEBIAN_DIR}/postrm")

include(CPack)
