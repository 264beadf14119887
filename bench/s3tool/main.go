// Command s3tool is the benchmark's S3 client (bench/s3.sh): it makes a
// bucket, uploads a file as `aws s3 cp` does (size known, parts sent
// concurrently), or streams stdin through docker-backup's own S3 backend.
// Settings come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/docker-backup/docker-backup/internal/storage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "s3tool:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: s3tool mb BUCKET | cp FILE BUCKET/KEY | stream BUCKET NAME < data")
	}
	ctx := context.Background()
	u, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL"))
	if err != nil {
		return err
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Region: "us-east-1",
	})
	if err != nil {
		return err
	}
	switch args[0] {
	case "mb":
		return c.MakeBucket(ctx, args[1], minio.MakeBucketOptions{Region: "us-east-1"})
	case "cp":
		// As aws s3 cp: the size is known, 8 MiB parts, several at once.
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		_, err = c.PutObject(ctx, args[2], "cp-"+fi.Name(), f, fi.Size(), minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 4})
		return err
	case "stream":
		b, err := storage.NewS3(storage.S3Config{
			Endpoint: os.Getenv("AWS_ENDPOINT_URL"), Region: "us-east-1",
			AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		}, args[1], "")
		if err != nil {
			return err
		}
		up, err := b.Create(ctx, args[2])
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(up, os.Stdin, make([]byte, 256<<10))
		if err != nil {
			up.Abort(ctx)
			return err
		}
		if err := up.Commit(ctx); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "streamed %d bytes\n", n)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}
