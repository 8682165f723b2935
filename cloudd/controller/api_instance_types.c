/* api_instance_types.c -- /v1/instance-types: the sizes instances come in (seeded ladder, admin-editable) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

/* smallest first */
static int types_list(struct controller *ctrl, const struct auth_principal *who,
		      struct httpd_request *req, struct httpd_response *resp)
{
	(void)who;
	return named_reply_list(ctrl, req, resp, &instance_type_kind, NULL, NULL);
}

static int type_number(json_t *doc, const char *name, long long max, long long *out, struct httpd_response *resp)
{
	json_t *v = json_object_get(doc, name);

	if (v == NULL) {
		httpd_reply_error(resp, 400, "missing_field", "%s: required", name);
		return API_REPLIED;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
		httpd_reply_error(resp, 400, "bad_field", "%s: expected an integer 1..%lld", name, max);
		return API_REPLIED;
	}
	*out = json_integer_value(v);
	return 0;
}

/* PUT /v1/instance-types/{name}: creates or replaces a size (instances keep the size they were created with). */
static int types_put(struct controller *ctrl, const struct auth_principal *who,
		     struct httpd_request *req, struct httpd_response *resp)
{
	static const char *const fields[] = { "vcpus", "memory_mib", "disk_gib", NULL };
	struct instance_type_req r = { httpd_param(req, "name"), 0, 0, 0, who->key_id };
	struct op_error err;
	json_t *doc, *type = NULL;
	int rc = 0;

	if (!util_name_valid(r.name, 63))
		return httpd_reply_error(resp, 400, "bad_parameter", "name: a-z, 0-9 and '-', at most 63");
	if (api_parse_body(req, resp, &doc) < 0)
		return 0;
	if (api_check_fields(doc, fields, resp) < 0 || type_number(doc, "vcpus", 256, &r.vcpus, resp) < 0 ||
	    type_number(doc, "memory_mib", 4 << 20, &r.memory_mib, resp) < 0 ||
	    type_number(doc, "disk_gib", 65536, &r.disk_gib, resp) < 0)
		goto out;
	rc = op_reply(resp, instance_type_set(ctrl, &r, &type, &err), &err, 200, &type);
out:
	json_decref(doc);
	return rc;
}

static int types_delete(struct controller *ctrl, const struct auth_principal *who,
			struct httpd_request *req, struct httpd_response *resp)
{
	struct op_ref ref = { httpd_param(req, "name"), NULL, who->key_id };
	struct op_error err;

	return op_reply(resp, instance_type_delete(ctrl, &ref, &err), &err, 204, NULL);
}

static const struct api_route_def instance_type_routes[] = {
	{ "GET", "/v1/instance-types", types_list, API_ADMIN | API_USER | API_CACHE,
	  "instance sizes, smallest first", NULL },
	{ "PUT", "/v1/instance-types/{name}", types_put, API_ADMIN,
	  "create or change a size (admin)",
	  "{\"type\":\"object\",\"required\":[\"vcpus\",\"memory_mib\",\"disk_gib\"],\"additionalProperties\":false,"
	  "\"properties\":{\"vcpus\":{\"type\":\"integer\"},\"memory_mib\":{\"type\":\"integer\"},"
	  "\"disk_gib\":{\"type\":\"integer\"}}}" },
	{ "DELETE", "/v1/instance-types/{name}", types_delete, API_ADMIN, "remove a size (admin)", NULL },
};

int api_instance_types_register(struct controller *ctrl)
{
	return API_ROUTE_TABLE(ctrl, instance_type_routes, NULL);
}
