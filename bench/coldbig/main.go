// Command coldbig is never built: it only names packages of a few large
// real modules, so that "go mod download all" of this module fetches a
// dependency graph of 150+ modules (see bench/cold.sh).
package main

import (
	_ "cloud.google.com/go/storage"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/gin-gonic/gin"
	_ "github.com/hashicorp/vault/api"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "go.etcd.io/etcd/client/v3"
	_ "k8s.io/client-go/kubernetes"
)

func main() {}
