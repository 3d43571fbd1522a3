// The system liburing (Debian: liburing-dev), for the expert cache's reads (MoEStore/Offload/UringReads):
// many reads in flight from the compute thread, without a thread per read.
#if defined(__linux__)
#include <liburing.h>
#endif
