// The system libzstd (Debian: libzstd-dev), for the compressed expert tier (MoEStore/Tiers).
// Only the stable API is used: no ZSTD_STATIC_LINKING_ONLY.
#include <zstd.h>
