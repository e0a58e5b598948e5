package testserver

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// AzuriteAccount and AzuriteKey are the storage account and key that
// Azurite accepts: its documented, public development account, not a
// secret.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azuriteCIDir is where .ci/run installs Azurite.
const azuriteCIDir = "/opt/modvault-ci/node_modules/.bin"

var azuriteBinary = binary{
	name:    "azurite-blob",
	env:     "MODVAULT_AZURITE",
	dirs:    func() []string { return []string{azuriteCIDir} },
	install: "npm install --no-audit --no-fund --prefix /opt/modvault-ci azurite@3.37.0 (needs node on PATH)",
}

// Azure is a running Azurite, an emulator of Azure Blob Storage, storing
// blobs in a temporary directory.
type Azure struct {
	// Host is the server's address, 127.0.0.1:PORT.
	Host string

	proc       *process
	containers atomic.Int64
}

// Azurite starts Azurite's blob service.
func Azurite(t testing.TB) *Azure {
	t.Helper()
	path := azuriteBinary.find(t)
	dir := t.TempDir()
	args := func(ports []int) []string {
		return []string{"--blobHost", "127.0.0.1", "--blobPort", itoa(ports[0]),
			"--location", filepath.Join(dir, "data"), "--silent", "--skipApiVersionCheck", "--loose",
			"--disableTelemetry"}
	}
	ready := func(ctx context.Context, ports []int) error {
		// Any HTTP answer means it listens; "/" is a bad request.
		_, _, err := httpGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/", ports[0]))
		return err
	}
	p, ports := launch(t, "azurite-blob", path, 1, args, nil, dir, ready)
	return &Azure{Host: fmt.Sprintf("127.0.0.1:%d", ports[0]), proc: p}
}

// ServiceURL returns the URL of the development account's blob service,
// http://127.0.0.1:PORT/devstoreaccount1.
func (a *Azure) ServiceURL() string {
	return "http://" + a.Host + "/" + AzuriteAccount
}

// NewContainer creates a new, empty container and returns its storage URL,
// azblob://NAME?domain=127.0.0.1:PORT&protocol=http (query-escaped).
// Opening it needs [Azure.Env] in the environment.
func (a *Azure) NewContainer(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("modvault-%d-%s", a.containers.Add(1), randomHex(3))
	cred, err := container.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(a.ServiceURL()+"/"+name, cred,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: httpClient()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatalf("testserver: creating Azure container %s: %v", name, err)
	}
	q := url.Values{}
	q.Set("domain", a.Host) // an address of 127.0.0.1 selects the emulator's URL form
	q.Set("protocol", "http")
	return (&url.URL{Scheme: "azblob", Host: name, RawQuery: q.Encode()}).String()
}

// Env returns the environment variables with which gocloud.dev's azureblob
// signs requests with Azurite's development account key:
// AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY. The server's address is in
// the storage URL, not here, so the same Env serves every Azurite (the
// driver reads these variables only once per process), and a connection
// string or SAS token from the surrounding environment is cleared.
func (a *Azure) Env() []string {
	return []string{
		"AZURE_STORAGE_ACCOUNT=" + AzuriteAccount,
		"AZURE_STORAGE_KEY=" + AzuriteKey,
		"AZURE_STORAGE_CONNECTION_STRING=",
		"AZURE_STORAGEBLOB_CONNECTIONSTRING=",
		"AZURE_STORAGE_SAS_TOKEN=",
	}
}
