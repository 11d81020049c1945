/* The CLI's Docker Engine API client over the daemon's UNIX socket (see
 * client.h): net/http_client with a UNIX connect, one connection per process,
 * reused between requests. */
#include "agent/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/api.h"
#include "net/http_client.h"

static struct http_client *cl;
static struct http_resp resp;

/* True when something accepts connections on the socket at path. */
static int probe(const char *path)
{
	struct net_conn c;
	struct berr e = { 0 };
	int rc = net_conn_open_unix(&c, path, 2000, &e);
	if (!rc)
		net_conn_close(&c);
	return rc;
}

int agent_client_select(struct agent_opts *o, const char *host)
{
	const char *env = getenv("BERTH_HOST");
	/* a --root on the command line means "this store": only -H beats it */
	if (!host && !o->root_set && env && *env)
		host = env;
	if (!host) {
		if (!o->root_set && !probe(AGENT_SOCK_DEFAULT))
			o->host = AGENT_SOCK_DEFAULT;
		return AGENT_EXIT_OK;
	}
	if (strncmp(host, "unix://", 7) || host[7] != '/')
		return agent_usage("-H %s: only unix:///path sockets", host);
	int rc = probe(host + 7);
	if (rc)
		return agent_fail("daemon at %s does not answer: %s", host, strerror(-rc));
	o->host = host + 7;
	return AGENT_EXIT_OK;
}

char *agent_api_enc(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; *s && n + 4 <= len; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~:/@", ch)) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	if (len)
		out[n < len ? n : len - 1] = '\0';
	return out;
}

/* The daemon's {"message": ...} as berth words it: "No such container: x"
 * is "no such container: x", as the direct path says. */
static void error_of(int status, struct berr *err)
{
	char buf[4096];
	struct berr e = { 0 };
	ssize_t n = http_client_read_all(cl, buf, sizeof(buf), &e);
	cJSON *j = n > 0 ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));
	int code = status == 404 ? ENOENT : status == 409 ? EBUSY : status == 400 ? EINVAL : EIO;
	if (m)
		berr_setmsg(err, code, "%c%s", !strncmp(m, "No such ", 8) ? 'n' : m[0],
			    *m ? m + 1 : "");
	else
		berr_setmsg(err, code, "the daemon answered HTTP %d", status);
	cJSON_Delete(j);
}

int agent_api_open(const struct agent_opts *o, const char *method, const char *path,
		   const char *body, int timeout_ms, struct berr *err)
{
	if (!cl) {
		cl = malloc(sizeof(*cl));
		if (!cl)
			return berr_setmsg(err, ENOMEM, "API client: out of memory");
		http_client_init(cl, NULL, timeout_ms);
	}
	cl->unix_path = o->host;
	cl->timeout_ms = cl->conn.timeout_ms = timeout_ms;
	struct http_url u = { .port = 80 };
	strcpy(u.host, "berth");
	int n = snprintf(u.path, sizeof(u.path), "/v" AGENT_API_VERSION "%s", path);
	if (n < 0 || (size_t)n >= sizeof(u.path))
		return berr_setmsg(err, E2BIG, "%s %s: request too long", method, path);
	char hdr[96] = "";
	size_t blen = body ? strlen(body) : 0;
	if (body)
		snprintf(hdr, sizeof(hdr),
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	int rc = http_client_send(cl, method, &u, hdr, body, blen, &resp, err);
	if (rc < 0)
		return berr_prefix(err, "daemon at unix://%s", o->host);
	if (resp.status >= 400)
		error_of(resp.status, err);
	return resp.status;
}

ssize_t agent_api_read(void *buf, size_t len, struct berr *err)
{
	ssize_t n = http_client_read(cl, buf, len, err);
	return n < 0 ? berr_prefix(err, "daemon") : n;
}

const char *agent_api_content_type(void)
{
	return resp.content_type;
}

int agent_api_call(const struct agent_opts *o, const char *method, const char *path,
		   const char *body, int timeout_ms, cJSON **out, struct berr *err)
{
	if (out)
		*out = NULL;
	int st = agent_api_open(o, method, path, body, timeout_ms, err);
	if (st < 200 || st >= 300)
		return st;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			char *p = cap <= AGENT_API_BODY_MAX ? realloc(buf, cap) : NULL;
			if (!p) {
				free(buf);
				http_client_close(cl);
				return berr_setmsg(err, EFBIG, "%s %s: answer larger than %d bytes",
						   method, path, AGENT_API_BODY_MAX);
			}
			buf = p;
		}
		ssize_t n = agent_api_read(buf + len, cap - len - 1, err);
		if (n < 0) {
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (out && len) {
		*out = cJSON_ParseWithLength(buf, len);
		if (!*out)
			st = berr_setmsg(err, EBADMSG, "%s %s: the daemon's answer is not JSON",
					 method, path);
	}
	free(buf);
	return st;
}
