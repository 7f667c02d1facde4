package mfa

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"rsc.io/qr"
)

// QR code geometry: pixels per module and the quiet zone in modules (ISO/IEC
// 18004 asks for four).
const (
	qrScale      = 6
	qrQuietZone  = 4
	pngSignature = "\x89PNG\r\n\x1a\n"
)

// zlibWriters reuses compressors, each of which holds about a megabyte of
// tables that would otherwise be allocated for every image.
var zlibWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // the level is valid
	return zw
}}

// qrPNG renders text as a QR code (error correction level M) in a 1-bit
// grayscale PNG. It writes the PNG itself: image/png spends most of a
// millisecond on a 1-bit image of this size, this takes a tenth of that.
func qrPNG(text string) ([]byte, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("mfa: encoding qr code: %w", err)
	}
	side := (code.Size + 2*qrQuietZone) * qrScale
	rowBytes := (side + 7) / 8

	// Raw image data: each row is a filter byte (0, none) and the pixels,
	// one bit each, 1 white and 0 black.
	raw := make([]byte, (1+rowBytes)*side)
	row := make([]byte, rowBytes)
	for y := 0; y < side; y++ {
		my := y/qrScale - qrQuietZone
		for i := range row {
			row[i] = 0xff
		}
		if my >= 0 && my < code.Size {
			for mx := 0; mx < code.Size; mx++ {
				if !code.Black(mx, my) {
					continue
				}
				for px := (mx + qrQuietZone) * qrScale; px < (mx+qrQuietZone+1)*qrScale; px++ {
					row[px/8] &^= 0x80 >> (px % 8)
				}
			}
		}
		copy(raw[y*(1+rowBytes)+1:], row)
	}

	var idat bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&idat)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}

	var out bytes.Buffer
	out.Grow(len(pngSignature) + 3*12 + 13 + idat.Len())
	out.WriteString(pngSignature)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(side))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(side))
	ihdr[8] = 1 // bit depth
	ihdr[9] = 0 // colour type: grayscale
	// compression, filter and interlace methods: 0
	writeChunk(&out, "IHDR", ihdr[:])
	writeChunk(&out, "IDAT", idat.Bytes())
	writeChunk(&out, "IEND", nil)
	return out.Bytes(), nil
}

// writeChunk appends one PNG chunk: length, type, data and CRC.
func writeChunk(out *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	out.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	out.WriteString(typ)
	out.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	out.Write(n[:])
}
