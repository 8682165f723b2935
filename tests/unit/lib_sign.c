/* lib_sign.c -- request signing against fixed vectors (RFC 4231, hand-computed strings to sign) */
#include <stdlib.h>

#include <nettle/sha2.h>

#include "sign.h"
#include "unit.h"

TEST(sha256_empty)
{
	char hex[SIGN_HEX_LEN + 1];

	sign_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(sha256_streamed_equals_whole)
{
	char whole[SIGN_HEX_LEN + 1], streamed[SIGN_HEX_LEN + 1];
	struct sha256_ctx ctx;

	sign_sha256_hex("abc", 3, whole);
	CHECK_STR(whole, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_init(&ctx);
	sha256_update(&ctx, 1, (const uint8_t *)"a");
	sha256_update(&ctx, 2, (const uint8_t *)"bc");
	sign_sha256_final_hex(&ctx, streamed);
	CHECK_STR(streamed, whole);
	CHECK_INT(sign_sha256_hex_valid(whole), 1);
	whole[3] = 'A';
	CHECK_INT(sign_sha256_hex_valid(whole), 0);
	whole[3] = 'g';
	CHECK_INT(sign_sha256_hex_valid(whole), 0);
	CHECK_INT(sign_sha256_hex_valid(streamed + 1), 0);
	CHECK_INT(sign_sha256_hex_valid(""), 0);
}

TEST(hmac_rfc4231_case2)
{
	char hex[SIGN_HEX_LEN + 1];
	const char *data = "what do ya want for nothing?";

	sign_hmac_hex("Jefe", 4, data, strlen(data), hex);
	CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(canonical_query_sorts_and_encodes)
{
	struct sign_query_arg args[] = {
		{ "role", "hyper visor" }, { "limit", "10" }, { "a", NULL }, { "limit", "1" }, { "x/y", "ü~" },
	};
	char *q = sign_canonical_query(args, 5);

	CHECK_STR(q, "a=&limit=1&limit=10&role=hyper%20visor&x%2Fy=%C3%BC~");
	free(q);
	q = sign_canonical_query(NULL, 0);
	CHECK_STR(q, "");
	free(q);
}

TEST(canonical_query_string_decodes_first)
{
	char *q = sign_canonical_query_string("role=hyper+visor&limit=10&a");

	CHECK_STR(q, "a=&limit=10&role=hyper%20visor");
	free(q);
	q = sign_canonical_query_string("b=%2f&a=%41");
	CHECK_STR(q, "a=A&b=%2F");
	free(q);
	CHECK(sign_canonical_query_string("a=%zz") == NULL);
	CHECK(sign_canonical_query_string("a=%4") == NULL);
}

TEST(string_to_sign_layout)
{
	char *s = sign_string("GET", "/v1/nodes", "limit=5", "abc", 42);

	CHECK_STR(s, "CLOUDD-HMAC-SHA256\nGET\n/v1/nodes\nlimit=5\nabc\n42");
	free(s);
}

TEST(signature_get_vector)
{
	char sig[SIGN_HEX_LEN + 1];

	CHECK_INT(sign_request("s3cret", "GET", "/v1/machines", "limit=10&role=hypervisor", "", 0,
			       1700000000, sig), 0);
	CHECK_STR(sig, "52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab");
}

TEST(signature_post_vector)
{
	const char *body = "{\"mac\":\"52:54:00:12:34:56\",\"role\":\"hypervisor\"}";
	char sig[SIGN_HEX_LEN + 1], digest[SIGN_HEX_LEN + 1];

	sign_sha256_hex(body, strlen(body), digest);
	CHECK_STR(digest, "80ec12cc6e5d9c0f79037aee66cf8784f51a72ab46c5d3829c6b314b361e907f");
	CHECK_INT(sign_request("s3cret", "POST", "/v1/machines", "", body, strlen(body), 1700000300, sig), 0);
	CHECK_STR(sig, "d1ad21760461696adec2236f7d41ec914e0f5aa4272c11f8f3e47c02b400e99b");
	/* one byte of the body changed: another signature */
	CHECK_INT(sign_request("s3cret", "POST", "/v1/machines", "", "{\"mac\":\"52:54:00:12:34:57\",\"role\":\"hypervisor\"}",
			       strlen(body), 1700000300, sig), 0);
	CHECK(strcmp(sig, "d1ad21760461696adec2236f7d41ec914e0f5aa4272c11f8f3e47c02b400e99b") != 0);
}

TEST(authorization_roundtrip)
{
	char hdr[SIGN_MAX_HEADER];
	struct sign_auth a;
	const char *why = NULL;
	const char *sig = "52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab";

	CHECK_INT(sign_authorization(hdr, sizeof(hdr), "ak-0123", 1700000000, sig), 0);
	CHECK_STR(hdr, "CLOUDD-HMAC-SHA256 key=ak-0123,expires=1700000000,signature="
		       "52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab");
	CHECK_INT(sign_parse_authorization(hdr, &a, &why), 0);
	CHECK_STR(a.key_id, "ak-0123");
	CHECK_INT(a.expires, 1700000000);
	CHECK_STR(a.signature, sig);
	CHECK_INT(sign_authorization(hdr, 20, "ak-0123", 1, sig), -1);
}

TEST(authorization_rejects_malformed)
{
	static const char *const bad[] = {
		"",
		"Basic dXNlcjpwYXNz",
		"CLOUDD-HMAC-SHA256 key=ak,expires=1",
		"CLOUDD-HMAC-SHA256 key=ak,expires=x1,signature=52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab",
		"CLOUDD-HMAC-SHA256 key=ak,expires=1,signature=52F38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab",
		"CLOUDD-HMAC-SHA256 key=ak,expires=1,signature=52f3",
		"CLOUDD-HMAC-SHA256 key=,expires=1,signature=52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab",
		"CLOUDD-HMAC-SHA256 key=a,key=b,expires=1,signature=52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab",
		"CLOUDD-HMAC-SHA256 key=a,extra=1,expires=1,signature=52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab",
		"CLOUDD-HMAC-SHA256 key=a,expires=99999999999999,signature=52f38548e501cf5720d8c1d0268fcf77b21528836c58491f7740c323c385f4ab",
		"CLOUDD-HMAC-SHA256 garbage",
	};
	struct sign_auth a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		if (sign_parse_authorization(bad[i], &a, &why) == 0)
			UNIT_FAIL("accepted: %s", bad[i]);
		CHECK(why != NULL);
	}
	{
		const char *why = NULL;
		CHECK_INT(sign_parse_authorization(NULL, &a, &why), -1);
	}
}

TEST(constant_time_equal)
{
	CHECK(sign_equal("abcdef", "abcdef", 6));
	CHECK(!sign_equal("abcdef", "abcdeg", 6));
	CHECK(!sign_equal("xbcdef", "abcdef", 6));
}

/* the controller-to-node key: HMAC-SHA256(node secret, context), never the node's own secret */
TEST(node_key_vector)
{
	char key[SIGN_HEX_LEN + 1];

	sign_node_key("s3cret", key);
	CHECK_STR(key, "3f49e7ad3f6c7443f2ebbcd5544452f6bf4c73f9b44845da2e264d24cc508e49");
	CHECK(strcmp(key, "s3cret") != 0);
	sign_node_key("s3cret2", key);
	CHECK(strcmp(key, "3f49e7ad3f6c7443f2ebbcd5544452f6bf4c73f9b44845da2e264d24cc508e49") != 0);
}
