// Compiles Boost.JSON once for the whole project (see CMakeLists.txt).
#include <boost/json/src.hpp>
