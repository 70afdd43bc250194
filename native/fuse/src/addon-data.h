// Per-environment state of the addon (one per Node.js environment: main thread or worker).
#pragma once

#include <napi.h>

namespace fusebinding {

struct AddonData {
  /** Constructor of FuseRequest objects; only the dispatcher creates them. */
  Napi::FunctionReference requestConstructor;
};

}  // namespace fusebinding
