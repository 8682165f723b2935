/* backend.h -- the convergence engine's backend on a real node (converge.h's struct converge_backend) */
#ifndef CLOUDD_BACKEND_H
#define CLOUDD_BACKEND_H

#include "errmsg.h"

struct converge_backend;
struct cloudd_config;

/*
 * Fills be with the operations of this node's backend: templates cached in
 * <data_dir>/templates, volumes in <data_dir>/volumes, guests in
 * <run_dir>/guests/<id> (guest.h), guest DHCP in <run_dir>/dhcp, the bridge,
 * taps and filters (filter_sync) of the document's network, cloud-init seeds.
 * Makes cloudd a child subreaper, so that a QEMU it starts (daemonized) is
 * its child and its exit status is known; the backend reaps those by pid
 * only. The disks must be claimed (disk.h) and mounted at data_dir before.
 * Returns 0 or -1 with err.
 */
int backend_init(struct converge_backend *be, const struct cloudd_config *cfg, struct errmsg *err);
/* Releases the backend (guests keep running; the guest dnsmasq is stopped). */
void backend_free(struct converge_backend *be);
/*
 * Only for tests on a kernel without bridge conntrack (the filters need
 * it): network_apply validates the filters but does not load them. Never
 * called by cloudd itself.
 */
void backend_skip_filters(struct converge_backend *be);
/* Supervision between passes: restarts the guest dnsmasq when it died. */
void backend_tick(struct converge_backend *be);

#endif
