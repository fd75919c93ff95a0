// The shims are static inline functions in include/COpenSSLShims.h; this file gives the target a
// translation unit and checks at build time that the header compiles on its own.
#include "COpenSSLShims.h"
