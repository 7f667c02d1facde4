// Package qrdecode decodes QR codes with an independent implementation
// (ZXing's Go port), for the tests that check that an enrolment QR code
// carries exactly its otpauth URI.
package qrdecode

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/png"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// PNG decodes the QR code in a PNG image.
func PNG(data []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// DataURL decodes the QR code in a data:image/png;base64 URL.
func DataURL(url string) (string, error) {
	data, ok := strings.CutPrefix(url, "data:image/png;base64,")
	if !ok {
		return "", errors.New("qrdecode: not a data:image/png;base64 URL")
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return "", err
	}
	return PNG(raw)
}
