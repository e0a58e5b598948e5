package testserver

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Region is the region the S3 storage URLs name. MinIO accepts any.
const S3Region = "us-east-1"

var minioBinary = binary{
	name:    "minio",
	env:     "MODVAULT_MINIO",
	dirs:    goBinDirs,
	install: "go install github.com/minio/minio@latest",
}

// S3 is a running MinIO server.
type S3 struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string

	proc    *process
	client  *s3.Client
	buckets atomic.Int64
}

// MinIO starts a MinIO server with its data in a temporary directory.
func MinIO(t testing.TB) *S3 {
	t.Helper()
	path := minioBinary.find(t)
	dir := t.TempDir()
	s := &S3{AccessKey: "modvault-" + randomHex(4), SecretKey: randomHex(16)}
	env := []string{
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	}
	args := func(ports []int) []string {
		return []string{"server", "--quiet", "--anonymous",
			"--address", "127.0.0.1:" + itoa(ports[0]),
			"--console-address", "127.0.0.1:" + itoa(ports[1]),
			"--certs-dir", filepath.Join(dir, "certs"),
			filepath.Join(dir, "data")}
	}
	ready := func(ctx context.Context, ports []int) error {
		return wantStatus(fmt.Sprintf("http://127.0.0.1:%d/minio/health/ready", ports[0]), 200)(ctx)
	}
	p, ports := launch(t, "minio", path, 2, args, env, dir, ready)
	s.proc = p
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	s.client = s3.New(s3.Options{
		Region:       S3Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}, nil
		}),
		HTTPClient: httpClient(),
	})
	return s
}

// NewBucket creates a new, empty bucket and returns its storage URL:
// s3://NAME?endpoint=http://127.0.0.1:PORT&region=us-east-1&use_path_style=true
// (query-escaped). Opening it needs the credentials of [S3.Env] in the
// environment.
func (s *S3) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("modvault-%d-%s", s.buckets.Add(1), randomHex(3))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("testserver: creating S3 bucket %s: %v", name, err)
	}
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", S3Region)
	q.Set("use_path_style", "true")
	return (&url.URL{Scheme: "s3", Host: name, RawQuery: q.Encode()}).String()
}

// Env returns the environment variables that let a process open the
// server's storage URLs: the AWS SDK's static credentials and region, with
// a session token or profile from the surrounding environment cleared and
// the EC2 instance metadata lookup turned off.
func (s *S3) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_REGION=" + S3Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
