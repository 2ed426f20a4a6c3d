/* A stand-in for the livekit-ffi engine's C ABI, as a shared object that
 * libs/lkrtc loads with dlopen() like the real one (lkrtc_connect_opts
 * .engine_path). It only passes calls on: the fuzzer that loads it too
 * (fuzz_lkrtc_event.c) answers the requests and sends the events through
 * the callback lkrtc registered. Built as $(BUILD)/fuzz/libfake_lkffi.so. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void(ffi_cb_fn)(const uint8_t *data, size_t len);
typedef uint64_t(ffi_request_fn)(const uint8_t *req, size_t len, const uint8_t **res,
				 size_t *res_len);
typedef bool(ffi_drop_handle_fn)(uint64_t handle);

void livekit_ffi_initialize(ffi_cb_fn *cb, bool capture_logs, const char *sdk,
			    const char *sdk_version);
uint64_t livekit_ffi_request(const uint8_t *req, size_t len, const uint8_t **res,
			     size_t *res_len);
bool livekit_ffi_drop_handle(uint64_t handle);
void livekit_ffi_dispose(void);
void fake_lkffi_set(ffi_request_fn *request, ffi_drop_handle_fn *drop);
ffi_cb_fn *fake_lkffi_callback(void);

static ffi_cb_fn *callback;
static ffi_request_fn *on_request;
static ffi_drop_handle_fn *on_drop;

void livekit_ffi_initialize(ffi_cb_fn *cb, bool capture_logs, const char *sdk,
			    const char *sdk_version)
{
	(void)capture_logs;
	(void)sdk;
	(void)sdk_version;
	callback = cb;
}

uint64_t livekit_ffi_request(const uint8_t *req, size_t len, const uint8_t **res, size_t *res_len)
{
	return on_request ? on_request(req, len, res, res_len) : 0;
}

bool livekit_ffi_drop_handle(uint64_t handle)
{
	return on_drop ? on_drop(handle) : false;
}

void livekit_ffi_dispose(void)
{
	callback = NULL;
}

void fake_lkffi_set(ffi_request_fn *request, ffi_drop_handle_fn *drop)
{
	on_request = request;
	on_drop = drop;
}

ffi_cb_fn *fake_lkffi_callback(void)
{
	return callback;
}
