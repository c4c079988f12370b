// Writes real-bbolt.db with the real go.etcd.io/bbolt, so that the
// TypeScript reader is checked against files bbolt itself wrote, not only
// against its own writer. Run once by hand; the .db.gz beside it is what
// the tests read:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run make-real-db.go OUT.db
//
// (Debian's golang-github-coreos-bbolt-dev, bbolt 1.3.6.) Every value is
// fixed, so real.test.ts can state what the file must hold.
package main

import (
	"fmt"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	out := os.Args[1]
	_ = os.Remove(out)
	db, err := bolt.Open(out, 0o600, &bolt.Options{PageSize: 4096})
	must(err)
	// Transaction 1: a containerd-like tree, an inline bucket, a bucket with
	// branch pages, a value with overflow pages, a sequence.
	must(db.Update(func(tx *bolt.Tx) error {
		v1, err := tx.CreateBucket([]byte("v1"))
		must(err)
		ns, err := v1.CreateBucket([]byte("default"))
		must(err)
		small, err := ns.CreateBucket([]byte("small"))
		must(err)
		must(small.Put([]byte("a"), []byte("1")))
		must(small.Put([]byte("b"), []byte("2")))
		many, err := ns.CreateBucket([]byte("many"))
		must(err)
		for i := 0; i < 600; i++ {
			must(many.Put([]byte(fmt.Sprintf("key-%04d", i)), []byte(fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", i%17)))))
		}
		seq, err := ns.CreateBucket([]byte("seq"))
		must(err)
		for i := 0; i < 7; i++ {
			_, err := seq.NextSequence()
			must(err)
		}
		must(ns.Put([]byte("big"), []byte(strings.Repeat("0123456789", 1000))))
		must(ns.Put([]byte("doomed"), []byte("removed in transaction 2")))
		_, err = tx.CreateBucket([]byte("empty"))
		return err
	}))
	// Transaction 2: a delete, whose record stays in a freed page and in the
	// previous meta's tree.
	must(db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("v1")).Bucket([]byte("default")).Delete([]byte("doomed"))
	}))
	must(db.Close())
}
