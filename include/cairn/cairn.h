// libcairn: keep the files of machine-learning runs and get them back.
//
//   #include <cairn/cairn.h>
//   auto run = cairn::init({.client = {.project = "mnist"}, .resume = "allow"});
//   ... run->save("ckpt.bin") ...
//   auto ckpt = cairn::restore("ckpt.bin");  // open binary stream, or nothing
//   run->finish();
//
// Errors are Status/StatusOr (status.h); settings precedence is in settings.h.
#pragma once

#include "cairn/api.h"
#include "cairn/restored_file.h"
#include "cairn/run.h"
#include "cairn/settings.h"
#include "cairn/status.h"
#include "cairn/transfer.h"
#include "cairn/version.h"
