// Compiles Boost.Beast once for the whole project (see CMakeLists.txt).
#include <boost/beast/src.hpp>
