/* sg_check.c -- the node's security-group validation (node/secgroup.c) built into the controller: both refuse the same rules */
#include "../node/secgroup.c"
