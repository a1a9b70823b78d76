package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// layer is one layer's filesystem, written as a tar whose bytes depend on
// its contents only: entries sorted by path, every time the same, owners
// numeric, no user or group names, no extended attributes.
type layer struct {
	at      time.Time
	entries map[string]*entry
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func newLayer(at time.Time) *layer {
	return &layer{at: at, entries: map[string]*entry{}}
}

// dir adds a folder (and any parent not yet there, root's, 0755).
func (l *layer) dir(p string, mode int64, uid, gid int) {
	l.parents(p)
	l.entries[p] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: p, Mode: mode, Uid: uid, Gid: gid}}
}

// file adds a regular file (and its parents).
func (l *layer) file(p string, mode int64, data []byte) {
	l.parents(p)
	l.entries[p] = &entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data))}, data: data}
}

// symlink adds a symbolic link (and its parents).
func (l *layer) symlink(p, target string) {
	l.parents(p)
	l.entries[p] = &entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: p, Linkname: target, Mode: 0o777}}
}

func (l *layer) parents(p string) {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := l.entries[d]; !ok {
			l.entries[d] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}}
		}
	}
}

// addTree adds src of this machine at dst: a file, or a folder with all it
// holds. Permission bits are kept; owners are root, as a Dockerfile's COPY
// without --chown makes them.
func (l *layer) addTree(dst, src string) error {
	if !path.IsAbs(dst) || path.Clean(dst) != dst {
		return fmt.Errorf("%q: a path in the image must be absolute and clean", dst)
	}
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return l.addFile(dst, src, info)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			l.symlink(target, link)
		case info.IsDir():
			l.dir(target, int64(info.Mode().Perm()), 0, 0)
		case info.Mode().IsRegular():
			return l.addFile(target, p, info)
		default:
			return fmt.Errorf("%s: only files, folders and symbolic links go into an image", p)
		}
		return nil
	})
}

func (l *layer) addFile(dst, src string, info fs.FileInfo) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	l.file(dst, int64(info.Mode().Perm()), data)
	return nil
}

// bytes writes the layer's tar.
func (l *layer) bytes() ([]byte, error) {
	names := make([]string, 0, len(l.entries))
	for p := range l.entries {
		names = append(names, p)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := l.entries[p]
		h := e.hdr
		h.Name = strings.TrimPrefix(p, "/")
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		h.ModTime = l.at
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
