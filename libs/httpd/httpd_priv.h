/* Internals shared by httpd.c and health.c; not for other modules. */
#ifndef CALLMESH_HTTPD_PRIV_H
#define CALLMESH_HTTPD_PRIV_H

#include "httpd/httpd.h"

/* httpd_new with two knobs: `count` feeds the http_* counters (off for
 * the health listener, so probes don't drown real traffic), and `owned`
 * is freed by httpd_free (taken over even when starting fails). */
int httpd_start_ex(struct httpd **hp, const char *addr, const struct httpd_route *routes,
		   size_t nroutes, void *arg, const struct httpd_opts *opts, bool count,
		   void *owned) CM_MUST_USE;

#endif
