# cmake -DIN=page.md -DOUT=out.md -DVERSION=x.y.z -P ConfigureManPage.cmake
# Fills @VERSION@ in a man page's markdown source (see cmake/ManPages.cmake).
file(READ "${IN}" _text)
string(REPLACE "@VERSION@" "${VERSION}" _text "${_text}")
file(WRITE "${OUT}" "${_text}")
