// The environment reader moved to src/common/env.h (one parser and one rule
// for malformed values, shared by the SDK and the server's commands:
// docs/adr/0024-cli-layers.md).
#pragma once

#include "common/env.h"
