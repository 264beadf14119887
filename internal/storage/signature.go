package storage

import (
	"context"
	"errors"

	"github.com/docker-backup/docker-backup/internal/sign"
)

// SignatureSuffix ends the name of an archive's signature:
// <archive>.sig, as ssh-keygen -Y sign names it.
const SignatureSuffix = sign.Ext

// ReadSignature reads the signature beside archive; nil when there is
// none.
func ReadSignature(ctx context.Context, b Backend, archive string) ([]byte, error) {
	r, err := b.Open(ctx, archive+SignatureSuffix)
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return sign.Read(r, archive+SignatureSuffix)
}

// WriteSignature writes sig beside archive, committed like an archive;
// a stale one of a deleted archive of the same name goes first.
func WriteSignature(ctx context.Context, b Backend, archive string, sig []byte) error {
	name := archive + SignatureSuffix
	if err := b.Delete(ctx, name); err != nil {
		return err
	}
	up, err := b.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := up.Write(sig); err != nil {
		return errors.Join(err, up.Abort(ctx))
	}
	return up.Commit(ctx)
}
