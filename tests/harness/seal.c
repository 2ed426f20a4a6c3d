/* Dial-job passwords as api-gateway sends them (test.h). */
#include "harness/test.h"
#include "secret/secret.h"

#include <stdio.h>
#include <string.h>

char *test_seal_for_call(const char *call_id, const char *password)
{
	struct secret_keys *k = NULL;
	char why[160], aad[64], *sealed = NULL;
	snprintf(aad, sizeof(aad), "call:%s", call_id);
	if (secret_keys_load(&k, TEST_SECRETS_KEY, NULL, why, sizeof(why)) == 0 &&
	    secret_seal(&sealed, k, aad, password, strlen(password)) != 0)
		sealed = NULL;
	secret_keys_free(k);
	return sealed;
}
