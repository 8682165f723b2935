/* state_check.c -- the node's desired-state parser (node/state.c, node/port.c) built into the controller: a document is checked before a node gets it */
#include "../node/port.c"
#include "../node/state.c"
