# The Debian package: `cpack -G DEB` in a build tree -> cairn_<version>_amd64.deb
# (docs/operations.md). It holds what `cmake --install` installs (the cairn
# binary, libcairn, its headers and CMake package) plus, in the `deb`
# component that a plain `cmake --install` skips (EXCLUDE_FROM_ALL: it writes
# to /etc and /usr/lib/systemd), the systemd unit, /etc/default/cairn, the
# sysusers file, the man page, docs, copyright, changelog and lintian overrides.
set(_pkg ${PROJECT_SOURCE_DIR}/packaging)
set(_gen ${PROJECT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${_gen})

# Compressed man page and changelog (a native package: changelog.gz), reproducible (gzip -n: no name or time).
configure_file(${_pkg}/cairn.1 ${_gen}/cairn.1 @ONLY)
string(TIMESTAMP _now "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${_gen}/changelog
  "cairn (${PROJECT_VERSION}) unstable; urgency=medium\n\n"
  "  * Built from the Cairn source tree (see the project's git history).\n\n"
  " -- Cairn maintainers <maintainers@cairn.invalid>  ${_now}\n")
foreach(_f cairn.1 changelog)
  add_custom_command(OUTPUT ${_gen}/${_f}.gz
    COMMAND gzip -9nc ${_gen}/${_f} > ${_gen}/${_f}.gz
    DEPENDS ${_gen}/${_f} VERBATIM)
endforeach()
add_custom_target(cairn_package_files ALL DEPENDS ${_gen}/cairn.1.gz ${_gen}/changelog.gz)

install(FILES ${_pkg}/cairn-server.service DESTINATION /usr/lib/systemd/system COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/default-cairn DESTINATION /etc/default RENAME cairn COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/sysusers-cairn.conf DESTINATION /usr/lib/sysusers.d RENAME cairn.conf
  COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_gen}/cairn.1.gz DESTINATION /usr/share/man/man1 COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/copyright ${_gen}/changelog.gz ${PROJECT_SOURCE_DIR}/docs/operations.md
  DESTINATION /usr/share/doc/cairn COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_pkg}/lintian-overrides DESTINATION /usr/share/lintian/overrides RENAME cairn
  COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cairn)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "Cairn maintainers <maintainers@cairn.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keep the files of machine-learning runs and get them back")
set(CPACK_PACKAGE_DESCRIPTION "Cairn saves the files of training runs (checkpoints, configs, outputs)
and restores them, verified, on any machine. This package holds the cairn
command and server (the cairn-server systemd unit) and libcairn, the C++
SDK, with its headers and CMake package.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/cairn-ml/cairn")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)  # shlibs + the ldconfig trigger
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_pkg}/postinst ${_pkg}/prerm ${_pkg}/postrm ${_pkg}/conffiles
  ${_pkg}/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified deb)
set(CPACK_STRIP_FILES ON)
include(CPack)
