/* lkrtc internals shared with the generated code ($(BUILD)/gen/lkrtc). */
#ifndef CALLMESH_LKRTC_PRIV_H
#define CALLMESH_LKRTC_PRIV_H

/* How many napi_* stubs the build generated (napi_stubs.c, from the engine
 * binary's undefined symbols). Referencing it links the stubs in. */
extern const unsigned lkrtc_napi_stubs;

#endif
