#pragma once
int moe_kernels_version(void);
