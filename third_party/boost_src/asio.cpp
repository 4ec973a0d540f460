// Compiles Boost.Asio once for the whole project (see CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
