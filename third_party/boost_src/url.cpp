// Compiles Boost.URL once for the whole project (see CMakeLists.txt).
#include <boost/url/src.hpp>
