// Command modvaultbench exists only so that its dependency graph can be
// downloaded by bench/run.sh; it is never built.
package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { _, err := blob.OpenBucket(context.Background(), "file:///tmp"); return err })
	fmt.Println(uuid.New(), prometheus.NewRegistry() != nil, redis.Nil, module.CheckPath("x.y/z"), g.Wait())
}
