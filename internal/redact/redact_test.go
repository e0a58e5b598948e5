package redact_test

import (
	"os"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/redact"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// TestRedact covers every kind of secret modvault shows somewhere: storage
// and signed URLs (logs, errors), upstream lists and the other settings of
// "modvault config", version control credentials, and the go command's
// messages. Each secret becomes *** and everything else stays as it was.
func TestRedact(t *testing.T) {
	text := func(secrets ...string) func(string) string {
		return func(s string) string { return redact.Text(s, secrets...) }
	}
	for _, c := range []struct {
		name   string
		redact func(string) string
		in     string
		want   string
	}{
		// Storage URLs.
		{"plain file store", redact.URL, "file:///var/lib/modvault?metadata=skip", "file:///var/lib/modvault?metadata=skip"},
		{"endpoint without secrets", redact.URL, "s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true",
			"s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true"},
		{"user and password", redact.URL, "s3://AKIAEXAMPLE:hunter2@bucket?region=us-east-1", "s3://***@bucket?region=us-east-1"},
		{"user name alone (a token)", redact.URL, "https://ghp_tok3n@proxy.test/base", "https://***@proxy.test/base"},
		{"empty password", redact.URL, "redis://:hunter2@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"},
		{"endpoint with a password", redact.URL, "s3://bucket?endpoint=https://user:hunter2@minio.example:9000",
			"s3://bucket?endpoint=https://***@minio.example:9000"},
		{"escaped endpoint with a password", redact.URL, "s3://bucket?endpoint=https%3A%2F%2Fuser%3Ahunter2%40minio.example%3A9000&region=x",
			"s3://bucket?endpoint=https%3A%2F%2F***%40minio.example%3A9000&region=x"},
		{"secret parameters keep their order", redact.URL, "nosuchscheme://bucket?secret_key=hunter2&SessionToken=hunter2",
			"nosuchscheme://bucket?secret_key=***&SessionToken=***"},
		{"access keys, passwords, SAS tokens", redact.URL, "s3://b?access_key=AKIA&password=hunter2&sas_token=sv%3D1%26sig%3Dx&api_key=k",
			"s3://b?access_key=***&password=***&sas_token=***&api_key=***"},
		{"empty secret parameter", redact.URL, "s3://b?token=&region=x", "s3://b?token=&region=x"},
		{"S3 signed URL", redact.URL,
			"http://127.0.0.1:9000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=600&X-Amz-Security-Token=hunter2&X-Amz-SignedHeaders=host&X-Amz-Signature=hunter2",
			"http://127.0.0.1:9000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Date=20260101T000000Z&X-Amz-Expires=600&X-Amz-Security-Token=***&X-Amz-SignedHeaders=host&X-Amz-Signature=***"},
		{"Azure SAS URL", redact.URL, "http://127.0.0.1:10000/devstoreaccount1/c/k?se=2026-01-01T00%3A00%3A00Z&sig=hunter2&sp=r&sr=b&sv=2025-01-05",
			"http://127.0.0.1:10000/devstoreaccount1/c/k?se=2026-01-01T00%3A00%3A00Z&sig=***&sp=r&sr=b&sv=2025-01-05"},
		{"GCS signed URL", redact.URL, "https://storage.example/b/k?Expires=1&GoogleAccessId=a%40b&Signature=hunter2",
			"https://storage.example/b/k?Expires=1&GoogleAccessId=a%40b&Signature=***"},
		{"fragment", redact.URL, "https://h.test/p?token=hunter2#top", "https://h.test/p?token=***#top"},
		{"no query in a fragment", redact.URL, "https://h.test/p#x?token=t", "https://h.test/p#x?token=t"},
		{"@ in the path", redact.URL, "https://h.test/m/@v/list", "https://h.test/m/@v/list"},
		{"invalid URL", redact.URL, "s3://AKIA:hunter2@buck et?secret=hunter2", "s3://***@buck et?secret=***"},
		{"not a URL", redact.URL, "::not a URL", "::not a URL"},

		// GOPROXY-style lists and other settings.
		{"list without secrets", redact.List, "https://p.test,direct", "https://p.test,direct"},
		{"list with | and a base path", redact.List, "https://u:pw@p.test/base|https://q.test", "https://***@p.test/base|https://q.test"},
		{"off", redact.List, "off", "off"},
		{"user:password@host without a scheme", redact.List, "u:pw@p.test,direct", "***@p.test,direct"},
		{"token as the user of one entry", redact.List, "http://a.test,https://tok@b.test,direct", "http://a.test,https://***@b.test,direct"},
		{"spaces kept", redact.List, "https://p.test, u:pw@q.test", "https://p.test, ***@q.test"},
		{"GOSUMDB with a URL", redact.List, "sum.example+abc+key https://u:pw@db.example,other+def+key",
			"sum.example+abc+key https://***@db.example,other+def+key"},
		{"GOSUMDB key with a slash", redact.List, "sum.example+54564879+ASkXmP5KjjeI/b7ySvV8prP9O5R1p/X1y2jDYhceCkSD https://u:pw@db.example",
			"sum.example+54564879+ASkXmP5KjjeI/b7ySvV8prP9O5R1p/X1y2jDYhceCkSD https://***@db.example"},
		{"path patterns", redact.List, "*.corp.example,git.corp.example/team", "*.corp.example,git.corp.example/team"},
		{"file path", redact.List, "/etc/modvault@2/cert.pem", "/etc/modvault@2/cert.pem"},

		// Version control credentials.
		{"token", func(host string) string { return redact.Token(host, "") }, "git.corp.test", "git.corp.test=***"},
		{"user and token", func(host string) string { return redact.Token(host, "bot") }, "git.corp.test:8443", "git.corp.test:8443=bot:***"},

		// Free text: the go command's and the drivers' messages.
		{"known secret and a URL with credentials", text("echoed-secret"),
			"token echoed-secret may not read this, ask http://alice:unconfigured@git.example.test/admin",
			"token *** may not read this, ask http://***@git.example.test/admin"},
		{"longest secret first", text("tok", "tok-and-the-rest-of-it"), "denied: tok-and-the-rest-of-it", "denied: ***"},
		{"empty secret", text(""), "no secure protocol found", "no secure protocol found"},
		{"quoted URL", text(), `Get "https://u:p@h.test/x?X-Amz-Signature=abc": dial tcp: refused`,
			`Get "https://***@h.test/x?X-Amz-Signature=***": dial tcp: refused`},
		{"ssh URL", text(), "git ls-remote ssh://git@h.test/x.git: exit 128", "git ls-remote ssh://***@h.test/x.git: exit 128"},
		{"URL without secrets", text(), "fetching https://h.test/x: 404", "fetching https://h.test/x: 404"},
		{"user information with a quote", text(), "at https://u:pa'ss@h.test/x", "at https://***@h.test/x"},
	} {
		if got := c.redact(c.in); got != c.want {
			t.Errorf("%s: %q\n  = %q\nwant %q", c.name, c.in, got, c.want)
		}
	}
}
