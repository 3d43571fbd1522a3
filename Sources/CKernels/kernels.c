// Placeholder; kernels land here.
#include "kernels.h"
int moe_kernels_version(void) { return 1; }
